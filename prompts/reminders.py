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
        "'Rationale:' and then a line starting 'Answer:' that holds the answer and nothing else."
    ),
}

JSON_NOTES = {
    "plan": 'Reply as a JSON object: "sub_questions", the list of sub-questions.',
    "map": (
        "Reply as a JSON object: extracted_information, rationale, answer, confidence_score; "
        "the answer is [NO INFORMATION] if the passage holds nothing on the question."
    ),
    "collapse": (
        "Reply as a JSON object: extracted_information, rationale, answer, confidence_score."
    ),
    "reduce": "Reply as a JSON object: rationale, answer.",
}
"""Appended to a prompt whose reply is constrained to a JSON schema: the text protocol's
labels name the same fields, and this says which shape is wanted."""
JSON_AGAIN = "Again, and only that: "
"""Opens the note on a re-ask, so the request changes (the same one would meet the call cache
or, at temperature 0, the same reply). Note and opening together are never longer than the
longest reminder, which the window budget already keeps room for."""
