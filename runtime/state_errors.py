"""Broken local state as one line: a full disk, a read-only folder, a file that is no database.

SQLite's own words ("database or disk is full", then "cannot commit - no transaction is
active" from the cleanup) name neither the file nor the fix. `state_error` reads the whole
exception chain, finds the first cause it knows and says which folder or file to fix.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from longcepo.nodes.errors import StateError

STATE_FILES = ("checkpoints.sqlite", "store.sqlite", "calls.sqlite")
SQLITE_HEADER = b"SQLite format 3\x00"
_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def not_a_database(folder: Path) -> Path | None:
    """The first state file in `folder` that exists but is not an SQLite database."""
    for name in STATE_FILES:
        path = folder / name
        try:
            with open(path, "rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
        except OSError:
            continue
        if head and head != SQLITE_HEADER:
            return path
    return None


def _kind(exc: BaseException) -> str | None:
    text = str(exc).lower()
    if isinstance(exc, OSError):
        if exc.errno in _FULL:
            return "full"
        if exc.errno in _READ_ONLY:
            return "read-only"
        return None
    if not isinstance(exc, sqlite3.Error):
        return None
    if "disk is full" in text or "disk i/o error" in text:
        return "full"
    if "readonly database" in text or "unable to open database" in text:
        return "read-only"
    if "not a database" in text or "malformed" in text:
        return "corrupt"
    return None


def state_error(exc: BaseException, folder: Path) -> StateError | None:
    """A one-line `StateError` for a known cause in `exc`'s chain, or None."""
    for cause in _chain(exc):
        kind = _kind(cause)
        reason = getattr(cause, "strerror", None) or str(cause)
        if kind == "full":
            return StateError(
                f"writing the run's state in {folder} failed ({reason}): the disk is full or "
                "a file size limit was hit; free some space or pass another --state-dir")
        if kind == "read-only":
            return StateError(
                f"cannot write the run's state in {folder} ({reason}); make the folder and "
                "its files writable, or pass a writable --state-dir")
        if kind == "corrupt":
            bad = not_a_database(folder)
            where = str(bad) if bad else f"a state file in {folder}"
            return StateError(
                f"{where} is not a longcepo state database ({reason}); move it aside "
                "(runs saved in it are lost) or pass another --state-dir, then start again")
    return None


def has_checkpoint(folder: Path, thread_id: str) -> bool:
    """Whether `thread_id` has a checkpoint in `folder` (read-only; False when unreadable)."""
    path = folder / "checkpoints.sqlite"
    if not path.is_file():
        return False
    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1",
                               (thread_id,)).fetchone()
    except sqlite3.Error:
        return False
    return row is not None
