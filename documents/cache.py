"""Extracted text kept on disk by content hash, so asking again about a file reads it at once.

A 500-page PDF takes seconds to extract; a second question about it should not pay again.
The key covers the bytes, what a server declared of them, the reader's version and the PDF
password, so a cached text never opens an encrypted PDF without its password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from longcepo.documents.parsed import Parsed

log = logging.getLogger(__name__)
READER_VERSION = "1"  # change when a reader's output changes, so old entries are not used


def cache_key(data: bytes, *parts: str | None) -> str:
    """A file name for this input as this reader version reads it."""
    sha = hashlib.sha256(data)
    for part in (READER_VERSION, *parts):
        sha.update(b"\x00" + (part or "").encode("utf-8", "surrogatepass"))
    return sha.hexdigest()[:40] + ".json"


def load(folder: Path, key: str) -> Parsed | None:
    """The cached extraction, or None (missing or unreadable entries are simply re-read)."""
    try:
        raw = json.loads((folder / key).read_text(encoding="utf-8"))
        return Parsed(raw["text"], raw["page_starts"], raw["metadata"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("ignoring cached extraction %s: %s", key, exc)
        return None


def save(folder: Path, key: str, parsed: Parsed) -> None:
    """Write the entry atomically; a cache that cannot be written is only a slower next run."""
    payload = {"text": parsed.text, "page_starts": parsed.page_starts,
               "metadata": parsed.metadata}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{key}.{os.getpid()}"
        partial.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        partial.replace(folder / key)
    except OSError as exc:
        log.warning("cannot cache the extracted text in %s: %s", folder, exc.strerror)
