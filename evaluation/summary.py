"""Aggregating records into the `summary.md` tables: quality, cost and how answers failed.

Quality is the mean ± std over runs of each run's mean score, and the score of the majority
answer over runs, as in the method's published tables.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from longcepo.evaluation import prompts
from longcepo.evaluation.metrics import majority, mean_std, normalize_answer, score
from longcepo.evaluation.strategies import STRATEGIES
from longcepo.nodes.protocols import is_no_information
from longcepo.state import Context

METRICS = ("f1", "em", "acc", "judge")
_STAGE = re.compile(r"^(\w+)")
_FORMAT_ECHOES = {"final answer only", "your answer", "answer", "answer and nothing else"}
_SHINGLE = 5


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = normalize_answer(text).split()
    return {tuple(words[i:i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1)}


_PROMPT_SHINGLES = set().union(*(_shingles(str(f.default)) for f in fields(Context)
                                 if f.name.endswith("prompt")), _shingles(prompts.DIRECT))


EARLIER_EXAMPLES = ("where was the author born?", "she grew up in lyon", "lyon",
                    "first sub-question", "second sub-question")
"""Examples and placeholders the prompts held before they stopped showing any (small models
copied them); prompt files written by optimize-prompt back then may still hold them."""
_PROMPT_EXAMPLES = {quote.lower() for f in fields(Context) if f.name.endswith("prompt")
                    for quote in re.findall(r'"([^"]{3,})"', str(f.default))}
_PROMPT_EXAMPLES |= set(EARLIER_EXAMPLES)
_QA_FORMAT = re.compile(r"^\s*[QA]\d+:", re.M)


def quotes_example(text: str) -> bool:
    """Whether `text` repeats an example quoted in a prompt, or one they once held ("Lyon")."""
    lowered = text.lower()
    return any(example in lowered for example in _PROMPT_EXAMPLES)


def echoes_prompt(text: str) -> bool:
    """Whether `text` copies five words in a row from one of the prompts the model was shown."""
    return bool(_shingles(text) & _PROMPT_SHINGLES)
_MAP_FALLBACKS = re.compile(r"(\d+) chunk replies ignored")


@dataclass
class GroupSummary:
    """One (dataset, strategy variant) row of the tables."""

    dataset: str
    variant: str
    items: int = 0
    runs: int = 0
    quality: dict[str, tuple[float, float]] = field(default_factory=dict)
    majority: dict[str, float] = field(default_factory=dict)
    tokens: float = 0.0
    calls: float = 0.0
    wall_s: float = 0.0
    stage_tokens: dict[str, float] = field(default_factory=dict)
    diagnostics: dict[str, int] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        """The metric that ranks this row: accuracy for multiple choice, else F1."""
        return "acc" if "acc" in self.quality else "f1"


def _per_run_scores(records: list[dict[str, Any]], metric: str) -> list[float]:
    by_run: dict[int, list[float]] = defaultdict(list)
    for r in records:
        value = r["judge"] if metric == "judge" else r["scores"].get(metric)
        if value is not None:
            by_run[r["run"]].append(float(value))
    return [statistics.fmean(v) for _, v in sorted(by_run.items()) if v]


def _majority_scores(records: list[dict[str, Any]]) -> dict[str, float]:
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_item[r["item_id"]].append(r)
    totals: dict[str, list[float]] = defaultdict(list)
    for rows in by_item.values():
        rows.sort(key=lambda r: r["run"])
        voted = majority([r["answer"] for r in rows], rows[0]["kind"])
        for name, value in score(rows[0]["kind"], voted, rows[0]["golds"]).items():
            totals[name].append(value)
    return {name: statistics.fmean(v) for name, v in totals.items()}


def diagnose(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts of how answers went wrong, read from each record's answer, notes and usage."""
    out: dict[str, int] = defaultdict(int)
    for r in records:
        if r.get("error"):
            out["errors"] += 1
            continue
        answer = (r.get("answer") or "").strip()
        out["empty answers"] += not answer
        out["'No information' answers"] += bool(answer) and is_no_information(answer)
        out["answers copying the format line"] += normalize_answer(answer) in _FORMAT_ECHOES
        out["answers copying prompt text"] += echoes_prompt(answer)
        out["answers quoting a prompt's example"] += quotes_example(answer)
        out["answers in the Q1:/A1: history format"] += bool(_QA_FORMAT.search(answer))
        for counts in (r.get("usage") or {}).values():
            out["format re-asks"] += counts.get("format_retries", 0)
            out["failed HTTP attempts"] += counts.get("failed_calls", 0)
            out["calls answered as JSON under a schema"] += counts.get("structured_calls", 0)
        fallbacks: set[str] = set()
        for note in r.get("notes") or []:
            stage = _STAGE.match(note)
            if "re-ask" in note or "ignored" in note or "replaced" in note or "held no" in note:
                fallbacks.add(stage.group(1) if stage else "other")
            if "dropped" in note or "exceeded" in note:
                fallbacks.add("window trim")
            if (kept := _MAP_FALLBACKS.search(note)) is not None:
                out["map replies without protocol"] += int(kept.group(1))
        for where in fallbacks:
            out[f"answers with a {where} fallback"] += 1
        info = r.get("info") or {}
        subs = info.get("qa_history") or []
        out["sub-answers 'No information'"] += sum(is_no_information(p["answer"]) for p in subs)
        out["sub-questions asked"] += len(subs)
        out["sub-questions copying prompt text"] += sum(
            echoes_prompt(q) for q in info.get("sub_questions") or [])
        out["sub-answers copying prompt text"] += sum(echoes_prompt(p["answer"]) for p in subs)
        out["sub-answers quoting a prompt's example"] += sum(quotes_example(p["answer"])
                                                             for p in subs)
        out["multi-step plans"] += len(info.get("sub_questions") or []) > 1
    return dict(out)


def _strategy_rank(variant: str) -> int:
    name = variant.split("[")[0]
    return STRATEGIES.index(name) if name in STRATEGIES else len(STRATEGIES)


def summarize(records: Iterable[dict[str, Any]]) -> list[GroupSummary]:
    """One row per (dataset, variant), in the order first seen."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["variant"]), []).append(r)
    datasets = list(dict.fromkeys(d for d, _ in groups))
    order = sorted(groups, key=lambda g: (datasets.index(g[0]), _strategy_rank(g[1]), g[1]))
    out = []
    for (dataset, variant) in order:
        rows = groups[(dataset, variant)]
        ok = [r for r in rows if not r.get("error")]
        row = GroupSummary(dataset, variant, diagnostics=diagnose(rows))
        row.items = len({r["item_id"] for r in ok})
        row.runs = len({r["run"] for r in ok})
        for metric in METRICS:
            per_run = _per_run_scores(ok, metric)
            if per_run:
                row.quality[metric] = mean_std(per_run)
        row.majority = _majority_scores(ok) if row.runs > 1 else {}
        if ok:
            row.tokens = statistics.fmean(r["tokens"] for r in ok)
            row.calls = statistics.fmean(r["calls"] for r in ok)
            row.wall_s = statistics.fmean(r["wall_s"] for r in ok)
            stage_sum: dict[str, float] = defaultdict(float)
            for r in ok:
                for stage, c in r["usage"].items():
                    stage_sum[stage] += c.get("prompt_tokens", 0) + c.get("completion_tokens", 0)
            row.stage_tokens = {s: v / len(ok) for s, v in stage_sum.items()}
        out.append(row)
    return out


def _pct(pair: tuple[float, float] | None, runs: int) -> str:
    if pair is None:
        return "–"
    mean, std = pair
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if runs > 1 else "")


def markdown(rows: list[GroupSummary], label: str) -> str:
    """The tables of `summary.md`, under a heading that states how contexts were shortened."""
    lines = [f"# Evaluation summary\n\n{label}\n",
             "| dataset | strategy | items | runs | F1 | EM | accuracy | judge | majority of runs "
             "| tokens / item | calls / item | seconds / item |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        vote = row.majority.get(row.headline)
        lines.append(
            f"| {row.dataset} | {row.variant} | {row.items} | {row.runs} | "
            f"{_pct(row.quality.get('f1'), row.runs)} | {_pct(row.quality.get('em'), row.runs)} | "
            f"{_pct(row.quality.get('acc'), row.runs)} | "
            f"{_pct(row.quality.get('judge'), row.runs)} | "
            f"{'–' if vote is None else f'{100 * vote:.1f}'} | {row.tokens:,.0f} | "
            f"{row.calls:.1f} | {row.wall_s:.1f} |")
    lines += ["", "## Tokens by stage (prompt + completion, mean per item)", ""]
    stages = sorted({s for row in rows for s in row.stage_tokens})
    lines += ["| dataset | strategy | " + " | ".join(stages) + " |",
              "| --- | --- | " + " | ".join("---" for _ in stages) + " |"]
    for row in rows:
        cells = " | ".join(f"{row.stage_tokens.get(s, 0):,.0f}" for s in stages)
        lines.append(f"| {row.dataset} | {row.variant} | {cells} |")
    lines += ["", "## How answers went wrong (counts over all answers)", ""]
    kinds = sorted({k for row in rows for k in row.diagnostics})
    lines += ["| | " + " | ".join(f"{row.dataset} {row.variant}" for row in rows) + " |",
              "| --- | " + " | ".join("---" for _ in rows) + " |"]
    for kind in kinds:
        cells = " | ".join(str(row.diagnostics.get(kind, 0)) for row in rows)
        lines.append(f"| {kind} | {cells} |")
    return "\n".join(lines) + "\n"
