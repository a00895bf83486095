"""longcepo: answer questions over documents of any length with a small-window model.

    import longcepo
    result = await longcepo.ask(text, "Who signed the lease?", base_url="http://127.0.0.1:8000/v1")
    docs = longcepo.read_documents(["lease.pdf", "https://example.com/terms.html"])
    result = await longcepo.ask(docs, "When does the lease end?")  # sources cite pages

Importing the package is cheap: the graph, the servers and the evaluation harness load only
when one of the names below is first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "ask": "longcepo.runtime.api",
    "resume": "longcepo.runtime.api",
    "sqlite_graph": "longcepo.runtime.api",
    "Context": "longcepo.state",
    "build_graph": "longcepo.graph.main",
    "read_documents": "longcepo.documents",
}

__all__ = ["__version__", *_LAZY]


def _version() -> str:
    # importlib.metadata costs 40 ms at import: only `--version` and servers ask for it
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("longcepo")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """Load a public name on first use, so `import longcepo` stays fast."""
    if name == "__version__":
        globals()[name] = _version()
        return globals()[name]
    if name not in _LAZY:
        raise AttributeError(f"module 'longcepo' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
