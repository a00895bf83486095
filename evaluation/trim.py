"""Shortening contexts: drop distractor passages (`--trim-tokens`), or cut in the middle.

Trimming keeps every gold passage and as many distractors as fit, in their original order, so
a short run still asks a multi-hop question over real distractors; it is labelled wherever
results appear. Middle truncation is the naive baseline's way to meet a small window.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace

from longcepo.evaluation.datasets import Item
from longcepo.nodes.errors import InputError
from longcepo.nodes.tokens import count_tokens, get_encoding

_PASSAGE = re.compile(r"^Passage \d+:\n", re.M)


@dataclass(frozen=True)
class Passage:
    """One `Passage i:` block: its title line and its text."""

    title: str
    text: str


def split_passages(context: str) -> list[Passage]:
    """The passages of a LongBench v1 style context: `Passage i:`, a title line, the text."""
    marks = list(_PASSAGE.finditer(context))
    ends = [m.start() for m in marks[1:]] + [len(context)] * bool(marks)
    out = []
    for start, end in zip((m.end() for m in marks), ends, strict=True):
        title, _, text = context[start:end].strip("\n").partition("\n")
        out.append(Passage(title.strip(), text.strip()))
    return out


def join_passages(passages: list[Passage]) -> str:
    """Render passages back, numbered from 1."""
    return "\n".join(f"Passage {i}:\n{p.title}\n{p.text}\n" for i, p in enumerate(passages, 1))


def trim_item(item: Item, target_tokens: int, encoding: str = "cl100k_base") -> Item:
    """The item with distractors dropped until its context is about `target_tokens`.

    Which distractors stay is drawn with a seed from the item id, so every strategy and every
    run sees the same trimmed context.
    """
    passages = split_passages(item.context)
    if not passages or not item.gold_titles:
        raise InputError(
            f"{item.dataset}: --trim-tokens needs passages with gold titles (HotpotQA/MuSiQue "
            "format); this dataset has none, so run it untrimmed"
        )
    gold = set(item.gold_titles)
    sizes = [count_tokens(f"Passage 00:\n{p.title}\n{p.text}\n", encoding) for p in passages]
    keep = {i for i, p in enumerate(passages) if p.title in gold}
    used = sum(sizes[i] for i in keep)
    others = [i for i in range(len(passages)) if i not in keep]
    random.Random(f"trim:{item.item_id}").shuffle(others)
    for i in others:
        if used + sizes[i] <= target_tokens:
            keep.add(i)
            used += sizes[i]
    context = join_passages([passages[i] for i in sorted(keep)])
    meta = {**item.meta, "trimmed_from_passages": len(passages), "passages": len(keep)}
    return replace(item, context=context, meta=meta)


def truncate_middle(text: str, max_tokens: int, encoding: str = "cl100k_base") -> str:
    """Keep the first and last `max_tokens / 2` tokens, as LongBench truncates long inputs."""
    enc = get_encoding(encoding)
    ids = enc.encode_ordinary(text)
    if len(ids) <= max_tokens:
        return text
    head = max_tokens // 2
    return enc.decode(ids[:head]) + "\n" + enc.decode(ids[len(ids) - (max_tokens - head):])
