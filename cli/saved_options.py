"""The options a CLI run was started with, kept beside its checkpoints for `--resume`.

A resumed run must rebuild the same `Context` (model, endpoint, budgets, prompts), or its
cached calls would not match and its answers would mix settings. The options are saved as
JSON per thread under the state directory; the API key and URL credentials never are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from longcepo.cli.common import SETTING_OPTIONS, CliError
from longcepo.env import default_state_dir
from longcepo.nodes.redact import MASK, has_secrets, redact_url

log = logging.getLogger(__name__)
SAVED = tuple(name for name in SETTING_OPTIONS if name != "state_dir") + ("no_plan",)
"""Option names saved; `state_dir` locates the file, so it is never read from it."""


def settings_path(state_dir: str | None, thread_id: str) -> Path:
    """One file per thread; the name is hashed so any thread id is a safe file name."""
    base = Path(state_dir) if state_dir else default_state_dir()
    digest = hashlib.sha256(thread_id.encode()).hexdigest()[:32]
    return base / "runs" / f"{digest}.json"


def save(args: argparse.Namespace) -> None:
    """Write the options given to a new run (relative paths made absolute)."""
    values: dict[str, Any] = {}
    for name in SAVED:
        value = getattr(args, name, None)
        if value is None or value is False:
            continue
        if name in ("prompts", "model_path"):
            value = os.path.abspath(value)
        if name == "base_url" and has_secrets(value):
            value = redact_url(value)  # like the API key, credentials are never saved
        values[name] = value
    path = settings_path(args.state_dir, args.thread_id)
    payload = {"thread_id": args.thread_id, "options": values}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}; pass a writable --state-dir "
                       "or set LONGCEPO_HOME") from None


def restore(args: argparse.Namespace) -> list[str]:
    """Fill options not given on the command line from the saved run; return their names.

    Options given again win, so a resume can, say, point at a restarted endpoint.
    """
    path = settings_path(args.state_dir, args.thread_id)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["options"]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable saved options %s: %s", path, exc)
        return []
    filled = []
    for name, value in saved.items():
        if name in SAVED and getattr(args, name, None) in (None, False):
            if name == "base_url" and MASK in str(value):
                raise CliError(f"the run's --base-url ({value}) held credentials, which are "
                               "never saved; pass --base-url with them again to resume")
            setattr(args, name, value)
            filled.append(name)
    return filled
