"""Format reminders appended when a reply ignored a stage's output protocol.

A retry must change the request: at temperature 0 the same prompt gives the same reply.
"""

REMINDERS = {
    "normalize": "Reply again with the question alone, on one line, and nothing else.",
    "plan": (
        "Your reply did not contain the list in the required form. Reply again with only a "
        "numbered list of sub-questions between <SUB-QUESTIONS> and </SUB-QUESTIONS>."
    ),
    "summary": "Reply again with a summary of two or three sentences and nothing else.",
    "map": (
        "Your reply did not follow the required form. Reply again with exactly "
        "[NO INFORMATION], or with the four lines 'Extracted Information:', 'Rationale:', "
        "'Answer:' and 'Confidence Score:'."
    ),
    "collapse": (
        "Your reply did not follow the required form. Reply again with the four lines "
        "'Extracted Information:', 'Rationale:', 'Answer:' and 'Confidence Score:'."
    ),
    "reduce": (
        "Your reply did not follow the required form. Reply again with a line starting "
        "'Rationale:' and then a line starting 'Answer:' that holds the final answer only."
    ),
}
