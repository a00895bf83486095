"""Framework overhead per LLM call, with a zero-latency double in its own process.

How it is measured: the double runs in a separate process in approximate-token mode, so none
of its CPU is counted. In this process, `time.process_time()` around a whole run divided by the
calls the double served is the product's CPU per call. The same number of calls made straight
through the client path the graph takes (`nodes.endpoint.complete`, plain HTTP; same kwargs,
messages of the run's mean prompt size, same concurrency) is the client stack's share;
framework overhead is the difference: LangGraph, longcepo's nodes, the store and the event
loop around each call. ChatOpenAI (the path when callbacks listen) and a bare
`openai.AsyncOpenAI` loop are shown too.

With py-spy installed, a sampled profile of the same run attributes the CPU to layers.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite.core
import httpx
import openai
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from longcepo.graph import graph
from longcepo.nodes import endpoint
from longcepo.nodes import store as chunk_store
from longcepo.nodes.ingest import ingest
from longcepo.prompts.system import QA_SYSTEM
from longcepo.runtime.api import run_config, sqlite_graph, store_input

from bench.common import MODEL, context, double, make_question, usage_total, write

log = logging.getLogger(__name__)
TOKENS = 256_000
KIND = "chain2"
REPEATS = 3
CONCURRENCY = 16  # the product's default max_concurrency
PROMPT_CHARS = 20_000  # about a map prompt of the default Context (5K tokens)
FRAMEWORK_LAYERS = ("LangGraph", "longcepo nodes", "store and checkpoints (SQLite)")
SETUP_MARKS = (";make_question (", ";ingest (", ";_build (", ";chat_model (")


async def graph_run(base_url: str, seed: int, state_dir: str | None = None) -> dict[str, Any]:
    """One graph run, timed from after ingest: chunking is per document, not per call.

    Without `state_dir`: the plain graph (in-memory store, no checkpointer). With it: SQLite
    checkpoints and store through `graph.api`, as the CLI runs.
    """
    q = make_question(KIND, TOKENS, seed=seed)
    ctx = context(base_url)
    if state_dir is None:
        await ingest(chunk_store.resolve(None), ctx, q.text)  # prepare() then finds the chunks
        cpu, wall = time.process_time(), time.perf_counter()
        result = await graph.ainvoke({"context": q.text, "query": q.question}, context=ctx,
                                     config={"max_concurrency": 256})
    else:
        async with sqlite_graph(state_dir) as durable:
            payload = await store_input(durable, ctx, q.text, q.question)
            cpu, wall = time.process_time(), time.perf_counter()
            result = await durable.ainvoke(payload, run_config(f"bench-{seed}", 16),
                                           context=ctx, durability="sync")
    return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
            "calls": usage_total(result["usage"], "calls"),
            "correct": result["answer"].strip() == q.gold}


async def measure(base_url: str, repeats: int, state_dir: str) -> dict[str, list[dict]]:
    """Graph runs (in memory and SQLite) interleaved with client-only runs of as many calls.

    All run on one event loop as in a server, so load on the machine hits all alike.
    """
    await graph_run(base_url, seed=99)  # warm-up: imports, client construction
    rows: dict[str, list[dict]] = {"graph_in_memory": [], "graph_sqlite": [],
                                   "chatopenai_only": [], "openai_only": [], "direct_only": []}
    for i in range(repeats):
        rows["graph_in_memory"].append(await graph_run(base_url, seed=i))
        rows["graph_sqlite"].append(await graph_run(base_url, seed=i + 50, state_dir=state_dir))
        calls = rows["graph_in_memory"][-1]["calls"]
        for mode in ("chatopenai", "openai", "direct"):
            rows[f"{mode}_only"].append(await client_calls(base_url, calls, PROMPT_CHARS, mode))
    return rows


async def client_calls(base_url: str, calls: int, prompt_chars: int, mode: str) -> dict:
    """`calls` requests through ChatOpenAI, the bare openai client, or longcepo's direct path.

    `direct` is what the graph uses when no callbacks listen: `nodes.endpoint.complete`.
    """
    gate = asyncio.Semaphore(CONCURRENCY)
    text = ("<passage>" + "lorem ipsum " * (prompt_chars // 12))[:prompt_chars]
    closing: Any = None
    if mode == "direct":
        ctx = context(base_url, max_concurrency=CONCURRENCY)

        async def call(i: int) -> None:
            async with gate:
                await endpoint.complete(
                    ctx, [SystemMessage(QA_SYSTEM), HumanMessage(f"{text} {i}")],
                    {"temperature": 0.7, "top_p": 0.7, "max_tokens": 1024},
                    {"X-Longcepo-Stage": "map"})
    elif mode == "openai":
        client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        closing = client.close

        async def call(i: int) -> None:
            async with gate:
                await client.chat.completions.create(
                    model=MODEL, max_tokens=1024, temperature=0.7, top_p=0.7,
                    messages=[{"role": "system", "content": QA_SYSTEM},
                              {"role": "user", "content": f"{text} {i}"}])
    else:
        model = ChatOpenAI(model=MODEL, base_url=base_url, api_key="bench",  # type: ignore[arg-type]
                           max_retries=0, use_responses_api=False, timeout=120.0,
                           http_async_client=httpx.AsyncClient(timeout=120.0))

        async def call(i: int) -> None:
            async with gate:
                await model.ainvoke(
                    [SystemMessage(QA_SYSTEM), HumanMessage(f"{text} {i}")],
                    config={"run_name": "map", "metadata": {"longcepo_stage": "map"},
                            "tags": ["longcepo:map"]},
                    extra_headers={"X-Longcepo-Stage": "map"},
                    temperature=0.7, top_p=0.7, max_tokens=1024)

    await asyncio.gather(*(call(i) for i in range(20)))  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(call(i) for i in range(calls)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if closing is not None:
        await closing()
    return {"cpu_s": cpu, "wall_s": wall, "calls": calls}


def per_call(rows: list[dict[str, float]]) -> dict[str, float]:
    """Median CPU and wall milliseconds per call over the repeats."""
    return {"cpu_ms_per_call": round(statistics.median(
                1000 * r["cpu_s"] / r["calls"] for r in rows), 3),
            "wall_ms_per_call": round(statistics.median(
                1000 * r["wall_s"] / r["calls"] for r in rows), 3)}


LAYERS = (  # package path fragments -> layer; the innermost non-stdlib frame decides
    ("client stack (HTTP connection, or ChatOpenAI, openai, httpx)",
     ("/nodes/connection.py", "/nodes/endpoint.py", "/langchain_openai/", "/openai/", "/httpx",
      "/httpcore", "/anyio/", "/h11/")),
    ("langchain-core around the call", ("/langchain_core/", "/langsmith/", "/pydantic")),
    ("token counting (tiktoken)", ("/tiktoken/",)),
    ("store and checkpoints (SQLite)", ("sqlite",)),
    ("LangGraph", ("/langgraph/",)),
    ("longcepo nodes", ("/nodes/", "/prompts/", "/state.py", "/graph/")),
)


def layer_of(stack: str) -> str:
    """The layer of a sampled stack (frames root first, `;`-separated)."""
    for frame in reversed(stack.split(";")):
        path = frame.rpartition(" (")[2]
        if "site-packages" not in path and "/lib/python3" in path:
            continue  # the standard library works for whoever called it
        for name, marks in LAYERS:
            if any(m in path for m in marks):
                return name
    return "event loop and other"


def _aiosqlite_idle_frame() -> str:
    """How py-spy names aiosqlite's worker thread waiting for work (`tx.get()`)."""
    lines, first = inspect.getsourcelines(aiosqlite.core._connection_worker_thread)
    at = first + next(i for i, line in enumerate(lines) if "tx.get()" in line)
    return f"_connection_worker_thread ({aiosqlite.core.__file__}:{at})"


def profile(repeats: int = 1, sqlite: bool = False) -> dict[str, Any] | None:
    """Sample graph runs with py-spy (if installed); CPU shares by layer."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        command = [spy, "record", "-r", "200", "-f", "raw", "--full-filenames", "-o", str(raw),
                   "--", sys.executable, "-m", "bench.overhead", "--worker", str(repeats),
                   *(["sqlite"] if sqlite else [])]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode or not raw.exists():
            log.warning("py-spy failed: %s", done.stderr.strip()[-300:])
            return None
        shares: collections.Counter[str] = collections.Counter()
        idle = _aiosqlite_idle_frame()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if "run_until_complete" in stack and not any(m in stack for m in SETUP_MARKS):
                shares[layer_of(stack)] += int(count)  # not imports, documents or ingest
            elif "_connection_worker_thread" in stack and not stack.endswith(idle):
                shares["store and checkpoints (SQLite)"] += int(count)  # SQL in its thread
    total = sum(shares.values())
    return {"samples": total, "rate_hz": 200,
            "shares": {k: round(v / total, 4) for k, v in shares.most_common()}}


def run() -> dict[str, Any]:
    """Measure and write overhead.json."""
    with double("--approx-tokens") as d, tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(measure(d.base_url, REPEATS, tmp))
        served = d.stats()
    costs = {name: per_call(r) for name, r in rows.items()}
    client = costs["direct_only"]["cpu_ms_per_call"]  # the client path the graph takes
    prof, prof_sqlite = profile(), profile(sqlite=True)
    payload: dict[str, Any] = {
        "method": __doc__,
        "task": {"kind": KIND, "tokens": TOKENS, "calls_per_run": rows["graph_in_memory"][0][
            "calls"], "prompt_chars_client_only": PROMPT_CHARS, "concurrency": CONCURRENCY,
            "repeats": REPEATS, "double_mean_prompt_tokens": served["prompt_tokens"] // max(
                1, served["requests"])},
        **{name: {**costs[name], "runs": r} for name, r in rows.items()},
        "framework_overhead_cpu_ms_per_call": round(
            costs["graph_in_memory"]["cpu_ms_per_call"] - client, 3),
        "framework_overhead_sqlite_cpu_ms_per_call": round(
            costs["graph_sqlite"]["cpu_ms_per_call"] - client, 3),
        "target_ms_per_call": 2.0,
        "profile": prof,
        "profile_sqlite": prof_sqlite,
    }
    for key, found, cost in (("", prof, costs["graph_in_memory"]),
                             ("_sqlite", prof_sqlite, costs["graph_sqlite"])):
        if found:
            framework = sum(v for k, v in found["shares"].items() if k in FRAMEWORK_LAYERS)
            payload[f"framework_overhead_profile{key}_ms_per_call"] = round(
                framework * cost["cpu_ms_per_call"], 3)
    write("overhead", payload)
    log.info("overhead: graph %.2f ms/call CPU, direct calls alone %.2f, framework %.2f",
             costs["graph_in_memory"]["cpu_ms_per_call"], client,
             payload["framework_overhead_cpu_ms_per_call"])
    return payload


async def _profiled(base_url: str, repeats: int, state_dir: str | None) -> None:
    await graph_run(base_url, seed=99, state_dir=state_dir)
    for i in range(repeats):
        await graph_run(base_url, seed=i, state_dir=state_dir)


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    logging.basicConfig(level=logging.WARNING)
    with double("--approx-tokens") as worker_double, tempfile.TemporaryDirectory() as folder:
        asyncio.run(_profiled(worker_double.base_url, int(sys.argv[2]),
                              folder if sys.argv[3:4] == ["sqlite"] else None))
