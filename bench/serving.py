"""One question as a user runs it: `longcepo ask` in its own process against a 0.5 s endpoint.

The double runs in another process with a fixed 0.5 s latency per request and approximate
tokens (64-character blocks for the prefix cache, so it spends almost no CPU). Each run is
cut into: start (process start to the first request), the LLM rounds, and the tail (last
reply to process exit), and the first parallel wave by how long its requests took to leave
(first to last arrival). Client CPU is the CLI process's own user+system time. The question
plans one sub-question (two engine passes), as in issue 11's comparison with the reference.

The measured tree is byte-compiled first, as pip does when it installs a wheel: where
`PYTHONDONTWRITEBYTECODE` is set (these machines set it), every run would otherwise compile
longcepo's modules again, about 0.2 s of CPU that no installed user pays.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULTS, make_question, write
from bench.walltime import rounds
from llm_double.prefix_cache import CHARS_PER_TOKEN

log = logging.getLogger(__name__)
LATENCY = 0.5
SIZES = (16_000, 256_000)
CONCURRENCY = (16, 64)
REPEATS = 3
KIND = "needle"  # one planned sub-question, then the question itself


def _cli() -> list[str]:
    return [sys.executable, "-m", "longcepo"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one(base_url: str, doc: Path, question: str, concurrency: int, state: Path
        ) -> dict[str, Any]:
    """Run the CLI once; wall, CPU and its result."""
    command = [*_cli(), "ask", "--context-file", str(doc), "--query", question,
               "--base-url", base_url, "--model", "llm-double", "--api-key", "bench",
               "--concurrency", str(concurrency), "--state-dir", str(state), "--json"]
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    cpu_before = _children_cpu()
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    ended = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"longcepo ask failed ({done.returncode}): {done.stderr[-2000:]}")
    return {"started": started, "ended": ended, "cpu_s": _children_cpu() - cpu_before,
            "result": json.loads(done.stdout)}


def timeline(run: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Start, each round's span and the tail, in seconds from process start."""
    groups = rounds(entries)
    spans = [(min(e["ts"] for e in g) - run["started"],
              max(e["ts"] + e["latency_s"] for e in g) - run["started"]) for g in groups]
    first, last = spans[0][0], spans[-1][1]
    wave = next((g for g in groups if len(g) > 1), groups[0])
    arrivals = [e["ts"] for e in wave]
    return {"start_s": round(first, 3), "tail_s": round(run["ended"] - run["started"] - last, 3),
            "first_wave": len(wave),
            "first_wave_spread_s": round(max(arrivals) - min(arrivals), 3),
            "rounds": [[round(a, 3), round(b, 3)] for a, b in spans],
            "round_sizes": [len(g) for g in groups]}


def measure(d: Any, q: Any, doc: Path, concurrency: int, tmp: Path, i: int) -> dict[str, Any]:
    """One run with a fresh prefix cache and state folder; everything the summary reports."""
    d.reset()
    run = one(d.base_url, doc, q.question, concurrency, tmp / f"state-{concurrency}-{i}")
    stats, entries = d.stats(), d.log()
    usage = run["result"]["usage"]
    doc_tokens = -(-len(q.text) // CHARS_PER_TOKEN)  # the double's approximate count
    return {
        "wall_s": round(run["ended"] - run["started"], 3), "cpu_s": round(run["cpu_s"], 3),
        "correct": run["result"]["answer"].strip() == q.gold,
        "requests": stats["requests"], "connections_opened": stats["connections_opened"],
        "max_in_flight": stats["max_in_flight"],
        "failed_calls": sum(int(u.get("failed_calls", 0)) for u in usage.values()),
        "prompt_tokens": stats["prompt_tokens"], "doc_tokens": doc_tokens,
        "cacheable_fraction": round(stats["cacheable_fraction"], 4),
        "uncached_over_document": round(stats["uncached_prompt_tokens"] / doc_tokens, 3),
        **timeline(run, entries),
    }


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (its own numbers, not a mix of runs)."""
    ordered = sorted(rows, key=lambda r: r["wall_s"])
    return ordered[len(ordered) // 2]


def _folder() -> str:
    """The folder of the longcepo the CLI runs."""
    done = subprocess.run([*_cli()[:1], "-c", "import longcepo, os; "
                           "print(os.path.dirname(longcepo.__file__))"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _compile(folder: str) -> None:
    """Byte-compile the tree the CLI runs (not its virtual environment, build or tests)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"(\.venv|build|tests)/",
                    folder], check=True, capture_output=True)


def _tree() -> str:
    """Which longcepo the CLI runs: its commit, if it is a git checkout, else its folder."""
    folder = _folder()
    git = subprocess.run(["git", "-C", folder, "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=False)
    return f"commit {git.stdout.strip()}" if git.returncode == 0 else folder


def run(sizes: tuple[int, ...] = SIZES, concurrency: tuple[int, ...] = CONCURRENCY,
        repeats: int = REPEATS, label: str = "now", tree: str | None = None) -> dict[str, Any]:
    """Every (size, concurrency), `repeats` times; write serving.json with each median run.

    Results are kept under `label`; other labels already in serving.json stay (`before`: the
    same runs of an earlier tree, see `python -m bench.serving --help`).
    """
    from llm_double.process import start_double_process

    _compile(_folder())
    out = []
    with tempfile.TemporaryDirectory() as folder, start_double_process(
        "--approx-tokens", "--latency", str(LATENCY)
    ) as d:
        tmp = Path(folder)
        for tokens in sizes:
            q = make_question(KIND, tokens, seed=tokens % 89)
            doc = tmp / f"doc-{tokens}.txt"
            doc.write_text(q.text)
            for conc in concurrency:
                rows = [measure(d, q, doc, conc, tmp, i) for i in range(repeats)]
                best = _median(rows)
                out.append({"tokens": tokens, "concurrency": conc, **best,
                            "wall_s_all": [r["wall_s"] for r in rows],
                            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in rows), 3)})
                log.info("serving %d c=%d: wall %s, cpu %.2fs, start %.2fs, tail %.2fs",
                         tokens, conc, out[-1]["wall_s_all"], best["cpu_s"], best["start_s"],
                         best["tail_s"])
    path = RESULTS / "serving.json"
    kept = json.loads(path.read_text()).get("labels", {}) if path.exists() else {}
    kept[label] = {"runs": out, "load_average_1m": round(os.getloadavg()[0], 2),
                   "when": time.strftime("%Y-%m-%d %H:%M:%S"), "tree": tree or _tree()}
    payload = {"kind": KIND, "latency_s": LATENCY, "repeats": repeats,
               "context": "defaults (chunk 4096, window 8192), CLI with SQLite checkpoints",
               "labels": kept}
    write("serving", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.serving`: some sizes or concurrencies, under a label.

    For `before` numbers, run it with PYTHONPATH pointing at a folder whose `longcepo` is an
    older tree, e.g. `git archive 0bcab82 | tar -x -C /tmp/base/longcepo`, then
    `PYTHONPATH=/tmp/base python -m bench.serving --label before`.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=main.__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--label", default="now")
    parser.add_argument("--tree", help="what the label measures (default: the commit run)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run(tuple(int(x) for x in args.sizes.split(",")),
        tuple(int(x) for x in args.concurrency.split(",")), args.repeats, args.label, args.tree)
    return 0


if __name__ == "__main__":
    sys.exit(main())
