"""Documents end to end: PDF, Word, HTML and URLs read, asked through the LLM double, cited.

Facts are planted on different pages of files built in the test; the double answers a
two-hop question only if both facts reach it, so a right answer proves the reader kept the
text, and the cited pages prove the page boundaries survived chunking. URLs are served by a
local `http.server` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from longcepo import ask, read_documents
from longcepo.cli import main as cli
from longcepo.documents.fetch import FetchError
from longcepo.nodes.errors import InputError

from llm_double import LLMDouble
from llm_double.files import build_docx, build_html, build_pdf
from llm_double.grammar import chain_question, fact_sentence
from tests.integration.servers import REPO, start_serve

ENTITY, MIDDLE, GOLD = "Ilvana Varga", "Teodric Quillan", "Vellmark"
QUESTION = chain_question(["mentor", "hometown"], ENTITY)
FIRST = fact_sentence("mentor", ENTITY, MIDDLE)
SECOND = fact_sentence("hometown", MIDDLE, GOLD)
FILLER = ("This page goes on about gardens, rivers, the price of bread and the weather in "
          "spring, as long reports do when nothing much happens. ")
SETTINGS = dict(api_key="test", model="llm-double", chunk_size=1024, max_context_window=4096,
                max_output_tokens=256, max_output_tokens_summary=120, num_neighbor_summaries=2,
                retry_backoff=0.0, max_retries=0)


def page(fact: str | None = None) -> str:
    """About 500 tokens of filler, with `fact` as a paragraph in the middle."""
    filler = (FILLER * 6).strip()
    return "\n".join([filler, fact, filler] if fact else [filler, filler])


def pdf(facts: dict[int, str], pages: int = 30) -> bytes:
    return build_pdf([page(facts.get(n)) for n in range(1, pages + 1)])


@pytest.fixture(scope="module")
def double() -> Iterator[LLMDouble]:
    with LLMDouble(exact_tokens=False) as running:
        yield running


def cited_pages(result: dict, doc_id: str) -> list[list[int]]:
    return [c["pages"] for c in result["supporting_chunks"] if c["doc_id"] == doc_id]


async def test_pdf_facts_on_two_pages_are_answered_and_cited(double, tmp_path):
    path = tmp_path / "lease.pdf"
    path.write_bytes(pdf({7: FIRST, 23: SECOND}))
    docs = read_documents([str(path)])
    result = await ask(docs, QUESTION, state_dir=tmp_path / "s", base_url=double.base_url,
                       **SETTINGS)
    assert result["answer"].strip() == GOLD
    assert [qa["answer"] for qa in result["qa_history"]] == [MIDDLE, GOLD]
    spans = cited_pages(result, str(path))
    assert len(spans) == 2  # the two chunks that hold the facts, no filler chunk
    assert [first <= 7 <= last for first, last in spans] == [True, False]
    assert [first <= 23 <= last for first, last in spans] == [False, True]
    text = docs[0]["text"]
    for fact, chunk in zip((FIRST, SECOND), result["supporting_chunks"], strict=True):
        assert chunk["start"] <= text.index(fact) < chunk["end"]  # character spans stay


async def test_word_table_and_web_page_carry_the_facts(double, tmp_path):
    word = build_docx(["Minutes of the meeting.", page(), [["Person", "Note"],
                                                             ["Ilvana", FIRST]], page()])
    html = build_html([page(), SECOND, page()], title="Village notes")
    decoy = fact_sentence("hometown", MIDDLE, "Karrowby")  # in the page's chrome only
    html = html.replace("Subscribe now", decoy).replace(  # header, script, and inside main
        "<h1>", f"<nav>{decoy}</nav><script>var s = '{decoy}';</script><h1>")
    docs = read_documents([("minutes.docx", word), ("notes.html", html.encode())])
    result = await ask(docs, QUESTION, state_dir=tmp_path / "s", base_url=double.base_url,
                       **SETTINGS)
    assert result["answer"].strip() == GOLD
    assert {c["doc_id"] for c in result["supporting_chunks"]} == {"minutes.docx", "notes.html"}
    assert all("pages" not in c for c in result["supporting_chunks"])


class Site(BaseHTTPRequestHandler):
    """Routes: path -> (status, content type, body, delay in seconds)."""

    routes: dict[str, tuple[int, str, bytes, float]] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status, kind, body, delay = self.routes.get(self.path, (404, "text/plain", b"nope", 0))
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    lease = pdf({3: FIRST, 9: SECOND}, pages=12)
    Site.routes = {
        "/lease.pdf": (200, "application/pdf", lease, 0),
        "/download": (200, "application/octet-stream", lease, 0),
        "/notes": (200, "text/html; charset=utf-8", build_html(["Plain words."]).encode(), 0),
        "/menu.txt": (200, "text/plain; charset=iso-8859-1", "Caf\xe9 cr\xe8me.".encode("latin-1"),
                      0),
        "/menu.html": (200, "text/html; charset=iso-8859-1",
                       "<p>Caf\xe9 cr\xe8me.</p>".encode("latin-1"), 0),
        "/logo.png": (200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 0),
        "/error.pdf": (200, "application/pdf", b"<html>Sorry</html>", 0),
        "/broken": (503, "text/plain", b"down", 0),
        "/slow": (200, "text/plain", b"late", 3.0),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urls_pick_the_reader_by_content_type(site):
    pdf_doc, sniffed, web = read_documents([f"{site}/lease.pdf", f"{site}/download",
                                            f"{site}/notes"])
    assert pdf_doc["id"] == f"{site}/lease.pdf" and len(pdf_doc["page_starts"]) == 12
    assert sniffed["metadata"]["format"] == "pdf"
    assert web["text"] == "A page\nPlain words." and web["metadata"]["format"] == "html"


def test_urls_are_decoded_by_the_charset_their_server_declares(site):
    text, page = read_documents([f"{site}/menu.txt", f"{site}/menu.html"])
    assert text["text"] == page["text"] == "Café crème."
    assert (text["metadata"]["format"], page["metadata"]["format"]) == ("text", "html")


@pytest.mark.parametrize("path, error, message", [
    ("/missing", InputError, "answered 404 Not Found; check the address"),
    ("/logo.png", InputError, "serves image/png, which longcepo does not read"),
    ("/error.pdf", InputError, "served as a PDF but is not one"),
    ("/broken", FetchError, "answered 503"),
    ("/slow", FetchError, "timed out"),
    ("/lease.pdf", InputError, "over the 0.000976562 MiB input limit"),
])
def test_url_failures_are_one_line(site, monkeypatch, path, error, message):
    monkeypatch.setattr("longcepo.documents.fetch.TIMEOUT", httpx.Timeout(0.5))
    limit = 1024 if path == "/lease.pdf" else 1 << 20
    with pytest.raises(error, match=message) as raised:
        read_documents([f"{site}{path}"], max_bytes=limit)
    assert "\n" not in str(raised.value)


def test_cli_asks_a_pdf_url_and_cites_pages(site, double, tmp_path, capsys):
    args = ["ask", "--context-file", f"{site}/lease.pdf", "--query", QUESTION, "--json",
            "--state-dir", str(tmp_path / "s"), "--base-url", double.base_url, "--api-key",
            "test", "--model", "llm-double", "--chunk-size", "1024", "--window", "4096",
            "--max-output-tokens", "256", "--summary-tokens", "120", "--neighbors", "2",
            "--retries", "0"]
    assert cli.main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["answer"].strip() == GOLD
    spans = cited_pages(result, f"{site}/lease.pdf")
    assert any(a <= 3 <= b for a, b in spans) and any(a <= 9 <= b for a, b in spans)


@pytest.mark.parametrize("url, code, message", [
    ("{site}/missing", 2, "answered 404"),
    ("{site}/logo.png", 2, "serves image/png"),
    ("{site}/slow", 1, "timed out"),
    ("http://127.0.0.1:9/doc.pdf", 1, "cannot fetch http://127.0.0.1:9/doc.pdf"),
])
def test_cli_url_failures_exit_with_one_line(site, tmp_path, capsys, monkeypatch, url, code,
                                             message):
    monkeypatch.setattr("longcepo.documents.fetch.TIMEOUT", httpx.Timeout(0.5))
    status = cli.main(["ask", "--context-file", url.format(site=site), "--query", "q?",
                       "--state-dir", str(tmp_path / "s"), "--base-url", "http://127.0.0.1:9/v1",
                       "--api-key", "k"])
    err = capsys.readouterr().err
    assert status == code and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_langserve_takes_documents_with_pages_and_cites_them(double, tmp_path):
    """A client reads the PDF with the shared reader; the served run cites its pages."""
    served = start_serve(tmp_path, "--base-url", double.base_url, "--api-key", "test",
                         "--model", "llm-double", "--state-dir", str(tmp_path / "state"),
                         "--chunk-size", "1024", "--window", "4096", "--max-output-tokens",
                         "256", "--retries", "0")
    try:
        docs = read_documents([("lease.pdf", pdf({4: FIRST, 11: SECOND}, pages=14))])
        reply = httpx.post(f"{served.url}/longcepo/invoke", timeout=120,
                           json={"input": {"context": docs, "query": QUESTION}})
        assert reply.status_code == 200, reply.text
        output = reply.json()["output"]
        assert output["answer"].strip() == GOLD
        spans = cited_pages(output, "lease.pdf")
        assert any(a <= 4 <= b for a, b in spans) and any(a <= 11 <= b for a, b in spans)

        bad = [{**docs[0], "page_starts": [5, 1]}]
        reply = httpx.post(f"{served.url}/longcepo/invoke", timeout=30,
                           json={"input": {"context": bad, "query": QUESTION}})
        assert reply.status_code == 400 and "page_starts must be ascending" in reply.text
    finally:
        served.stop()


def test_a_pdf_piped_to_stdin_of_the_real_command(double, tmp_path):
    """`cat lease.pdf | longcepo ask --context-file - -v`: a real pipe into a real process."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "LANGSMITH_TRACING": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "longcepo", "ask", "--context-file", "-", "--query", QUESTION,
         "-v", "--state-dir", str(tmp_path), "--base-url", double.base_url, "--api-key", "k",
         "--model", "llm-double", "--chunk-size", "1024", "--window", "4096",
         "--max-output-tokens", "256", "--retries", "0"],
        input=pdf({5: FIRST, 12: SECOND}, pages=15), cwd=REPO, env=env, capture_output=True,
        timeout=120)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert done.stdout.decode().strip() == GOLD
    assert "read stdin: pdf, 15 pages, " in err
    sources = [line for line in err.splitlines() if line.startswith("source: stdin p. ")]
    assert len(sources) == 2 and "Traceback" not in err
