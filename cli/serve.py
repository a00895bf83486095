"""`longcepo serve`: the HTTP server (LangServe at /longcepo, OpenAI-compatible at /v1)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import socket
from pathlib import Path

from longcepo.cli.common import (
    EXIT_BAD_INPUT,
    add_model_options,
    context_from_args,
    fail,
    non_negative_int,
    positive,
)
from longcepo.local import LOCAL_MODEL_NAME
from longcepo.nodes.errors import ConfigError, StateError
from longcepo.server.settings import SERVER_KEY_ENV, ServerSettings

EXAMPLES = """examples:
  longcepo serve --base-url http://127.0.0.1:8000/v1 --port 8080
  LONGCEPO_API_KEY=secret longcepo serve --host 0.0.0.0 --postgres-uri postgresql://...
  curl -s localhost:8080/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model": "longcepo-llama-3.3-70b",
           "messages": [{"role": "user", "content": "<document><CONTEXT_END>Question?"}]}'
"""


def add_arguments(serve: argparse.ArgumentParser) -> None:
    """The `serve` subcommand's options."""
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (127.0.0.1; anything else needs LONGCEPO_API_KEY)")
    serve.add_argument("--port", type=non_negative_int, default=8000,
                       help="port (8000; 0 picks a free one)")
    serve.add_argument("--postgres-uri", metavar="URI",
                       help="keep checkpoints and chunks in PostgreSQL (env LONGCEPO_POSTGRES_URI)")
    serve.add_argument("--state-dir", help="SQLite folder when no PostgreSQL is given "
                                           "(env LONGCEPO_HOME, ~/.longcepo)")
    add_model_options(serve)
    serve.add_argument("--served-model", action="append", default=[], metavar="NAME",
                       help="offer longcepo-NAME (repeatable); default: the upstream's models")
    serve.add_argument("--max-runs", type=positive(int), default=4,
                       help="runs in progress at once (4)")
    serve.add_argument("--max-queue", type=non_negative_int, default=16,
                       help="requests that may wait for a run slot; 0: answer 503 at once (16)")
    serve.add_argument("--queue-timeout", type=positive(float), default=120.0,
                       help="seconds a request waits for a slot before 503 (120)")
    serve.add_argument("--max-body-mb", type=positive(float), default=32.0,
                       help="largest request body in MiB; larger ones get 413 (32)")
    serve.add_argument("--shutdown-grace", type=positive(float), default=3.0,
                       help="seconds runs in flight may take to finish after SIGTERM before "
                            "they are stopped, checkpointed and resumable on any replica (3)")
    serve.add_argument("--log-level", default="info",
                       choices=["debug", "info", "warning", "error"],
                       help="how much the server logs: its requests and runs at info, each LLM "
                            "call at debug (info)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; pass another "
                          "--port or --host") from None
    sock.listen(2048)
    return sock


async def _check_state(state_dir: Path | None) -> None:
    """Open the SQLite state once, so a broken state folder is one line, not a traceback."""
    import sqlite3

    from longcepo.env import default_state_dir
    from longcepo.runtime.api import sqlite_graph
    from longcepo.runtime.state_errors import state_error

    folder = state_dir or default_state_dir()
    try:
        async with sqlite_graph(folder):
            pass
    except (sqlite3.Error, OSError) as exc:
        raise state_error(exc, folder) or StateError(
            f"cannot use the state in {folder}: {exc}; pass another --state-dir") from None


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """Server settings from the parsed options and the environment."""
    from longcepo.runtime.persistence import postgres_uri_from_env

    return ServerSettings(
        context=context_from_args(args), host=args.host, port=args.port,
        postgres_uri=args.postgres_uri or postgres_uri_from_env(),
        state_dir=Path(args.state_dir) if args.state_dir else None,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024), max_runs=args.max_runs,
        max_queue=args.max_queue, queue_timeout=args.queue_timeout,
        served_models=tuple(args.served_model))


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the server until interrupted."""
    import uvicorn
    from longcepo.nodes.redact import AccessLogRedactor
    from longcepo.runtime.persistence import check_reachable
    from longcepo.server.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.model_path or args.model == LOCAL_MODEL_NAME:
        return fail(EXIT_BAD_INPUT, "serve does not run a local model; start llama.cpp's server "
                    "(python -m llama_cpp.server --model FILE.gguf --port 8080) and pass "
                    "--base-url http://127.0.0.1:8080/v1 --model NAME")
    try:
        settings = settings_from_args(args)
        if settings.postgres_uri:
            asyncio.run(check_reachable(settings.postgres_uri))
        else:
            asyncio.run(_check_state(settings.state_dir))
        sock = _bind(settings.host, settings.port)
    except (ConfigError, StateError, TypeError) as exc:
        return fail(EXIT_BAD_INPUT, str(exc))
    if not _is_loopback(settings.host) and not settings.api_key:
        logging.getLogger(__name__).warning(
            "listening on %s without authentication; set %s to require a bearer key",
            settings.host, SERVER_KEY_ENV)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"longcepo serving on http://{shown}:{port}", flush=True)
    server: uvicorn.Server | None = None
    app = create_app(settings, stopping=lambda: server is not None and server.should_exit)
    config = uvicorn.Config(app, log_level=args.log_level,
                            timeout_graceful_shutdown=args.shutdown_grace)
    logging.getLogger("uvicorn.access").addFilter(AccessLogRedactor())
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0 if server.started else 1
