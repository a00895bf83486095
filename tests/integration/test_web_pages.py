"""The served web pages in a real headless Chromium: the playground runs a question, /docs renders.

Both against a server with a key, so the login form and its cookie are exercised too; no page
may log a console error or fetch anything from another host. Needs Debian's `chromium`
(`.ci/run` installs it); skipped without it unless LONGCEPO_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import pytest

from llm_double import corpus
from tests.integration.browser import Page, chromium_path, with_page
from tests.integration.servers import SMALL, child_env, start_serve

KEY = "browser-key-7321"
MESSAGE_BOX = "document.getElementById('#/properties/message-input')"

if not chromium_path():
    reason = "needs Chromium for the browser tests: apt-get install -y chromium"
    if os.environ.get("LONGCEPO_REQUIRE_BROWSER") == "1":
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def server(double, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    served = start_serve(tmp, "--base-url", double.base_url, "--state-dir", str(tmp / "state"),
                         *SMALL, env=child_env(LONGCEPO_API_KEY=KEY))
    yield served
    served.stop()


async def type_into(page: Page, element: str, text: str) -> None:
    """Type like a user (real input events), then leave the field so the form takes it."""
    await page.evaluate(f"{element}.focus()")
    await page.send("Input.insertText", text=text)
    await page.evaluate(f"{element}.blur()")
    await asyncio.sleep(1.0)  # the form renderer debounces its state updates


async def log_in(page: Page) -> None:
    await page.wait_for("document.querySelector('input[type=password]')")
    await type_into(page, "document.querySelector('input[type=password]')", KEY)
    await page.evaluate("document.querySelector('form').submit()")


def assert_clean(page: Page, server_url: str) -> None:
    assert page.log.errors == [], page.log.errors
    assert page.log.failed_requests == []
    elsewhere = [u for u in page.log.requested
                 if not u.startswith((server_url, "data:", "about:"))]
    assert elsewhere == [], "the page fetched from another host"


def test_the_playground_logs_in_renders_and_answers_a_question(server, tmp_path):
    task = corpus.needle_task(1_500, seed=3)

    async def work(page: Page) -> str:
        await log_in(page)
        await page.wait_for(MESSAGE_BOX)
        assert await page.evaluate("location.pathname") == "/longcepo/playground/"
        for setting in ("CHUNK_SIZE", "MAX_CONTEXT_WINDOW", "SYSTEM_PROMPT"):
            assert setting in await page.evaluate("document.body.innerText")
        await type_into(page, MESSAGE_BOX, f"{task.text}<CONTEXT_END>{task.task.question}")
        await page.evaluate("[...document.querySelectorAll('button')]"
                            ".find(b => b.innerText.trim() === 'Start').click()")
        answered = f'"answer": {json.dumps(task.task.gold)}'
        await page.wait_for(f"document.body.innerText.includes({json.dumps(answered)})", 60)
        await page.screenshot(tmp_path / "playground.png")
        assert_clean(page, server.url)
        return str(await page.evaluate("document.body.innerText"))

    text = asyncio.run(with_page(f"{server.url}/longcepo/playground/", work, timeout=120))
    assert '"event": "map_done"' in text, "the streamed progress events are shown"
    assert (tmp_path / "playground.png").read_bytes()[:4] == b"\x89PNG"
    assert KEY not in server.log(), "the key never reaches the log"


def test_the_api_docs_render_from_local_files(server):
    async def work(page: Page) -> str:
        await log_in(page)
        await page.wait_for("document.querySelectorAll('.swagger-ui .opblock').length > 5", 30)
        assert_clean(page, server.url)
        return str(await page.evaluate("document.body.innerText"))

    text = asyncio.run(with_page(f"{server.url}/docs", work))
    assert "/v1/chat/completions" in text and "/longcepo/invoke" in text


def test_the_login_cookie_opens_the_pages_but_not_the_openai_route(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/longcepo/playground/", headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/longcepo/playground/"
        wrong = client.post("/login", data={"key": "nope", "next": "/docs"})
        assert wrong.status_code == 401 and "That is not the server" in wrong.text
        assert not client.cookies
        right = client.post("/login", data={"key": KEY, "next": "https://elsewhere.example/"})
        assert right.status_code == 303 and right.headers["location"] == "/longcepo/playground/"
        assert KEY not in right.headers["set-cookie"] and "HttpOnly" in right.headers["set-cookie"]
        assert client.get("/longcepo/playground/").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/v1/models").status_code == 401, "the OpenAI route needs the header"


def test_start_on_an_empty_playground_form_is_a_400_not_a_broken_stream(server, double):
    before = len(double.log)
    reply = httpx.post(f"{server.url}/longcepo/stream_log", headers={"Authorization":
                       f"Bearer {KEY}"}, json={"input": {"documents": []},
                                               "config": {"configurable": {}}}, timeout=30)
    assert reply.status_code == 400 and "the input is empty" in reply.json()["error"]["message"]
    assert len(double.log) == before and "Traceback" not in server.log()
