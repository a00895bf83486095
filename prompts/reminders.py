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

JSON_NOTES = {
    "plan": 'Reply with a JSON object whose "sub_questions" lists the sub-questions.',
    "map": (
        "Reply with a JSON object with the keys extracted_information, rationale, answer and "
        "confidence_score; if the passage holds nothing on the question, the answer is "
        "[NO INFORMATION]."
    ),
    "collapse": (
        "Reply with a JSON object with the keys extracted_information, rationale, answer and "
        "confidence_score."
    ),
    "reduce": "Reply with a JSON object with the keys rationale and answer.",
}
"""Appended to a prompt whose reply is constrained to a JSON schema: the text protocol's
field lines name the same fields, and this says which shape is wanted. Never longer than the
longest reminder, which the window budget already reserves room for."""
