"""Token-bounded chunking that packs lines greedily.

Over-long lines are split at sentence ends, then at spaces, then at token boundaries.

Every character is tokenized once per split level, so time is linear in document size; chunks
are contiguous spans of the original text, so provenance is exact character offsets.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

import tiktoken

_LINES = re.compile(r"[^\n]*\n|[^\n]+")
_SENTENCES = re.compile(r".+?(?:[.!?][\"')\]]*(?:\s+|$)|$)", re.S)
_WORDS = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Span:
    """A chunk: characters [start, end) of its document, about `tokens` tokens long."""

    start: int
    end: int
    tokens: int


def _hard_split(text: str, base: int, enc: tiktoken.Encoding, size: int) -> Iterator[Span]:
    tokens = enc.encode_ordinary(text)
    _, offsets = enc.decode_with_offsets(tokens)
    for i in range(0, len(tokens), size):
        start = offsets[i]
        end = offsets[i + size] if i + size < len(tokens) else len(text)
        if end > start:
            yield Span(base + start, base + end, len(tokens[i : i + size]))


def _units(
    text: str, base: int, enc: tiktoken.Encoding, size: int, level: int
) -> Iterator[Span]:
    """Yield consecutive pieces of `text`, each at most `size` tokens, covering it exactly."""
    pattern = (_LINES, _SENTENCES, _WORDS)[level]
    for match in pattern.finditer(text):
        piece = match.group()
        if not piece:
            continue
        n = len(enc.encode_ordinary(piece))
        start = base + match.start()
        if n <= size:
            yield Span(start, start + len(piece), n)
        elif level < 2:
            yield from _units(piece, start, enc, size, level + 1)
        else:
            yield from _hard_split(piece, start, enc, size)


def chunk_spans(text: str, enc: tiktoken.Encoding, chunk_size: int) -> list[Span]:
    """Split `text` into spans of at most about `chunk_size` tokens, packing lines greedily."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    chunks: list[Span] = []
    start = end = tokens = 0
    for unit in _units(text, 0, enc, chunk_size, 0):
        if tokens and tokens + unit.tokens > chunk_size:
            chunks.append(Span(start, end, tokens))
            tokens = 0
        if not tokens:
            start = unit.start
        end, tokens = unit.end, tokens + unit.tokens
    if tokens and text[start:end].strip():
        chunks.append(Span(start, end, tokens))
    return [c for c in chunks if text[c.start : c.end].strip()]


def span_pages(text: str, start: int, end: int, page_starts: list[int]) -> list[int]:
    """The first and last page (1-based) that the non-blank part of text[start:end] lies on."""
    piece = text[start:end]
    first = start + (len(piece) - len(piece.lstrip()))
    last = max(first, start + len(piece.rstrip()) - 1)
    return [bisect.bisect_right(page_starts, first), bisect.bisect_right(page_starts, last)]
