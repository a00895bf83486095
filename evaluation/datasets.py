"""Reading evaluation sets in place: HotpotQA/MuSiQue (LongBench v1 style) and LongBench v2.

Every item becomes an `Item` with the query the pipeline sees (multiple-choice options and the
answer-format line included) and the gold answers its metric needs.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from longcepo.nodes.errors import InputError

Kind = Literal["qa", "mc"]
LETTERS = ("A", "B", "C", "D")
QA_FORMAT = "Answer with a short phrase only."
MC_FORMAT = "Answer with the letter of the correct option."


@dataclass(frozen=True)
class Item:
    """One question: its context, the query sent, and the gold answers."""

    dataset: str
    item_id: str
    kind: Kind
    question: str
    query: str
    context: str
    answers: tuple[str, ...]
    gold_titles: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def dataset_name(path: str | Path) -> str:
    """`hotpotqa_long_16k` from `.../hotpotqa_long_16k.jsonl.gz`."""
    name = Path(path).name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            yield from enumerate(handle, 1)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}; pass a .jsonl or .jsonl.gz file") from None


def mc_query(question: str, choices: dict[str, str]) -> str:
    """The multiple-choice query: the question, lettered options, the answer-format line."""
    options = "\n".join(f"({letter}) {choices[letter]}" for letter in LETTERS)
    return f"{question.strip()}\n\nOptions:\n{options}\n\n{MC_FORMAT}"


def qa_query(question: str) -> str:
    """The short-answer query: the question and the answer-format line."""
    return f"{question.strip()}\n{QA_FORMAT}"


def parse_item(row: dict[str, Any], dataset: str, where: str) -> Item:
    """One JSON row as an `Item`; a row of neither format is refused with its line number."""
    item_id = str(row.get("_id") or row.get("id") or where)
    if isinstance(row.get("answers"), list) and "input" in row and "context" in row:
        return Item(dataset, item_id, "qa", str(row["input"]), qa_query(str(row["input"])),
                    str(row["context"]), tuple(str(a) for a in row["answers"]),
                    tuple(str(t) for t in row.get("gold_titles") or ()),
                    {k: row[k] for k in ("type", "level") if k in row})
    if all(f"choice_{letter}" in row for letter in LETTERS) and "question" in row:
        answer = str(row.get("answer", "")).strip().upper()
        if answer not in LETTERS:
            raise InputError(f"{where}: answer {row.get('answer')!r} is not one of A-D")
        choices = {letter: str(row[f"choice_{letter}"]) for letter in LETTERS}
        return Item(dataset, item_id, "mc", str(row["question"]),
                    mc_query(str(row["question"]), choices), str(row["context"]), (answer,),
                    meta={k: row[k] for k in ("domain", "difficulty", "length") if k in row})
    raise InputError(
        f"{where}: neither format: expected 'input', 'answers', 'context' (HotpotQA/MuSiQue) "
        "or 'question', 'choice_A'..'choice_D', 'answer', 'context' (LongBench v2)"
    )


def load_dataset(path: str | Path, limit: int | None = None) -> list[Item]:
    """The first `limit` items of a JSONL(.gz) file, read in place."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{source}: no such dataset file; pass a .jsonl or .jsonl.gz path")
    name = dataset_name(source)
    items: list[Item] = []
    for number, line in _lines(source):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InputError(f"{source}:{number}: expected one JSON object a line")
        items.append(parse_item(row, name, f"{source}:{number}"))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise InputError(f"{source} holds no items")
    ids = [i.item_id for i in items]
    if len(set(ids)) != len(ids):
        raise InputError(f"{source}: item ids repeat; each '_id' must be unique")
    return items
