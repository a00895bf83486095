"""Commands to print in hints, written so they work where the user is.

After `make`, the `longcepo` script sits in the checkout's `.venv/bin`, not on PATH: a hint
that says a bare `longcepo ...` then fails. Every hint (resume lines, install advice) asks here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

SCRIPT = "longcepo"
CHECKOUT = Path(__file__).resolve().parents[1]
"""The package's folder; a source checkout when it holds the Makefile."""


def _shown(path: Path) -> str:
    """`path` relative to the current folder when it lies inside it, else absolute.

    A bare name would be looked up on PATH by the shell, so it gets a leading `./`.
    """
    try:
        shown = str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
    return shown if os.sep in shown else f".{os.sep}{shown}"


def _python_script(name: str) -> Path:
    """Where a console script of the running interpreter's environment lives."""
    return Path(sys.executable).with_name(name)


def program() -> str:
    """How to start longcepo from here.

    `longcepo` when PATH finds this install's script, else that script's path
    (`.venv/bin/longcepo` in a checkout), else `python -m longcepo`.
    """
    script = _python_script(SCRIPT)
    found = shutil.which(SCRIPT)
    if script.exists():
        if found and os.path.samefile(found, script):
            return SCRIPT
        return shlex.quote(_shown(script))
    if found:
        return SCRIPT
    return f"{shlex.quote(_shown(Path(sys.executable)))} -m longcepo"


def in_checkout() -> bool:
    """Whether this is a source checkout run from its root (where `make` targets work)."""
    return (CHECKOUT / "Makefile").is_file() and Path.cwd().resolve() == CHECKOUT


def install_hint(extra: str) -> str:
    """The command that installs one of longcepo's extras into the running environment."""
    if in_checkout():
        if extra == "local":
            return "make install-local"
        return f"{shlex.quote(_shown(Path(sys.executable)))} -m pip install -e '.[{extra}]'"
    pip = "pip" if program() == SCRIPT else f"{shlex.quote(_shown(Path(sys.executable)))} -m pip"
    return f"{pip} install 'longcepo[{extra}]'"
