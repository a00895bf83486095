"""SUMMARY.md and PNG plots from whatever `bench/results/*.json` exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from longcepo.state import STAGES  # noqa: E402

from bench.common import RESULTS  # noqa: E402

DPI = 80
GOLD = "Vellmar"
"""The demo question's answer (examples/brenholm.md)."""


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _k(tokens: int) -> str:
    return f"{tokens // 1_000_000}M" if tokens >= 1_000_000 else f"{tokens // 1000}K"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _save(fig: Any, name: str) -> str:
    fig.tight_layout()
    fig.savefig(RESULTS / name, dpi=DPI)
    plt.close(fig)
    return f"![{name}]({name})"


def cost_section(data: dict[str, Any]) -> str:
    runs = data["runs"]
    rows = []
    for r in runs:
        u = r["usage"]
        rows.append([_k(r["tokens"]), r["kind"], r["passes"], r["calls"],
                     *(u.get(s, {}).get("calls", 0) for s in STAGES),
                     f"{r['prompt_tokens']:,}", f"{r['completion_tokens']:,}",
                     "yes" if r["correct"] else "NO"])
    out = ["## 1. Cost per question",
           f"Context: {data['context']}. Zero-latency double, exact cl100k counts. "
           "Calls by stage, then prompt and completion tokens over all stages "
           "(per stage in `cost.json`). Collapse never runs here: only the few chunks that "
           "hold a planted fact return findings, and those fit the reduce window.", "",
           _table(["doc", "question", "passes", "calls", *STAGES, "prompt tok",
                   "completion tok", "correct"], rows), ""]
    by_stage = []
    for r in runs:
        if r["kind"] == "chain2":
            by_stage.append([_k(r["tokens"]), *(
                f"{r['usage'].get(s, {}).get('prompt_tokens', 0):,} / "
                f"{r['usage'].get(s, {}).get('completion_tokens', 0):,}" for s in STAGES)])
    out += ["Prompt / completion tokens by stage, 2-hop question:", "",
            _table(["doc", *STAGES], by_stage), ""]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = [f"{_k(r['tokens'])}\n{r['kind']}" for r in runs]
    for ax, field, title in ((axes[0], "calls", "LLM calls"),
                             (axes[1], "prompt_tokens", "prompt tokens")):
        bottom = [0] * len(runs)
        for stage in STAGES:
            values = [r["usage"].get(stage, {}).get(field, 0) for r in runs]
            ax.bar(labels, values, bottom=bottom, label=stage)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_title(f"{title} per question, by stage")
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7)
    out += [_save(fig, "cost.png"), ""]
    return "\n".join(out)


def prefix_section(prefix: dict[str, Any]) -> str:
    rows = [[_k(p["tokens"]), p["kind"], p.get("passes", "-"), f"{p['prompt_tokens']:,}",
             f"{p['cached_prefix_tokens']:,}", f"{p['cacheable_fraction']:.1%}",
             f"{p['uncached_prompt_tokens']:,}" if "uncached_prompt_tokens" in p else "-",
             f"{p['uncached_over_document']:.2f}x" if "uncached_over_document" in p else "-",
             *(f"{p['by_stage'][s]['cacheable_fraction']:.0%}" if s in p["by_stage"] else "-"
               for s in STAGES)] for p in prefix["runs"]]
    return "\n".join(["## 6. Prefix cache",
            f"Prompt tokens that repeat a prefix (in {prefix['block_size']}-token blocks) of an "
            "earlier request of the same question, as vLLM's automatic prefix caching finds "
            "them (each block hashed chained with the blocks before it, so a block counts only "
            "inside the longest block-aligned prefix shared with some earlier request; the "
            "system prompt's role marker included); cold cache per question. Uncached tokens "
            "are what such a server computes, or a hosted API bills at the full input price; "
            "the floor is about 1.0x the document (every chunk read once). Over all questions: "
            f"**{prefix['cacheable_fraction_all']:.1%}** cacheable.", "",
            "Reconciling with issue 11's 34.5%: both count the same thing (there in 64-character "
            "blocks, here in 16-token blocks). The 49.7% this table showed before was over all "
            "nine questions, dominated by chain2/chain3, which plan two or three sub-questions "
            "(three or four passes) and whose later passes reused their map prompts up to the "
            "QA history; issue 11 measured a question with one planned sub-question (two "
            "passes): the `needle` rows, 34.2% at 256K before the map prompt put the passage "
            "first.", "",
            _table(["doc", "question", "passes", "prompt tok", "cacheable tok", "fraction",
                    "uncached tok", "uncached / doc", *STAGES], rows), ""])


def walltime_section(data: dict[str, Any], overhead: dict[str, Any] | None = None) -> str:
    model = data["latency_model"]
    rows = [[_k(r["tokens"]), r["slots"] or "unlimited", r["requests"], r["rounds"],
             r["max_in_flight"], r["critical_path_s"], r["capacity_bound_s"], r["wall_s"],
             f"{r['wall_over_bound']:.2f}"] for r in data["runs"]]
    out = ["## 2. Wall time against the critical-path bound",
           f"Latency model per request: {model['latency_s']} s + "
           f"{model['per_prompt_token_s']} s/prompt token + "
           f"{model['per_completion_token_s']} s/completion token, holding one of the double's "
           f"slots. Question: {data['kind']}; Context: {data['context']}. Rounds are cut from "
           "the double's log; the critical path sums each round's longest request; with 8 "
           "slots a round also needs (its total service time) / 8.", "",
           _table(["doc", "slots", "requests", "rounds", "max in flight", "critical path s",
                   "bound s", "wall s", "wall / bound"], rows), ""]
    if overhead:
        per_call = overhead["graph_in_memory"]["cpu_ms_per_call"]
        big = max(data["runs"], key=lambda r: (r["slots"] is None, r["tokens"]))
        out += [f"The gap is mostly the caller's own CPU, which is serial: at "
                f"{_k(big['tokens'])} with unlimited slots, wall - bound = "
                f"{big['wall_s'] - big['capacity_bound_s']:.2f} s, while {big['requests']} "
                f"requests x {per_call} ms of CPU per call (section 3) = "
                f"{big['requests'] * per_call / 1000:.2f} s.", ""]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    labels = [f"{_k(r['tokens'])}\n{r['slots'] or 'unl.'} slots" for r in data["runs"]]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], [r["capacity_bound_s"] for r in data["runs"]], 0.4,
           label="bound")
    ax.bar([i + 0.2 for i in x], [r["wall_s"] for r in data["runs"]], 0.4, label="measured")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title("wall time vs bound")
    ax.legend()
    out += [_save(fig, "walltime.png"), ""]
    return "\n".join(out)


def overhead_section(data: dict[str, Any]) -> str:
    task = data["task"]
    names = [("direct_only", "longcepo's direct path alone (plain HTTP)"),
             ("openai_only", "bare openai client"), ("chatopenai_only", "ChatOpenAI alone"),
             ("graph_in_memory", "longcepo graph, in memory"),
             ("graph_sqlite", "longcepo graph, SQLite (as the CLI)")]
    names = [(key, label) for key, label in names if key in data]
    rows = [[label, data[key]["cpu_ms_per_call"], data[key]["wall_ms_per_call"]]
            for key, label in names]
    out = ["## 3. Framework overhead per LLM call",
           f"{task['kind']} question over {_k(task['tokens'])} tokens "
           f"({task['calls_per_run']} calls per run, {task['repeats']} runs, concurrency "
           f"{task['concurrency']}), zero-latency double in its own process (approximate "
           "tokens), so its CPU is not counted. CPU ms per call = this process's CPU time "
           "over the run, excluding ingest, / calls served; medians.", "",
           _table(["what", "CPU ms/call", "wall ms/call"], rows), "",
           "- The graph calls the endpoint by its direct path unless callbacks listen "
           "(LangSmith tracing, `astream_events`): then through ChatOpenAI.",
           f"- Framework overhead = graph − the direct path alone: "
           f"**{data['framework_overhead_cpu_ms_per_call']} ms/call** in memory, "
           f"**{data['framework_overhead_sqlite_cpu_ms_per_call']} ms/call** with SQLite "
           f"checkpoints and store (target {data['target_ms_per_call']} ms)."]
    prof, prof_sqlite = data.get("profile"), data.get("profile_sqlite")
    if prof and prof_sqlite:
        layers = list(dict.fromkeys([*prof["shares"], *prof_sqlite["shares"]]))
        out += [f"- Sampled profiles (py-spy at {prof['rate_hz']} Hz; SQLite's own thread "
                "included): LangGraph, longcepo's nodes and the store take "
                f"**{data['framework_overhead_profile_ms_per_call']} ms/call** in memory and "
                f"**{data['framework_overhead_profile_sqlite_ms_per_call']} ms/call** with "
                "SQLite. Shares of the CPU:", "",
                _table(["layer", "in memory", "SQLite"],
                       [[k, f"{prof['shares'].get(k, 0):.1%}",
                         f"{prof_sqlite['shares'].get(k, 0):.1%}"] for k in layers]), ""]
    else:
        out += ["- No py-spy installed: no layer profile.", ""]
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.barh([label for _, label in names], [data[k]["cpu_ms_per_call"] for k, _ in names])
    ax.set_xlabel("CPU ms per LLM call")
    ax.set_title("per-call CPU in the calling process")
    out += [_save(fig, "overhead.png"), ""]
    return "\n".join(out)


def _scale_gap(runs: list[dict[str, Any]]) -> str:
    """What the calls the double did not serve were: cache hits, attempts that failed."""
    parts = [f"{_k(r['tokens'])} {r['cached_calls']} / {r['failed_calls']}"
             for r in runs if "cached_calls" in r]
    if not parts:
        return ""
    return ("Calls answered from the run's call cache (identical prompts: the essay corpus "
            "holds only ~137K tokens, so some chunks repeat) / failed attempts retried: "
            + "; ".join(parts) + ".")


def scale_section(data: dict[str, Any]) -> str:
    runs = data["runs"]
    rows = [[_k(r["tokens"]), f"{r['doc_bytes'] / 2**20:.1f}", r["chunks"],
             f"{r['calls']} / {r['double_requests']}",
             r["ingest_s"], r["run_s"], r["total_s"], r["us_per_token"], r["ms_per_call"],
             f"{r['peak_rss_mb']:.0f} / {r['rss_target_mb']:.0f}",
             f"{r['checkpoint_bytes'] / 2**20:.1f} ({r['checkpoint_over_doc']:.2f}x)",
             f"{r['store_bytes'] / 2**20:.0f}", "yes" if r["correct"] else "NO"] for r in runs]
    out = ["## 4. Scale",
           f"Needle question, {data['context']}, zero-latency double; SQLite checkpointer "
           "and store through `graph.api`, one process per size. Targets: time linear in "
           "size; peak RSS <= 4x document bytes + 300 MB; checkpoint bytes <= 2x document "
           "bytes.", "",
           _table(["doc", "MB", "chunks", "calls / served", "ingest s", "run s", "total s",
                   "us/token", "ms/call", "peak RSS / target MB", "checkpoints MB", "store MB",
                   "correct"],
                  rows), "",
           f"Time grew {data['time_ratio_last_first']}x for {data['size_ratio_last_first']}x "
           "the tokens. Calls are what the run reports; served is what reached the double. "
           + _scale_gap(runs), ""]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    tokens = [r["tokens"] / 1e6 for r in runs]
    axes[0].plot(tokens, [r["total_s"] for r in runs], "o-", label="measured")
    axes[0].plot(tokens, [runs[0]["total_s"] * t / tokens[0] for t in tokens], "--",
                 label="linear from the first")
    axes[0].set(xlabel="M tokens", ylabel="seconds", title="total time")
    axes[0].legend(fontsize=7)
    mb = [r["doc_bytes"] / 2**20 for r in runs]
    axes[1].plot(mb, [r["peak_rss_mb"] for r in runs], "o-", label="peak RSS")
    axes[1].plot(mb, [r["rss_target_mb"] for r in runs], "--", label="4x doc + 300 MB")
    axes[1].set(xlabel="document MB", ylabel="MB", title="peak RSS")
    axes[1].legend(fontsize=7)
    axes[2].plot(mb, [r["checkpoint_bytes"] / 2**20 for r in runs], "o-", label="checkpoints")
    axes[2].plot(mb, [2 * m for m in mb], "--", label="2x doc")
    axes[2].set(xlabel="document MB", ylabel="MB", title="checkpoint bytes")
    axes[2].legend(fontsize=7)
    out += [_save(fig, "scale.png"), ""]
    return "\n".join(out)


def chunking_section(data: dict[str, Any]) -> str:
    rows = [[_k(r["tokens"]), f"{r['chars']:,}", r["chunks"], r["best_s"],
             f"{r['tokens_per_s']:,}", r["mb_per_s"]] for r in data["runs"]]
    return "\n".join([
        "## 5. Chunking throughput",
        f"`nodes.chunking.chunk_spans`, chunk size {data['chunk_size']}, {data['encoding']}, "
        "best of the runs.", "",
        _table(["doc", "chars", "chunks", "seconds", "tokens/s", "MB/s"], rows), ""])


def documents_section(data: dict[str, Any]) -> str:
    rows = [[r["format"], f"{r['bytes'] / 2**20:.1f}", f"{r['tokens']:,}", r["chunks"],
             r["read_s"], f"{r['pages_per_s']:,}", r.get("cached_read_s", "–"), r["chunk_s"],
             r["llm_calls_per_question"]]
            for r in data["runs"]]
    return "\n".join([
        "## 7. Reading documents",
        f"`documents.read_documents` on generated files of {data['pages']} pages "
        f"({data['paragraphs_per_page']} paragraphs of about 90 words each; Word and HTML hold "
        "the same paragraphs, so their pages are page equivalents), best of the runs, then "
        f"chunking at {data['chunk_size']} tokens. A cached read is the same file asked about "
        "again (the CLI keeps extracted text by content hash). The last column puts reading "
        "beside what one question costs: at least that many LLM calls (summaries, then a map "
        "call per chunk in each of four passes).", "",
        _table(["format", "MB", "tokens", "chunks", "read s", "pages/s", "cached read s",
                "chunk s", "LLM calls"], rows), ""])


def serving_section(data: dict[str, Any]) -> str:
    head = ["tree", "doc", "concurrency", "wall s (median; all)", "start s", "rounds",
            "first wave: calls / left within s", "tail s",
            "requests", "connections", "max in flight", "failed calls", "client CPU s",
            "cacheable", "uncached / doc", "correct"]
    rows = []
    for label, got in data["labels"].items():
        for r in got["runs"]:
            rows.append([label, _k(r["tokens"]), r["concurrency"],
                         f"{r['wall_s']} ({', '.join(map(str, r['wall_s_all']))})",
                         r["start_s"], len(r["rounds"]),
                         f"{r.get('first_wave', '-')} / {r.get('first_wave_spread_s', '-')}",
                         r["tail_s"], r["requests"],
                         r["connections_opened"], r["max_in_flight"], r["failed_calls"],
                         r["cpu_s_median"], f"{r['cacheable_fraction']:.1%}",
                         f"{r['uncached_over_document']:.2f}x", "yes" if r["correct"] else "NO"])
    loads = ", ".join(f"{k} {v['load_average_1m']} at {v['when']}"
                      for k, v in data["labels"].items())
    trees = "; ".join(f"`{k}` {v.get('tree', 'not recorded')}" for k, v in data["labels"].items())
    out = ["## 8. One question through the CLI at 0.5 s per request",
           f"`longcepo ask` in its own process (question: {data['kind']}, one planned "
           f"sub-question; {data['context']}) against the double at {data['latency_s']} s per "
           "request, approximate tokens (64-character prefix blocks). Start: process start to "
           "the first request; tail: the last reply to process exit; rounds are sequential "
           "waves of requests cut from the double's log; client CPU is the CLI process's user "
           f"+ system time (median). The median-wall run of {data['repeats']} is shown; in the "
           "picture, white gaps between rounds are the client's own work (replies, checkpoints). "
           f"Trees: {trees}. 1-minute load average (2 cores, shared): {loads}.", "",
           _table(head, rows), ""]
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.7 * len(data["labels"])))
    labels = []
    for y, (label, got) in enumerate(data["labels"].items()):
        big = [r for r in got["runs"] if r["tokens"] == max(x["tokens"] for x in got["runs"])]
        r = max(big, key=lambda x: x["concurrency"])
        labels.append(f"{label}\n{_k(r['tokens'])} c={r['concurrency']}")
        ax.barh(y, r["start_s"], color="tab:red", label="start" if y == 0 else None)
        for i, (a, b) in enumerate(r["rounds"]):
            ax.barh(y, b - a, left=a, color="tab:blue" if i % 2 else "tab:cyan",
                    label="LLM round" if y == 0 and i == 0 else None)
        end = r["rounds"][-1][1]
        ax.barh(y, r["tail_s"], left=end, color="tab:orange", label="tail" if y == 0 else None)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("seconds from process start")
    ax.set_title("where one question's wall time goes")
    ax.legend(fontsize=7, loc="lower right")
    out += [_save(fig, "serving.png"), ""]
    return "\n".join(out)


def local_cache_section(data: dict[str, Any]) -> str:
    head = ["tree", "map prompt", "run", "wall s", "calls / completions", "prompt tok",
            "read", "reused", "from RAM cache (loads)", "reading s", "generating s",
            "format re-asks", "notes", "answer has gold"]
    rows: list[list[Any]] = []
    notes: dict[str, set[str]] = {}
    labels = sorted(data["labels"].items(), key=lambda item: item[0] != "before")
    for label, got in labels:
        for i, r in enumerate(got["runs"], 1):
            s = r["server"]
            rows.append([f"{label} ({got['tree_commit']})",
                         "passage first" if r["map_passage_first"] else "summaries first", i,
                         r["wall_s"], f"{r['calls']} / {s['requests']}",
                         f"{s['prompt_tokens']:,}", f"{s['evaluated_tokens']:,}",
                         f"{s['reused_tokens']:,} ({s['reused_fraction']:.0%})",
                         f"{s['reused_from_ram_cache']:,} ({s['ram_cache_loads']})",
                         s["prompt_eval_s"], s["generate_s"], r["format_retries"],
                         len(r["notes"]), "yes" if GOLD.lower() in r["answer"].lower() else "no"])
            for note in r["notes"]:
                notes.setdefault(note, set()).add(label)
    loads = ", ".join(f"{k} {v['load_average_1m']} at {v['when']}" for k, v in labels)
    out = ["## 9. The bundled model's prompt cache",
           f"`{data['cli']}` on `{data['document']}` (the demo's question and budgets), each "
           "run in its own process with a fresh state folder; the llama.cpp server runs as the "
           "CLI starts it, except `--verbose true`, and its log gives each completion's prompt "
           "tokens (the model's own count), those it read and those it reused: from the state "
           "it had just computed, or from a state its RAM cache kept (the cache loads the "
           "kept state with the longest common prefix when that beats the live one). Reading "
           "and generating are llama.cpp's own timings summed over completions. `before` is "
           "this tree with the map prompt's old section order (neighbour summaries, then the "
           "passage: commit 9a01e8e reversed), `now` puts the passage first, so a chunk's map "
           "call shares the system prompt and the passage with its summary call. All summaries "
           "run before the first map call (one call at a time), so a hit needs the RAM cache to "
           "still hold the chunk's summary state; a later pass's map calls reuse the first "
           "pass's up to the answered questions in either order. Format "
           "re-asks and notes come from the run's `--json` result. 1-minute load average "
           f"(2 shared cores): {loads}.", "",
           _table(head, rows), ""]
    if notes:
        out += ["Notes the runs reported:", ""]
        out += [f"- {', '.join(sorted(seen))}: {note}" for note, seen in notes.items()]
        out.append("")
    return "\n".join(out)


def write_summary() -> Path:
    """Write bench/results/SUMMARY.md (and the PNGs) from the JSON results present."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    parts = ["# longcepo benchmarks", "",
             "Measurements, not assertions: `make bench` (or `python -m bench.run [--only "
             "cost,walltime,overhead,scale,chunking,documents,serving,progress]`) rewrites the "
             "JSON files next to this summary. The LLM is the double (`llm_double`) over real "
             "HTTP, except in section 9 (`--only local_cache`, run only when named), which "
             "runs the bundled local model. Each JSON file records the machine, its load and "
             "the package versions.", ""]
    env = None
    sections = (("cost", cost_section), ("walltime", walltime_section),
                ("overhead", overhead_section), ("scale", scale_section),
                ("chunking", chunking_section), ("prefix", prefix_section),
                ("documents", documents_section), ("serving", serving_section),
                ("local_cache", local_cache_section))
    for name, section in sections:
        data = _load(name)
        if data:
            parts.append(walltime_section(data, _load("overhead")) if name == "walltime"
                         else section(data))
            env = env or data["environment"]
    if env:
        parts += ["## Machine", f"{env['cpus']} CPUs, Python {env['python']}, 1-minute load "
                  f"average {env['load_average_1m']} when {env['when']} (shared machine); "
                  + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".", ""]
    path = RESULTS / "SUMMARY.md"
    path.write_text("\n".join(parts))
    return path
