"""Prompts of the evaluation harness: the one-call baselines, the judge and the optimizer.

The baselines reply in the reduce stage's `Rationale:` / `Answer:` form, so one parser reads
every strategy's answer.
"""

DIRECT_SYSTEM = (
    "You are a careful reading assistant. You answer questions about the document you are "
    "shown, relying only on its text, and you follow the requested reply format exactly."
)

DIRECT = """<document>
{context}
</document>

<question>
{question}
</question>

Answer the question using only the document above. If the question asks for a particular \
form of answer (a letter, a number, a short phrase), use it.

Reply with two lines, each opening with its label: 'Rationale:' and 'Answer:'. After the \
first, give your reasoning briefly; after the second, give the answer to the question and \
nothing else."""

DIRECT_REMINDER = (
    "Your reply did not follow the required form. Reply again with a line starting "
    "'Rationale:' and then a line starting 'Answer:' that holds the answer and nothing else."
)

JUDGE_SYSTEM = "You grade answers to questions strictly and briefly."
JUDGE = """<question>
{question}
</question>

<gold_answers>
{golds}
</gold_answers>

<prediction>
{prediction}
</prediction>

Does the prediction give the same answer as one of the gold answers? Wording may differ; \
extra correct detail is fine; a different, missing or hedged answer is not.

Reply with one line: Verdict: CORRECT or Verdict: INCORRECT"""
JUDGE_REMINDER = "Reply again with exactly one line: Verdict: CORRECT or Verdict: INCORRECT"

OPTIMIZER_SYSTEM = "You write instructions for language models and improve them from feedback."
OPTIMIZER = """You are improving the {field} of a question-answering pipeline that reads long \
documents in chunks with a small model ({model}). {role}

Below are earlier versions with their scores on a development set ({metric}, from 0 to 100), \
worst first. Higher is better.

{scored_prompts}

Examples of the questions it must answer:
{examples}

Write one new version that you expect to score higher than all of the above. It must differ \
from every version shown.{placeholders} Reply with the new version only, between <PROMPT> and \
</PROMPT>."""
OPTIMIZER_REMINDER = "Reply again with only the new version between <PROMPT> and </PROMPT>."
SCORED_PROMPT = "<PROMPT>\n{prompt}\n</PROMPT>\nscore: {score:.1f}"
PLACEHOLDER_RULE = (
    " Keep each of these placeholders exactly once, in braces: {names}; write any other brace "
    "doubled."
)
ROLES = {
    "system_prompt": "It is the system prompt shared by the summary, map, collapse and reduce "
                     "calls.",
    "summary_prompt": "It asks for a short summary of one chunk.",
    "map_prompt": "It asks what one chunk says about the question, in four labelled fields.",
    "collapse_prompt": "It merges two findings into one, in four labelled fields.",
    "reduce_prompt": "It weighs all findings and gives the final answer.",
    "normalize_prompt": "It extracts the bare question from a request.",
    "plan_prompt": "It plans sub-questions in a <SUB-QUESTIONS> list.",
}
