"""How findings, summaries and the QA history are written into prompts.

The test double parses these shapes back, so they live here, next to the templates.
"""

NO_EARLIER_QUESTIONS = "(none yet)"
NO_SUMMARIES_BEFORE = "(none: this is the first chunk)"
NO_SUMMARIES_AFTER = "(none: this is the last chunk)"
NO_FINDINGS = "(no chunk held information on this question)"
SUMMARY_LINE = "[chunk {index}] {summary}"
QA_PAIR = "Q{n}: {question}\nA{n}: {answer}"
FINDING_HEADER = "Information of {label}:"
FINDING_BODY = (
    "Extracted Information: {extracted}\nRationale: {rationale}\nAnswer: {answer}\n"
    "Confidence Score: {confidence}"
)
