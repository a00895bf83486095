"""Collapse: merge findings from neighbouring chunks so they fit the reduce window."""

PLACEHOLDERS = ("findings", "qa_history", "question")

TEMPLATE = """<findings>
{findings}
</findings>

<answered_questions>
{qa_history}
</answered_questions>

<question>
{question}
</question>

The findings above were extracted from chunks of a long document, each with a confidence \
score from 0 to 5. Merge them into one finding. Keep every fact that bears on the question; \
where the findings disagree, prefer the more confident one and say why in the rationale.

Reply with exactly these four fields:
Extracted Information: the facts that bear on the question
Rationale: how these facts lead to an answer
Answer: the answer the facts support, as short as possible
Confidence Score: a whole number from 0 to 5"""
