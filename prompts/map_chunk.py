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

Otherwise reply with exactly these four fields:
Extracted Information: the facts in the passage that bear on the question, quoted or closely \
paraphrased
Rationale: how these facts lead to an answer
Answer: the answer this passage supports, as short as possible
Confidence Score: a whole number from 0 to 5

Calibrate the score like this: 5 means the passage states the answer outright; 3 means the \
answer follows from the passage with one reasonable inference; 1 means the passage is only \
loosely related; 0 means a guess. For example, if the question is "Where was the author \
born?" and the passage says "she grew up in Lyon", the answer "Lyon" deserves a 2 or 3, not \
a 5."""
