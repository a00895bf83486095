"""Small evaluation sets in the shared data formats, built from the double's synthetic tasks.

The gold passages state the hops of a chain question in the grammar the LLM double reads, so a
strategy's score depends on whether the gold passages reach the model.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from llm_double import corpus


def multihop_rows(n: int, *, distractors: int = 12, seed: int = 0) -> list[dict]:
    """HotpotQA-style rows: 2-hop chain questions, gold passages in the middle of the context."""
    rows = []
    for k in range(n):
        task = corpus.chain_task(400, hops=2, seed=seed + k).task
        essays = corpus.haystack_paragraphs(90 * distractors, seed=seed + k)[:distractors]
        passages = [(f"Essay {seed + k}-{i}", text) for i, text in enumerate(essays)]
        golds = [(f"Record {h}", f"From the town records. {fact.text}")
                 for h, fact in enumerate(task.facts)]
        middle = len(passages) // 2
        passages[middle:middle] = golds
        context = "\n".join(f"Passage {i}:\n{t}\n{x}\n" for i, (t, x) in enumerate(passages, 1))
        rows.append({"_id": f"item-{seed + k}", "input": task.question, "answers": [task.gold],
                     "gold_titles": [t for t, _ in golds], "context": context,
                     "dataset": "synthetic", "n_passages": len(passages)})
    return rows


def mc_rows(n: int, *, seed: int = 0) -> list[dict]:
    """LongBench v2-style rows: the same chain questions with four options."""
    out = []
    for k in range(n):
        doc = corpus.as_multiple_choice(corpus.chain_task(1500, hops=2, seed=seed + k), seed=k)
        options = [line[4:] for line in doc.task.question.splitlines() if line.startswith("(")]
        out.append({"_id": f"mc-{k}", "question": doc.task.bare_question,
                    **{f"choice_{c}": o for c, o in zip("ABCD", options, strict=True)},
                    "answer": doc.task.gold, "context": doc.text, "domain": "synthetic"})
    return out


def write_jsonl_gz(path: Path, rows: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path
