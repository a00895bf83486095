"""Run the double as its own process: `python -m llm_double --port 0 --latency 0.05 ...`.

Prints the base URL on one line once it listens, so a parent process can read it, and stops
cleanly on SIGINT or SIGTERM (or when `--exit-with-parent` names a process that is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from llm_double.config import DoubleConfig
from llm_double.server import DoubleServer


def _rate(text: str) -> tuple[str, float]:
    fault, _, rate = text.partition("=")
    if not rate:
        raise argparse.ArgumentTypeError(f"expected FAULT=RATE, got {text!r}")
    return fault, float(rate)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; every one maps onto a `DoubleConfig` field."""
    p = argparse.ArgumentParser(prog="python -m llm_double", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    p.add_argument("--latency-per-prompt-token", type=float, default=0.0)
    p.add_argument("--latency-per-completion-token", type=float, default=0.0)
    p.add_argument("--slots", type=int, default=0, help="concurrent requests; 0: unlimited")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--fault-rate",
        type=_rate,
        action="append",
        default=[],
        metavar="FAULT=RATE",
        help="e.g. http_500=0.2; repeatable",
    )
    p.add_argument(
        "--fault",
        type=json.loads,
        action="append",
        default=[],
        metavar="JSON",
        help='a rule, e.g. \'{"stage": "map", "nth": 3, "fault": "http_500"}\'',
    )
    p.add_argument(
        "--fault-script", type=Path, help="JSON file: a list of rules, or an object of settings"
    )
    p.add_argument(
        "--fault-sequence",
        default="",
        help="comma-separated fault per request index; 'none' for none",
    )
    p.add_argument("--retry-after", type=float, default=0.0, help="429 Retry-After seconds")
    p.add_argument(
        "--model",
        action="append",
        dest="models",
        help="accepted model name (repeatable); default: any",
    )
    p.add_argument(
        "--response-formats",
        default="json_schema,json_object",
        help="response_format types answered as JSON, comma-separated ('' for none: refused)",
    )
    p.add_argument("--refusal-status", type=int, default=400,
                   help="HTTP status of a refused response_format (llama.cpp: 500)")
    p.add_argument("--api-key", help="require this bearer key")
    p.add_argument("--log", dest="log_path", help="JSONL request log path")
    p.add_argument(
        "--approx-tokens",
        action="store_true",
        help="count 4 characters as a token (cheap; for benchmarks)",
    )
    p.add_argument(
        "--exit-with-parent", type=int, metavar="PID", help="exit when this process is gone"
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> DoubleConfig:
    """Build the settings from parsed options."""
    settings: dict[str, Any] = {
        "latency": args.latency,
        "latency_per_prompt_token": args.latency_per_prompt_token,
        "latency_per_completion_token": args.latency_per_completion_token,
        "slots": args.slots,
        "seed": args.seed,
        "retry_after": args.retry_after,
        "models": args.models,
        "api_key": args.api_key,
        "log_path": args.log_path,
        "exact_tokens": not args.approx_tokens,
        "fault_rates": dict(args.fault_rate),
        "faults": list(args.fault),
        "response_formats": [f.strip() for f in args.response_formats.split(",") if f.strip()],
        "refusal_status": args.refusal_status,
    }
    if args.fault_sequence:
        settings["fault_sequence"] = [
            None if f.strip() in ("", "-", "none") else f.strip()
            for f in args.fault_sequence.split(",")
        ]
    if args.fault_script:
        script = json.loads(args.fault_script.read_text())
        if isinstance(script, list):
            settings["faults"] = [*settings["faults"], *script]
        else:
            settings.update(script)
    return DoubleConfig().updated(**settings)


async def serve(config: DoubleConfig, host: str, port: int, parent: int | None) -> None:
    """Serve until a stop signal, then close connections and the log."""
    server = DoubleServer(config)
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(server.base_url, flush=True)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            if parent is not None and not _alive(parent):
                break
    await server.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m llm_double`."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        config = config_from_args(args)
    except (TypeError, ValueError, OSError) as exc:
        print(f"llm_double: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(config, args.host, args.port, args.exit_with_parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
