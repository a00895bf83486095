"""Run the benchmarks and write `bench/results/*.json`, plots and SUMMARY.md.

python -m bench.run                       # everything (about 15 minutes on 2 cores)
python -m bench.run --only scale,chunking # some sections; SUMMARY.md uses every JSON present
python -m bench.run --report              # only rebuild SUMMARY.md and the plots
python -m bench.run --only local_cache    # the bundled model's demo runs (about 6 minutes);
                                          # only when named, skipped without the [local] extra
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import (
    chunking,
    cost,
    documents,
    local_cache,
    overhead,
    progress,
    report,
    scale,
    serving,
    walltime,
)

SECTIONS: dict[str, Callable[[], Any]] = {
    "cost": cost.run,  # also writes prefix.json
    "walltime": walltime.run,
    "overhead": overhead.run,
    "scale": scale.run,
    "chunking": chunking.run,
    "documents": documents.run,
    "progress": progress.run,
    "serving": serving.run,
    "local_cache": local_cache.run,
}
OPT_IN = {"local_cache"}
"""Sections that run only when `--only` names them: they run the real local model."""
ALIASES = {"prefix": "cost"}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.run`."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated sections: " + ", ".join(
        [*SECTIONS, *ALIASES]))
    parser.add_argument("--report", action="store_true", help="only rebuild the summary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("bench").setLevel(logging.INFO)
    chosen: list[str] = []
    if not args.report:
        default = ",".join(n for n in SECTIONS if n not in OPT_IN)
        names = [n.strip() for n in (args.only or default).split(",") if n.strip()]
        unknown = [n for n in names if n not in SECTIONS and n not in ALIASES]
        if unknown:
            parser.error(f"unknown section(s) {', '.join(unknown)}; choose from "
                         + ", ".join([*SECTIONS, *ALIASES]))
        chosen = list(dict.fromkeys(ALIASES.get(n, n) for n in names))
    for name in chosen:
        started = time.perf_counter()
        SECTIONS[name]()
        print(f"{name}: done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    path = report.write_summary()
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
