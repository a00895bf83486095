r"""How well one run's replies kept their form: counts read from `longcepo ask --json` output.

    .venv/bin/longcepo ask --model local --context-file examples/brenholm.md \
        --query "In which village was the engineer who designed the Greyholm Dam born?" \
        --chunk-size 1024 --window 2048 --json > demo.json
    .venv/bin/python -m bench.reply_form demo.json [more.json ...]

Well formed: replies of plan, map, collapse and reduce that parsed at once (no re-ask, no
fallback). Copies and echoes use the evaluation's own diagnostics (`evaluation/summary.py`):
an example or placeholder a prompt shows or once showed, five words in a row of a prompt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from longcepo.evaluation.summary import echoes_prompt, quotes_example

CONSTRAINED = ("plan", "map", "collapse", "reduce")


def _fallbacks(stage: str, counts: dict[str, int], notes: list[str]) -> int:
    if stage == "map":
        return counts.get("protocol_fallbacks", 0)
    return sum(1 for n in notes if n.startswith(stage) and ("re-ask" in n or "ignored" in n))


def reply_form(result: dict[str, Any]) -> dict[str, Any]:
    """The counts of one result."""
    usage, notes = result["usage"], result.get("notes") or []
    replies = well = 0
    for stage in CONSTRAINED:
        counts = usage.get(stage)
        if counts:
            answered = counts["calls"] - counts.get("failed_calls", 0)
            replies += answered
            well += answered - counts.get("format_retries", 0) - _fallbacks(stage, counts, notes)
    subs = result.get("sub_questions") or []
    answers = [p["answer"] for p in result.get("qa_history") or []] + [result["answer"]]
    return {
        "calls": sum(c["calls"] for c in usage.values()),
        "format re-asks": sum(c.get("format_retries", 0) for c in usage.values()),
        "well-formed plan/map/collapse/reduce replies": f"{well}/{replies}",
        "calls answered under a schema": sum(c.get("structured_calls", 0)
                                             for c in usage.values()),
        "answers quoting a prompt's example": sum(map(quotes_example, answers)),
        "answers copying prompt text": sum(map(echoes_prompt, answers)),
        "sub-questions copying a placeholder or prompt text": sum(
            quotes_example(q) or echoes_prompt(q) for q in subs),
        "prompt / completion tokens": (sum(c.get("prompt_tokens", 0) for c in usage.values()),
                                       sum(c.get("completion_tokens", 0)
                                           for c in usage.values())),
        "answer": result["answer"],
    }


def main(paths: list[str]) -> int:
    """Print the counts of each JSON file named."""
    for path in paths:
        print(json.dumps({"file": path, **reply_form(json.loads(Path(path).read_text()))},
                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
