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
HEAVY = ("langgraph", "langchain_core", "langchain_openai", "langsmith", "openai")

PROBE = """
import asyncio, json, sys
from longcepo.nodes import endpoint
from longcepo.runtime.head_start import send_normalize
from longcepo.state import Context

async def main():
    ctx = Context(base_url=sys.argv[1], api_key="k", model="llm-double")
    sent = send_normalize(ctx, "  Who designed the dam?  ", [{"id": "d", "text": "A dam."}])
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(","))
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


def test_the_normalize_node_takes_the_early_reply(llm_double: LLMDouble, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    take = endpoint.Endpoint.take_early

    def spy(self: endpoint.Endpoint, *args: object) -> object:
        reply = take(self, *args)  # type: ignore[arg-type]
        taken.append(reply is not None)
        return reply

    monkeypatch.setattr(endpoint.Endpoint, "take_early", spy)
    doc = needle_task(3000, seed=3)
    path = tmp_path / "doc.md"
    path.write_text(doc.text)
    code = cli.main(["ask", "--context-file", str(path), "--query", f"  {doc.task.question} ",
                     "--state-dir", str(tmp_path / "state"), "--base-url", llm_double.base_url,
                     "--api-key", "k", "--json", *SMALL])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["answer"].strip() == doc.task.gold
    assert taken == [True]  # the first call found its reply waiting; later calls had none
    stats = llm_double.stats()
    assert stats["stages"]["normalize"] == 1 == result["usage"]["normalize"]["calls"]
    assert stats["requests"] == sum(u["calls"] for u in result["usage"].values())
    assert llm_double.log[0]["stage"] == "normalize"


@pytest.mark.parametrize(("change", "query", "text"), [
    ({"use_plan": False}, "Who designed the dam?", "A dam."),  # no normalize call at all
    ({}, "   ", "A dam."),  # an empty query is refused
    ({"max_context_window": 2048, "chunk_size": 1024}, "why " * 900, "A dam."),  # too long
    ({"max_document_tokens": 5}, "Who designed the dam?", "A dam on the river Brenn."),
    ({}, "Who designed the dam?", "   "),  # an empty document is refused
])
def test_nothing_is_sent_early_for_a_run_that_makes_no_such_call(
        llm_double: LLMDouble, change: dict[str, object], query: str, text: str) -> None:
    ctx = Context(base_url=llm_double.base_url, api_key="k", model="llm-double",
                  max_output_tokens=200, **change)  # type: ignore[arg-type]

    async def attempt() -> bool:
        sent = send_normalize(ctx, query, [{"id": "d", "text": text}])
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
            return send_normalize(ctx, "Who designed the dam?", [{"id": "d", "text": "A dam."}])
        finally:
            await endpoint.close_endpoints()

    assert asyncio.run(attempt()) is False


def test_an_early_reply_nobody_takes_is_dropped_quietly(
        llm_double: LLMDouble, recwarn: pytest.WarningsRecorder) -> None:
    llm_double.configure(latency=5.0)  # still in flight when the run ends
    ctx = Context(base_url=llm_double.base_url, api_key="k", model="llm-double")

    async def attempt() -> None:
        assert send_normalize(ctx, "Who designed the dam?", [{"id": "d", "text": "A dam."}])
        await asyncio.sleep(0.1)
        early = endpoint.endpoint(ctx).early[0].reply
        await endpoint.close_endpoints()
        assert early.cancelled()

    asyncio.run(attempt())
    assert not [w for w in recwarn if "never retrieved" in str(w.message)]
