"""Query normalization: strip a request down to the question it asks."""

PLACEHOLDERS = ("query",)

TEMPLATE = """A user sent the request below about a long document that you cannot see. \
Rewrite it as the bare question it asks.

- Keep every detail needed to know what is asked: names, dates, quantities, conditions.
- Drop instructions about the form or length of the answer, lists of answer options, and \
general directions to the assistant.
- Do not answer the question and do not add anything to it.

<request>
{query}
</request>

Reply with the question alone, on one line."""
