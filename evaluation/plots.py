"""PNG plots of a summary: quality against tokens spent, quality by strategy, tokens by stage.

matplotlib is an optional extra (`pip install 'longcepo[eval]'`); without it the tables are
still written and the summary says why there are no plots.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

from longcepo.evaluation.summary import GroupSummary

log = logging.getLogger(__name__)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_plots(rows: list[GroupSummary], folder: Path, label: str) -> list[Path]:
    """Write the plots and return their paths; an empty list when matplotlib is missing."""
    plt = _pyplot()
    if plt is None or not rows:
        return []
    paths = [_quality_vs_tokens(plt, rows, folder / "quality_vs_tokens.png", label),
             _quality_by_strategy(plt, rows, folder / "quality_by_strategy.png", label),
             _tokens_by_stage(plt, rows, folder / "tokens_by_stage.png", label)]
    return paths


def _wrap(label: str) -> str:
    return "\n".join(textwrap.wrap(label, 110))


def _datasets(rows: list[GroupSummary]) -> list[str]:
    return list(dict.fromkeys(r.dataset for r in rows))


def _quality_vs_tokens(plt: Any, rows: list[GroupSummary], path: Path, label: str) -> Path:
    datasets = _datasets(rows)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        shown = [r for r in rows if r.dataset == dataset and r.tokens > 0]
        for row in shown:
            mean, std = row.quality.get(row.headline, (0.0, 0.0))
            ax.errorbar([row.tokens], [100 * mean], yerr=[100 * std], fmt="o", capsize=4,
                        label=row.variant)
        if shown:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
            ax.legend(fontsize=8)
        ax.set_ylim(-3, 103)
        ax.set_xlabel("tokens per item (prompt + completion)")
        first = next(r for r in rows if r.dataset == dataset)
        ax.set_ylabel("accuracy (%)" if first.headline == "acc" else "F1 (%)")
        ax.set_title(dataset, fontsize=10)
    fig.suptitle(f"Quality against tokens spent\n{_wrap(label)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _quality_by_strategy(plt: Any, rows: list[GroupSummary], path: Path, label: str) -> Path:
    datasets = _datasets(rows)
    variants = list(dict.fromkeys(r.variant for r in rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(datasets) * len(variants)), 4))
    width = 0.8 / max(1, len(variants))
    for k, variant in enumerate(variants):
        xs, ys, errs = [], [], []
        for i, dataset in enumerate(datasets):
            row = next((r for r in rows if r.dataset == dataset and r.variant == variant), None)
            if row is not None:
                mean, std = row.quality.get(row.headline, (0.0, 0.0))
                xs.append(i + k * width)
                ys.append(100 * mean)
                errs.append(100 * std)
        ax.bar(xs, ys, width, yerr=errs, capsize=3, label=variant)
    ax.set_xticks([i + width * (len(variants) - 1) / 2 for i in range(len(datasets))], datasets,
                  fontsize=8)
    ax.set_ylabel("F1 (short answers) / accuracy (multiple choice), %")
    ax.set_ylim(0, 103)
    ax.set_title(f"Quality by strategy\n{_wrap(label)}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _tokens_by_stage(plt: Any, rows: list[GroupSummary], path: Path, label: str) -> Path:
    stages = sorted({s for r in rows for s in r.stage_tokens})
    names = [f"{r.dataset}\n{r.variant}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rows)), 4.5))
    bottom = [0.0] * len(rows)
    for stage in stages:
        values = [r.stage_tokens.get(stage, 0.0) for r in rows]
        ax.bar(range(len(rows)), values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(rows)), names, fontsize=6, rotation=30, ha="right")
    ax.set_ylabel("tokens per item")
    ax.set_title(f"Tokens by stage\n{_wrap(label)}", fontsize=9)
    if stages:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
