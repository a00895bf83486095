"""What `nodes.llm` puts on the wire, seen by a plain HTTP server on loopback."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.messages import HumanMessage
from longcepo.nodes import llm
from longcepo.state import Context


@contextlib.contextmanager
def fixed_reply(content, finish_reason="stop", prompt_tokens=3, completion_tokens=1):
    """A plain HTTP server on loopback answering every chat request with `content`.

    Yields its base URL and the request bodies it received.
    """
    bodies = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            reply = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": finish_reason,
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", bodies
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def capture():
    with fixed_reply("ok") as served:
        yield served


async def test_the_output_cap_is_sent_as_max_tokens(capture):
    """llama.cpp's Python server ignores `max_completion_tokens`; a cap it drops lets a small
    model that repeats itself generate until its context is full."""
    url, bodies = capture
    ctx = Context(base_url=url, api_key="k", model="m", seed=7)
    text, usage = await llm.invoke(ctx, "map", [HumanMessage("hi")], max_tokens=128)
    assert text == "ok" and usage.prompt_tokens == 3 and usage.completion_tokens == 1
    (body,) = bodies
    assert body["max_tokens"] == 128 and "max_completion_tokens" not in body
    assert body["temperature"] == ctx.temperature_map and body["seed"] == 7


async def test_response_format_travels_as_given_and_a_cut_reply_is_kept():
    """The SDK's parse path would rewrite the format and throw away a reply cut at the cap."""
    from longcepo.nodes import structured
    from longcepo.nodes.protocols import parse_answer

    cut = json.dumps({"rationale": "the dam was designed by Tomas Reyl", "answer": "Vellm"})[:-2]
    with fixed_reply(cut, "length", prompt_tokens=30, completion_tokens=16) as (url, bodies):
        ctx = Context(base_url=url, api_key="k", model="m", structured_output="json_object")
        schema = structured.schema("reduce", 64)
        answer, text, usage = await llm.ask(ctx, "reduce", [HumanMessage("q")], parse_answer,
                                            max_tokens=64, schema=schema)
    (body,) = bodies
    assert body["response_format"] == {"type": "json_object", "schema": schema}
    assert body["messages"][-1]["content"].endswith("Reply as a JSON object: rationale, answer.")
    assert answer == "Vellm" and text.startswith("Rationale: the dam")
    assert (usage.calls, usage.structured_calls, usage.format_retries) == (1, 1, 0)
    assert (usage.prompt_tokens, usage.completion_tokens) == (30, 16)
