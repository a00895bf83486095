"""Text files and folders of them; every problem is one `InputError` line naming the fix."""

from __future__ import annotations

import stat
from pathlib import Path

from longcepo.nodes.errors import InputError

TEXT_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 256 * 2**20
"""Largest document file read; far above what a run over it would cost to answer."""


def read_capped(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    A FIFO would block forever and a device such as /dev/zero never ends, so anything that
    is not a regular file (after following links) is refused before it is opened; a file
    that grows past the limit while read is refused too.
    """
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path} is not a regular file (a pipe, device or socket); save "
                             "the text to a .txt or .md file and pass that")
        if info.st_size > limit:
            raise InputError(f"{path} is {info.st_size / 2**20:.0f} MiB, over the "
                             f"{limit / 2**20:.0f} MiB limit of one document; split it")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise InputError(f"{path} grew past the {limit / 2**20:.0f} MiB limit of one "
                         "document while it was read; split it")
    return data


def read_text(path: Path) -> str:
    """The UTF-8 text of one file, refusing binary, undecodable and empty files."""
    data = read_capped(path)
    if b"\x00" in data[:8192]:
        raise InputError(f"{path} looks binary; pass .txt or .md text files")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 (byte {exc.start}); convert it, e.g. with iconv"
        ) from None
    if not text.strip():
        raise InputError(f"{path} is empty; pass a file with the document's text")
    return text


def read_documents(paths: list[str]) -> list[dict[str, str]]:
    """Documents from files and directories (their .txt and .md files, recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise InputError(f"{path} holds no .txt or .md files")
            files.extend(found)
        elif path.exists():
            if path.suffix.lower() not in TEXT_SUFFIXES:
                raise InputError(f"{path}: only .txt and .md files are read; convert it to text")
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return [{"id": str(p), "text": read_text(p)} for p in files]
