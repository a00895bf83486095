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

Reply with four lines, each opening with its label: 'Extracted Information:', 'Rationale:', \
'Answer:' and 'Confidence Score:'. After the first label, give the facts that bear on the \
question; after the second, say how they lead to an answer; after the third, give that \
answer in as few words as you can; after the fourth, give one whole number from 0 to 5."""
