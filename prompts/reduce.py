"""Reduce: weigh all findings and give the answer to one question."""

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
score from 0 to 5. Answer the question by weighing them: trust confident findings over \
doubtful ones, and use the answered questions where the question builds on them. If the \
question asks for a particular form of answer (a letter, a number, a short phrase), use it.

Reply with two lines, each opening with its label: 'Rationale:' and 'Answer:'. After the \
first, give your reasoning briefly; after the second, give the answer to the question and \
nothing else."""
