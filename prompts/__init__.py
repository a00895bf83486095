"""Prompt templates of longcepo, one module per stage.

Templates are `str.format` strings. Each module lists its PLACEHOLDERS so a user's override
can be checked before the first call. Sections are wrapped in tags (`<passage>` ...) so both a
model and the test double can tell them apart.
"""
