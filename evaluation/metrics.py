"""Scores with the LongBench v1 conventions, and aggregation over runs.

Answers are normalized by lower-casing and removing punctuation, the articles a/an/the and
extra whitespace; token F1 and EM take the best over the gold answers. A multiple-choice answer
is the first standalone letter A-D, or `(X)`.
"""

from __future__ import annotations

import re
import statistics
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_CHOICE = re.compile(r"\(([A-D])\)|\b([A-D])\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """Token-level F1 of normalized answers."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def qa_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best token F1 over the gold answers."""
    return max((token_f1(prediction, g) for g in golds), default=0.0)


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalized prediction equals a normalized gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def choice_letter(answer: str) -> str | None:
    """The chosen option: the first `(X)` or standalone capital A-D; None if there is none."""
    match = _CHOICE.search(answer)
    return (match.group(1) or match.group(2)) if match else None


def score(kind: str, prediction: str, golds: Sequence[str]) -> dict[str, float]:
    """The metrics of one answer: F1 and EM for short answers, accuracy for multiple choice."""
    if kind == "mc":
        return {"acc": float(choice_letter(prediction) == golds[0])}
    return {"f1": qa_f1(prediction, golds), "em": exact_match(prediction, golds)}


def mean_std(per_run: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of per-run scores (std 0 for a single run)."""
    if not per_run:
        return 0.0, 0.0
    mean = statistics.fmean(per_run)
    return mean, statistics.stdev(per_run) if len(per_run) > 1 else 0.0


def majority(answers: Sequence[str], kind: str) -> str:
    """The most frequent answer over runs (its letter for multiple choice); earliest wins ties."""
    keys = [(choice_letter(a) or "") if kind == "mc" else normalize_answer(a) for a in answers]
    counts = Counter(keys)
    best = max(counts.values(), default=0)
    for answer, key in zip(answers, keys, strict=True):
        if counts[key] == best:
            return key if kind == "mc" else answer
    return ""
