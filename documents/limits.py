"""Reading raw bytes with a cap, from files, streams (stdin) and pipes alike.

Every reader goes through `read_limited`, so no input (a huge file, an endless stream) can
take more memory than the cap, and an input over it is one clear line, not a hang.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from longcepo.nodes.errors import InputError

MAX_INPUT_BYTES = 256 * 1024 * 1024
"""Largest input read (256 MiB): far above a long PDF, well below a machine's memory."""

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
"""Largest total a Word file may decompress to; a zip bomb is refused before it unpacks."""

_BLOCK = 1 << 20


def mib(size: int) -> str:
    """A byte count for messages: '256 MiB'."""
    return f"{size / (1024 * 1024):g} MiB"


def read_stream_limited(stream: BinaryIO, name: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """At most `limit` bytes of `stream`; more than that is refused, naming `name`."""
    parts: list[bytes] = []
    total = 0
    while block := stream.read(min(_BLOCK, limit + 1 - total)):
        parts.append(block)
        total += len(block)
        if total > limit:
            raise InputError(f"{name} is over the {mib(limit)} input limit; split it or pass "
                             "a smaller document")
    return b"".join(parts)


def read_limited(path: str | Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the file at `path`, refusing more than `limit` (also for pipes and devices)."""
    try:
        with open(path, "rb") as stream:
            return read_stream_limited(stream, str(path), limit)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory; pass it as --context-file DIR") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
