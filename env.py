"""Every environment variable longcepo reads, in one table, and the one function that reads them.

Environment variables only fill defaults: an explicit option or setting always wins.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLES = {
    "OPENAI_BASE_URL": "default OpenAI-compatible endpoint (`base_url`)",
    "OPENAI_API_KEY": "default API key for the endpoint (`api_key`)",
    "LONGCEPO_MODEL": "default model name at the endpoint (`model`)",
    "LONGCEPO_HOME": "where the CLI keeps checkpoints and chunks (default ~/.longcepo)",
    "LONGCEPO_POSTGRES_URI": "PostgreSQL for `serve` replicas (default: SQLite files)",
    "LONGCEPO_API_KEY": "bearer key `serve` requires of its clients",
    "LONGCEPO_TRACE_FLUSH_TIMEOUT": "seconds the exit flush of LangSmith traces may take (3)",
    "LANGSMITH_TRACING_V2": "LangSmith's tracing switch (`true` traces every run)",
    "LANGCHAIN_TRACING_V2": "the same switch under LangChain's older name",
    "LANGSMITH_TRACING": "the same switch, read when neither *_TRACING_V2 is set",
    "LANGCHAIN_TRACING": "the same switch, read last",
    "HTTP_PROXY": "proxy for http endpoints (or http_proxy); such calls go through httpx",
    "HTTPS_PROXY": "proxy for https endpoints (or https_proxy)",
    "ALL_PROXY": "proxy for both (or all_proxy)",
    "NO_PROXY": "hosts reached without the proxy (or no_proxy)",
}
PROXY_SWITCHES = ("http_proxy", "https_proxy", "all_proxy")
TRACING_SWITCHES = ("LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING_V2", "LANGSMITH_TRACING",
                    "LANGCHAIN_TRACING")


def env(name: str) -> str | None:
    """The variable's value, or None when unset or empty; only names in `VARIABLES`."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not one of longcepo's environment variables")
    return os.environ.get(name) or None


def tracing_requested() -> bool:
    """Whether the environment turns LangSmith tracing on, decided as LangSmith decides it.

    The first of `TRACING_SWITCHES` that is set (not blank) must be exactly `true`. Reading
    it here, not through `langsmith.utils`, keeps LangSmith (0.3 s of imports) off the path
    to the CLI's first request.
    """
    for name in TRACING_SWITCHES:
        value = os.environ.get(name)
        if value is not None and value.strip():
            return value == "true"
    return False


def proxied(url: str) -> bool:
    """Whether a proxy from the environment applies to `url`, as httpx (and urllib) decide.

    Decided once per run's endpoint: without any proxy variable it costs a scan of the
    environment and never imports urllib.request.
    """
    if not any(k.lower() in PROXY_SWITCHES and v for k, v in os.environ.items()):
        return False
    import urllib.request
    from urllib.parse import urlsplit

    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # untyped
    return not bypass(parts.netloc, proxies)


def default_state_dir() -> Path:
    """Where the CLI keeps checkpoints and chunks: $LONGCEPO_HOME, else ~/.longcepo."""
    return Path(env("LONGCEPO_HOME") or Path.home() / ".longcepo")
