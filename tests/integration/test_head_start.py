"""The CLI's first call leaves before LangGraph loads, and the normalize node takes its reply.

One request either way: the early reply is the node's reply, counted once in its usage. A
request the run would refuse, or a run that makes no normalize call, sends nothing early.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from longcepo.cli import main as cli
from longcepo.nodes import endpoint
from longcepo.runtime.head_start import send_normalize
from longcepo.state import Context

from llm_double import LLMDouble
from llm_double.corpus import needle_task

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--chunk-size", "512", "--window", "2048", "--max-output-tokens", "200"]
HEAVY = ("langgraph", "langchain_core", "langchain_openai", "langsmith", "openai", "httpx")

PROBE = """
import asyncio, json, sys
from longcepo.nodes import endpoint
from longcepo.nodes.tokens import _build
from longcepo.runtime.head_start import send_normalize
from longcepo.state import Context

async def main():
    ctx = Context(base_url=sys.argv[1], api_key="k", model="llm-double")
    sent = await send_normalize(ctx, "  Who designed the dam?  ", [{"id": "d", "text": "A dam."}])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(","))
    loaded += ["tokenizer"] * _build.cache_info().currsize  # the defaults pass by the bound
    reply = await endpoint.endpoint(ctx).early[0].reply
    await endpoint.close_endpoints()
    print(json.dumps({"sent": sent, "loaded": loaded, "status": reply.status_code}))

asyncio.run(main())
"""


def test_the_first_call_leaves_before_langgraph_is_imported(llm_double: LLMDouble) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, llm_double.base_url, ",".join(HEAVY)],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(done.stdout)
    assert out == {"sent": True, "loaded": [], "status": 200}
    assert llm_double.stats()["stages"] == {"normalize": 1}


@pytest.mark.parametrize(("options", "formats"), [
    ([], ("json_schema", "json_object")),  # the plan asks JSON in the first form
    (["--structured-output", "off"], ("json_schema", "json_object")),  # the plan asks text
    ([], ("json_object",)),  # the early plan is refused; the node's next form follows it
])
def test_the_normalize_and_plan_nodes_take_the_early_replies(
        llm_double: LLMDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, options: list[str], formats: tuple[str, ...]) -> None:
    llm_double.configure(response_formats=formats)
    taken: list[str] = []
    take = endpoint.Endpoint.take_early

    def spy(self: endpoint.Endpoint, url: str, body: dict, headers: dict) -> object:
        reply = take(self, url, body, headers)
        taken.append(headers["X-Longcepo-Stage"] + (" taken" if reply is not None else ""))
        return reply

    monkeypatch.setattr(endpoint.Endpoint, "take_early", spy)
    doc = needle_task(3000, seed=3)
    path = tmp_path / "doc.md"
    path.write_text(doc.text)
    code = cli.main(["ask", "--context-file", str(path), "--query", f"  {doc.task.question} ",
                     "--state-dir", str(tmp_path / "state"), "--base-url", llm_double.base_url,
                     "--api-key", "k", "--json", *SMALL, *options])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["answer"].strip() == doc.task.gold
    # each found its reply waiting; once none is left, later calls do not look
    assert taken == ["normalize taken", "plan taken"]
    stats = llm_double.stats()
    usage = result["usage"]
    assert stats["stages"]["normalize"] == 1 == usage["normalize"]["calls"]
    refusals = len(set(("json_schema", "json_object")) - set(formats)) if not options else 0
    assert stats["stages"]["plan"] == 1 + refusals == usage["plan"]["calls"]
    assert stats["requests"] == sum(u["calls"] for u in usage.values())
    assert [e["stage"] for e in llm_double.log[:2]] == ["normalize", "plan"]


@pytest.mark.parametrize("fault", ["empty", "http_500"])
def test_a_normalize_reply_the_node_rejects_sends_no_early_plan(
        llm_double: LLMDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        fault: str) -> None:
    """The node asks again; an early plan would have planned from the wrong question."""
    llm_double.configure(faults=[{"stage": "normalize", "nth": [1], "fault": fault}])
    doc = needle_task(3000, seed=3)
    path = tmp_path / "doc.md"
    path.write_text(doc.text)
    code = cli.main(["ask", "--context-file", str(path), "--query", doc.task.question,
                     "--state-dir", str(tmp_path / "state"), "--base-url", llm_double.base_url,
                     "--api-key", "k", "--json", *SMALL])
    usage = json.loads(capsys.readouterr().out)["usage"]
    assert code == 0
    assert usage["normalize"]["calls"] == 2  # the rejected reply, then the node's own
    assert llm_double.stats()["stages"]["plan"] == 1 == usage["plan"]["calls"]
    assert llm_double.stats()["requests"] == sum(u["calls"] for u in usage.values())


@pytest.mark.parametrize(("change", "query", "text"), [
    ({"use_plan": False}, "Who designed the dam?", "A dam."),  # no normalize call at all
    ({}, "   ", "A dam."),  # an empty query is refused
    ({"max_context_window": 2048, "chunk_size": 1024}, "why " * 900, "A dam."),  # too long
    ({"max_document_tokens": 5}, "Who designed the dam?", "A dam on the river Brenn."),
    ({}, "Who designed the dam?", "   "),  # an empty document is refused
    ({"max_context_window": 700}, "Who designed the dam?", "A dam."),  # no room at all
])
def test_nothing_is_sent_early_for_a_run_that_makes_no_such_call(
        llm_double: LLMDouble, change: dict[str, object], query: str, text: str) -> None:
    ctx = Context(base_url=llm_double.base_url, api_key="k", model="llm-double",
                  max_output_tokens=200, **change)  # type: ignore[arg-type]

    async def attempt() -> bool:
        sent = await send_normalize(ctx, query, [{"id": "d", "text": text}])
        await asyncio.sleep(0.2)
        await endpoint.close_endpoints()
        return sent

    assert asyncio.run(attempt()) is False
    assert llm_double.stats()["requests"] == 0


def test_tracing_keeps_the_first_call_on_the_traced_path(llm_double: LLMDouble,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGSMITH_TRACING_V2", "true")  # the call must become a traced run
    ctx = Context(base_url=llm_double.base_url, api_key="k", model="llm-double")

    async def attempt() -> bool:
        try:
            return await send_normalize(ctx, "Who designed the dam?",
                                        [{"id": "d", "text": "A dam."}])
        finally:
            await endpoint.close_endpoints()

    assert asyncio.run(attempt()) is False


def test_an_early_reply_nobody_takes_is_dropped_quietly(
        llm_double: LLMDouble, recwarn: pytest.WarningsRecorder) -> None:
    llm_double.configure(latency=5.0)  # still in flight when the run ends
    ctx = Context(base_url=llm_double.base_url, api_key="k", model="llm-double")

    async def attempt() -> None:
        assert await send_normalize(ctx, "Who designed the dam?", [{"id": "d", "text": "A dam."}])
        await asyncio.sleep(0.1)
        early = endpoint.endpoint(ctx).early[0].reply
        await endpoint.close_endpoints()
        assert early.cancelled()

    asyncio.run(attempt())
    assert not [w for w in recwarn if "never retrieved" in str(w.message)]


def test_settings_the_run_refuses_cost_no_call(llm_double: LLMDouble, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "doc.md"
    path.write_text("A dam on the river Brenn.")
    code = cli.main(["ask", "--context-file", str(path), "--query", "Who designed the dam?",
                     "--state-dir", str(tmp_path / "state"), "--base-url", llm_double.base_url,
                     "--api-key", "k", "--window", "900", "--chunk-size", "512",
                     "--max-output-tokens", "200"])
    err = capsys.readouterr().err
    assert code == 2 and "a 900-token window cannot hold the map template" in err
    assert llm_double.stats()["requests"] == 0
