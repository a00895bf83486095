"""Errors a user can act on: each message names the problem and the fix.

They carry one message argument so they survive being stored in a checkpoint as a task error.
Each class says once how the ways in report it: the HTTP status and error type the servers
answer with, and the CLI's exit code.
"""


class LongcepoError(RuntimeError):
    """Base of the errors longcepo raises on purpose."""

    http_status = 500
    kind = "server_error"
    exit_code = 1


class InputError(LongcepoError):
    """The request itself is unusable: empty context, missing delimiter, bad documents."""

    http_status = 400
    kind = "invalid_request_error"
    exit_code = 2


class ConfigError(LongcepoError):
    """The `Context` cannot work: budgets that do not fit the window, bad templates."""

    http_status = 400
    kind = "invalid_request_error"
    exit_code = 2


class LLMCallError(LongcepoError):
    """An LLM call failed for good: retries exhausted, or an error that retrying cannot fix."""

    http_status = 502
    kind = "upstream_error"
    exit_code = 1


class StateError(LongcepoError):
    """Saved state cannot be read or written: a full disk, a read-only folder, a corrupt file.

    The CLI exits 2 (the fix is on the user's side); servers answer 503.
    """

    http_status = 503
    kind = "server_error"
    exit_code = 2
