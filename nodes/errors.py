"""Errors a user can act on: each message names the problem and the fix.

They carry one message argument so they survive being stored in a checkpoint as a task error.
"""


class LongcepoError(RuntimeError):
    """Base of the errors longcepo raises on purpose."""


class InputError(LongcepoError):
    """The request itself is unusable: empty context, missing delimiter, bad documents."""


class ConfigError(LongcepoError):
    """The `Context` cannot work: budgets that do not fit the window, bad templates."""


class LLMCallError(LongcepoError):
    """An LLM call failed for good: retries exhausted, or an error that retrying cannot fix."""
