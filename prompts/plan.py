"""Planning: split a question into sub-questions for a chunk-by-chunk reading agent."""

PLACEHOLDERS = ("question", "max_sub_questions")

OPEN_TAG = "<SUB-QUESTIONS>"
CLOSE_TAG = "</SUB-QUESTIONS>"

TEMPLATE = """You are planning how a reading agent will answer a question about a long \
document. The agent reads the whole document chunk by chunk for every question it is given, \
and it sees the answers to earlier questions while working on later ones.

Break the question into at most {max_sub_questions} simple sub-questions, in the order they \
should be answered. A later sub-question may refer to what an earlier one will find. If the \
question is already simple, give just one sub-question. Do not answer anything.

<question>
{question}
</question>

Write each sub-question as a whole question in your own words, ending with a question mark, \
one per line and numbered from 1, between a line <SUB-QUESTIONS> and a line </SUB-QUESTIONS>."""
