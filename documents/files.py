"""Files and folders: which files a path names; every problem is one `InputError` line."""

from __future__ import annotations

from pathlib import Path

from longcepo.nodes.errors import InputError

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
DOCUMENT_SUFFIXES = (*TEXT_SUFFIXES, ".pdf", ".docx", ".html", ".htm", ".xhtml")
"""What a folder contributes; a file named directly is read whatever its name."""


def expand(path: Path) -> list[Path]:
    """The file itself, or a folder's documents (recursively, in name order)."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*")
                       if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file())
        if not found:
            raise InputError(f"{path} holds no documents ({', '.join(DOCUMENT_SUFFIXES)})")
        return found
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    return [path]
