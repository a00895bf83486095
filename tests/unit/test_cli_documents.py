"""`longcepo ask` over PDF, Word, HTML and stdin: page citations, and one line per bad input."""

from __future__ import annotations

import io
import json
import sys
from types import SimpleNamespace

import pytest
from longcepo.cli import main as cli
from longcepo.nodes.llm import override_chat_model

from llm_double.files import build_docx, build_html, build_pdf
from tests.fakes import make_model
from tests.unit.scripted import FILLER, reader
from tests.unit.test_cli import BASE
from tests.unit.test_documents import _zip, encrypted

QUESTION = "What is the code of Alpha?"


def pdf_with_code(page: int, pages: int = 8) -> bytes:
    """A PDF whose pages are filler, and whose page `page` alone states Alpha's code."""
    texts = [FILLER * 25 for _ in range(pages)]
    texts[page - 1] = FILLER * 10 + "The code of Alpha is 4242.\n" + FILLER * 10
    return build_pdf(texts)


def ask(tmp_path, *args: str) -> tuple[int, object]:
    model = make_model(reader)
    with override_chat_model(model):
        code = cli.main(["ask", "--query", QUESTION, "--state-dir", str(tmp_path / "s"),
                         *BASE, *args])
    return code, model


def test_a_pdf_answer_cites_its_page(tmp_path, capsys):
    path = tmp_path / "contract.pdf"
    path.write_bytes(pdf_with_code(page=6))
    code, _ = ask(tmp_path, "--context-file", str(path), "--json")
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["answer"] == "4242"
    (chunk,) = result["supporting_chunks"]
    assert chunk["doc_id"] == str(path) and chunk["pages"][0] <= 6 <= chunk["pages"][-1]

    code, _ = ask(tmp_path, "--context-file", str(path), "-v")
    out, err = capsys.readouterr()
    first, last = chunk["pages"]
    span = f"p. {first}" if first == last else f"p. {first}\u2013{last}"
    assert code == 0 and out.strip() == "4242"
    assert f"source: {path} {span}, chars {chunk['start']}-{chunk['end']}" in err
    assert f"read {path}: pdf, 8 pages, " in err
    assert len(list((tmp_path / "s" / "documents").glob("*.json"))) == 1  # extracted once


def test_text_sources_keep_their_character_spans(tmp_path, capsys):
    path = tmp_path / "notes.md"
    path.write_text(FILLER * 20 + "The code of Alpha is 4242.\n")
    code, _ = ask(tmp_path, "--context-file", str(path), "--json")
    (chunk,) = json.loads(capsys.readouterr().out)["supporting_chunks"]
    assert code == 0 and "pages" not in chunk and chunk["end"] > chunk["start"]


def test_stdin_word_and_html_documents(tmp_path, capsys, monkeypatch):
    stdin = SimpleNamespace(buffer=io.BytesIO(pdf_with_code(2, 3)), isatty=lambda: False)
    monkeypatch.setattr(sys, "stdin", stdin)
    word = tmp_path / "memo.docx"
    word.write_bytes(build_docx(["Filler paragraph.", [["Name", "Code"], ["Beta", "7"]]]))
    page = tmp_path / "page.html"
    page.write_text(build_html(["Nothing about codes here."]))
    code, model = ask(tmp_path, "--context-file", "-", "--context-file", str(word),
                      "--context-file", str(page), "--json")
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["answer"] == "4242"
    assert [c["doc_id"] for c in result["supporting_chunks"]] == ["stdin"]
    passages = " ".join(str(c["messages"][-1].content) for c in model.calls)
    assert "Name | Code" in passages and "Nothing about codes here." in passages
    assert "Subscribe now" not in passages  # the page's header was dropped


@pytest.mark.parametrize("name, data, message", [
    ("locked.pdf", lambda: encrypted(pdf_with_code(1, 2), "pw"),
     "encrypted PDF; pass its password with --pdf-password"),
    ("scan.pdf", lambda: build_pdf(["", "", "", ""]),
     "no extractable text on 4 pages (a scan?): run OCR first"),
    ("cut.pdf", lambda: pdf_with_code(1, 2)[:700], "truncated PDF"),
    ("renamed.txt", lambda: pdf_with_code(1, 2)[:700], "truncated PDF"),
    ("mangled.pdf", lambda: b"%PDF-1.4\n" + b"\x00junk" * 99 + b"\n%%EOF\n", "not a readable PDF"),
    ("memo.docx", lambda: b"\x00\x01not a zip" * 10, "is named .docx but is not a Word"),
    ("memo.docx", lambda: build_docx(["text"])[:400], "damaged zip archive"),
    ("bomb.docx", lambda: _zip({"word/document.xml": b"<w/>", "pad": b"\x00" * (3 << 20)}),
     "decompresses to 3 MiB, over the 2 MiB cap"),
    ("app.html", lambda: b"<!doctype html><nav>Menu</nav><script>x()</script>",
     "no text left in the HTML"),
])
def test_bad_documents_exit_2_with_one_line(tmp_path, capsys, monkeypatch, name, data, message):
    monkeypatch.setattr("longcepo.documents.limits.MAX_UNPACKED_BYTES", 2 << 20)
    path = tmp_path / name
    path.write_bytes(data())
    code, model = ask(tmp_path, "--context-file", str(path))
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and model.calls == []


def test_the_pdf_password_option_opens_an_encrypted_pdf(tmp_path, capsys):
    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypted(pdf_with_code(2, 3), "pw"))
    code, _ = ask(tmp_path, "--context-file", str(path), "--pdf-password", "pw")
    assert code == 0 and capsys.readouterr().out.strip() == "4242"
    saved = list((tmp_path / "s" / "runs").glob("*.json"))
    assert saved and all('"pw"' not in p.read_text() for p in saved)


def test_stdin_given_twice_is_one_line(tmp_path, capsys):
    code, _ = ask(tmp_path, "--context-file", "-", "--context-file", "-")
    err = capsys.readouterr().err
    assert code == 2 and "can be given once" in err and len(err.strip().splitlines()) == 1


def test_stdin_from_a_terminal_says_to_pipe_a_document(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(), isatty=lambda: True))
    code, model = ask(tmp_path, "--context-file", "-")
    err = capsys.readouterr().err
    assert code == 2 and "stdin, which is a terminal; pipe a document in" in err
    assert model.calls == []


def test_ctrl_c_while_reading_offers_no_resume(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("longcepo.cli.ask.read_documents", interrupted)
    code, _ = ask(tmp_path, "--context-file", str(tmp_path))
    err = capsys.readouterr().err
    assert code == 130 and "interrupted while reading the documents" in err
    assert "--resume" not in err
