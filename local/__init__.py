"""Run a GGUF model offline: llama.cpp's OpenAI-compatible server, started for one command.

Importing this package is cheap; `longcepo.local.model` loads the launcher when it is needed.
"""

LOCAL_MODEL_NAME = "local"
"""The `--model` name that asks for the bundled model (or a `--model-path` GGUF)."""


class LocalModelError(RuntimeError):
    """The local model cannot be used; the message names the fix."""


class LocalServerError(RuntimeError):
    """The local server could not start; the message names the cause and the fix."""
