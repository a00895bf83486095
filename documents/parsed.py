"""What a format reader returns: the text, where its pages start, and what it knows of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longcepo.nodes.errors import InputError

PAGE_SEPARATOR = "\n\n"
"""Between pages: a blank line, so the chunker prefers to cut at a page end."""


@dataclass
class Parsed:
    """One document's text; `page_starts[i]` is the character offset where page i+1 begins."""

    text: str
    page_starts: list[int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def join_pages(pages: list[str]) -> Parsed:
    """Join page texts with `PAGE_SEPARATOR`, recording where each page starts."""
    starts, parts, at = [], [], 0
    for i, page in enumerate(pages):
        if i:
            parts.append(PAGE_SEPARATOR)
            at += len(PAGE_SEPARATOR)
        starts.append(at)
        parts.append(page)
        at += len(page)
    return Parsed("".join(parts), starts)


def missing_library(exc: ImportError, package: str, what: str) -> InputError:
    """The one-line error for a reader library left out of the install (say, by --no-deps)."""
    return InputError(f"reading {what} needs the {package} package ({exc.name} is missing); "
                      f"pip install '{package}' or reinstall longcepo with its dependencies")
