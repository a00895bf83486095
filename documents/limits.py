"""Reading raw bytes with a cap, from files, streams (stdin) and pipes alike.

Every reader goes through `read_limited`, so no input (a huge file, an endless stream) can
take more memory than the cap, and an input over it is one clear line, not a hang.
"""

from __future__ import annotations

import os
import stat
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
    """The bytes of the regular file at `path`, refusing more than `limit`.

    A FIFO would block until a writer appears and a device such as /dev/zero never ends, so
    anything that is not a regular file (after following links) is refused before it is opened.
    Pipes are read through stdin (`--context-file -`), under the same cap.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
            raise InputError(f"{path} is not a regular file (a pipe, device or socket); pipe it "
                             "in with --context-file -, or save it to a file and pass that")
        with open(path, "rb") as stream:
            return read_stream_limited(stream, str(path), limit)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file or directory") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory; pass it as --context-file DIR") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
