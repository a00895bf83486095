"""Rendering of findings, summaries and the QA history into prompt sections.

Chunk numbers shown to the model are 1-based; ids in state are 0-based.
"""

from __future__ import annotations

from collections.abc import Sequence

from longcepo.prompts import render as fmt
from longcepo.state import Finding, QAPair


def history_text(history: Sequence[QAPair]) -> str:
    """The `<answered_questions>` section."""
    if not history:
        return fmt.NO_EARLIER_QUESTIONS
    return "\n\n".join(
        fmt.QA_PAIR.format(n=i, question=p["question"], answer=p["answer"])
        for i, p in enumerate(history, 1)
    )


def summary_line(gid: int, summary: str) -> str:
    """One neighbour summary, labelled with its chunk number."""
    return fmt.SUMMARY_LINE.format(index=gid + 1, summary=" ".join(summary.split()))


def summaries_text(lines: Sequence[str], empty: str) -> str:
    """A `<summaries_before>` or `<summaries_after>` section."""
    return "\n".join(lines) if lines else empty


def finding_label(sources: Sequence[int]) -> str:
    """`Chunk 3`, `Chunks 3-5` or `Chunks 2, 7` for the chunks a finding came from."""
    shown = sorted(s + 1 for s in sources)
    if len(shown) == 1:
        return f"Chunk {shown[0]}"
    if shown == list(range(shown[0], shown[-1] + 1)):
        return f"Chunks {shown[0]}-{shown[-1]}"
    return "Chunks " + ", ".join(map(str, shown))


def finding_text(finding: Finding) -> str:
    """One finding in the four-field protocol under its `Information of ...` header."""
    confidence = finding["confidence"]
    body = fmt.FINDING_BODY.format(
        extracted=finding["extracted"],
        rationale=finding["rationale"],
        answer=finding["answer"],
        confidence="unknown" if confidence is None else f"{confidence:g}",
    )
    return f"{fmt.FINDING_HEADER.format(label=finding_label(finding['sources']))}\n{body}"


def findings_text(findings: Sequence[Finding]) -> str:
    """The `<findings>` section."""
    return "\n\n".join(map(finding_text, findings)) if findings else fmt.NO_FINDINGS
