"""Settings of `longcepo serve`, and the per-request settings a client may change.

The upstream endpoint and its key are the server's: a client can tune a run (temperatures,
chunk size, prompts...) but never point it at another address or read the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from longcepo.env import env
from longcepo.nodes.errors import ConfigError
from longcepo.state import Context
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

SERVER_KEY_ENV = "LONGCEPO_API_KEY"
SERVER_ONLY = ("base_url", "api_key")
"""Context fields a request may not set: where the upstream is and how to log in to it."""
THREAD_HEADER = "x-thread-id"


def _server_key() -> str | None:
    return env(SERVER_KEY_ENV)


@dataclass(frozen=True)
class ServerSettings:
    """Everything `create_app` needs; the CLI builds it from options and the environment."""

    context: Context = field(default_factory=Context)
    """Defaults of every run, including the upstream endpoint and its key."""
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = field(default_factory=_server_key, repr=False)
    """Bearer key clients must send (env LONGCEPO_API_KEY); None: no authentication."""
    postgres_uri: str | None = field(default=None, repr=False)
    state_dir: Path | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    max_runs: int = 4
    """Runs in progress at once in this process."""
    max_queue: int = 16
    """Requests allowed to wait for a run slot; 0 answers 503 as soon as all slots are busy."""
    queue_timeout: float = 120.0
    """Seconds a request waits for a slot before it gets 503."""
    served_models: tuple[str, ...] = ()
    """Base models offered as `longcepo-<model>`; empty: ask the upstream, else the default."""
    trace_flush_timeout: float = 3.0


def _description(f: Any, default: Any) -> str:
    text = str(f.metadata.get("description", ""))
    shown = "built-in" if f.name.endswith("prompt") else repr(default)
    return f"{text} Server default: {shown}."


_models: dict[int, tuple[Context, type[BaseModel]]] = {}


def configurable_model(defaults: Context) -> type[BaseModel]:
    """Pydantic model of what a request may set under `configurable`.

    LangServe validates `config.configurable` with it and the playground shows it. Every
    field is optional (None: the server default, named in the description); unknown keys,
    and the server-only ones, are refused.
    """
    cached = _models.get(id(defaults))
    if cached is not None and cached[0] is defaults:
        return cached[1]
    hints = get_type_hints(Context)
    spec: dict[str, Any] = {
        "thread_id": (str | None, Field(
            default=None,
            description="Checkpoint the run under this id (or send header X-Thread-Id); the "
                        "same request or an empty input on it resumes the run.")),
    }
    for f in fields(Context):
        if f.name not in SERVER_ONLY:
            described = _description(f, getattr(defaults, f.name))
            spec[f.name] = (hints[f.name] | None, Field(default=None, description=described))
    model: type[BaseModel] = create_model(
        "LongcepoConfigurable", __config__=ConfigDict(extra="forbid"), **spec)
    _models[id(defaults)] = (defaults, model)
    return model


def context_for(
    settings: ServerSettings, configurable: Mapping[str, Any] | None, **overrides: Any
) -> Context:
    """The run's `Context`: server defaults, then the request's settings; never the secrets."""
    given = {k: v for k, v in (configurable or {}).items() if k != "thread_id"}
    refused = sorted(set(given) & set(SERVER_ONLY))
    if refused:
        raise ConfigError(f"{', '.join(refused)} are set by the server operator, not per request;"
                          " remove them from the request")
    model = configurable_model(settings.context)
    try:
        checked = model.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"bad run settings: {problems}") from None
    values = {k: getattr(checked, k) for k in given if getattr(checked, k) is not None}
    return replace(settings.context, **values, **overrides)
