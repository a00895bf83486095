"""Map: read one chunk, with neighbour summaries and earlier answers, and report a finding.

The passage comes first, as in the summary prompt, and the rest follows in order of how often
it changes (neighbour summaries, then the answered questions, then the question): a serving
stack with a prefix cache then reuses the chunk between its summary and map calls, and a later
pass's map call up to the answered questions.
"""

PLACEHOLDERS = ("chunk", "summaries_before", "summaries_after", "qa_history", "question")

NO_INFORMATION = "[NO INFORMATION]"

TEMPLATE = """<passage>
{chunk}
</passage>

You are reading one chunk of a long document. To help you place it, you also \
see short summaries of the chunks just before it and just after it, and the questions about \
this document that were already answered.

<summaries_before>
{summaries_before}
</summaries_before>

<summaries_after>
{summaries_after}
</summaries_after>

<answered_questions>
{qa_history}
</answered_questions>

<question>
{question}
</question>

Take facts from the passage only; the summaries and the answered questions just help you \
understand it and resolve what it refers to. If the passage holds nothing that helps answer \
the question, reply with exactly:
[NO INFORMATION]

Otherwise reply with four lines, each opening with its label: 'Extracted Information:', \
'Rationale:', 'Answer:' and 'Confidence Score:'. After the first label, quote or closely \
paraphrase the facts in the passage that bear on the question; after the second, say how \
they lead to an answer; after the third, give that answer in as few words as you can; after \
the fourth, give one whole number from 0 to 5. Score 5 when the passage states the answer \
outright, 3 when it follows from the passage with one reasonable inference, 1 when the \
passage is only loosely related, and 0 for a guess. A passage that only suggests an answer \
without stating it scores 3 at most."""
