"""Planning: split a question into sub-questions for a chunk-by-chunk reading agent."""

PLACEHOLDERS = ("question", "max_sub_questions")

OPEN_TAG = "<SUB-QUESTIONS>"
CLOSE_TAG = "</SUB-QUESTIONS>"

TEMPLATE = """You are planning how a reading agent will answer a question about a long \
document. The agent reads the whole document chunk by chunk for every question it is given, \
and it sees the answers to earlier questions while working on later ones.

Break the question into at most {max_sub_questions} simple sub-questions, in the order they \
should be answered. A later sub-question may build on an earlier answer ("the company named in \
the answer to question 1"). If the question is already simple, give just one sub-question. Do \
not answer anything.

<question>
{question}
</question>

Write the sub-questions as a numbered list between these tags:
<SUB-QUESTIONS>
1. first sub-question
2. second sub-question
</SUB-QUESTIONS>"""
