"""Chunk summaries: short, question-aware digests shown to a chunk's neighbours in map."""

PLACEHOLDERS = ("chunk", "question")

TEMPLATE = """<passage>
{chunk}
</passage>

<question>
{question}
</question>

Summarize the passage in two or three sentences. Mention whatever in it bears on the question \
(names, numbers, dates, events); if nothing does, say briefly what the passage is about. Reply \
with the summary only."""
