"""The document reader: formats told by content, page boundaries, and one line per bad input.

Every file is built in the test (`llm_double.files`): PDFs by our own minimal writer, Word
files by python-docx, HTML as text.
"""

from __future__ import annotations

import io
import sys
import zipfile

import pypdf
import pytest
from longcepo.documents import read_documents
from longcepo.documents.pdf import drop_running_lines
from longcepo.nodes.chunking import span_pages
from longcepo.nodes.errors import InputError
from longcepo.nodes.inputs import as_documents
from longcepo.nodes.store import document_key

from llm_double.files import build_docx, build_html, build_pdf

PAGES = [f"Page {n} talks about topic {chr(64 + n)} and nothing else." for n in range(1, 6)]


def encrypted(data: bytes, user: str, algorithm: str = "RC4-128") -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def read_one(data: bytes, name: str = "doc", **kw) -> dict:
    (doc,) = read_documents([(name, data)], **kw)
    return doc


def test_pdf_pages_in_order_with_their_starts():
    doc = read_one(build_pdf(PAGES), "report.pdf")
    starts = doc["page_starts"]
    assert len(starts) == 5 and starts[0] == 0
    for n, start in enumerate(starts, start=1):
        assert doc["text"][start:].startswith(f"Page {n} talks about topic {chr(64 + n)}")
    assert doc["metadata"] == {"source": "report.pdf", "format": "pdf", "pages": 5}


def test_pdf_joins_hyphenated_words_and_drops_running_lines():
    pages = [[f"ACME Lease Agreement {n}/4", f"Clause {n}: the tenant shall pay the main-",
              "tenance of the garden.", f"Page {n} of 4"] for n in range(1, 5)]
    text = read_one(build_pdf(pages))["text"]
    assert text.count("maintenance of the garden") == 4
    assert "ACME Lease" not in text and "of 4" not in text
    assert "Clause 3: the tenant" in text


def test_running_lines_are_kept_when_they_differ_or_pages_are_few():
    pages = [f"Heading {w}\nbody {w}\nfoot {w}" for w in ("one", "two", "three", "four")]
    assert drop_running_lines(pages) == pages
    short = ["Same\nbody\nSame", "Same\nother\nSame"]
    assert drop_running_lines(short) == short


def test_a_pdf_is_told_by_content_whatever_its_name(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(build_pdf(PAGES))
    (doc,) = read_documents([str(path)])
    assert doc["metadata"]["format"] == "pdf" and len(doc["page_starts"]) == 5


def test_an_encrypted_pdf_needs_its_password():
    data = encrypted(build_pdf(PAGES), "s3cret")
    with pytest.raises(InputError, match="encrypted PDF; pass its password with --pdf-password"):
        read_one(data, "locked.pdf")
    with pytest.raises(InputError, match="the password given is wrong"):
        read_one(data, "locked.pdf", password="nope")
    assert "topic C" in read_one(data, "locked.pdf", password="s3cret")["text"]


def test_a_pdf_encrypted_with_an_empty_password_opens_without_one():
    assert "topic E" in read_one(encrypted(build_pdf(PAGES), "", "AES-128"))["text"]


def test_a_scanned_pdf_says_to_run_ocr():
    with pytest.raises(InputError, match="no extractable text on 3 pages .*run OCR first"):
        read_one(build_pdf(["", "", ""]), "scan.pdf")


def test_pages_without_text_stay_as_empty_pages():
    doc = read_one(build_pdf(["First page text.", "", "Third page text."]))
    starts = doc["page_starts"]
    assert len(starts) == 3 and doc["text"][starts[2]:] == "Third page text."


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[: len(d) // 2], "truncated PDF"),
    (lambda d: d[:9] + b"\x00garbage" * 50 + b"\n%%EOF\n", "not a readable PDF"),
])
def test_a_damaged_pdf_is_one_line(damage, message):
    with pytest.raises(InputError, match=message) as raised:
        read_one(damage(build_pdf(PAGES)), "broken.pdf")
    assert "\n" not in str(raised.value)


def test_docx_paragraphs_and_tables_in_document_order():
    data = build_docx(["Intro paragraph.", [["Name", "Code"], ["Alpha", "1111"]], "Closing."])
    doc = read_one(data, "memo.docx")
    assert doc["text"] == "Intro paragraph.\nName | Code\nAlpha | 1111\nClosing."
    assert "page_starts" not in doc and doc["metadata"]["format"] == "docx"


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"\x01\x02\x00\x03" * 100, "is named .docx but is not a Word"),
    (lambda: build_docx(["x"])[:300], "damaged zip archive"),
    (lambda: _zip({"xl/workbook.xml": b"<x/>"}), "not a Word document"),
    (lambda: _zip({"word/document.xml": b"<w/>", "big.bin": b"\x00" * (3 << 20)}),
     "decompresses to 3 MiB, over the 2 MiB cap"),
    (lambda: _zip({"word/document.xml": b"not xml"}), "not a readable Word document"),
    (lambda: build_docx(["", "  "]), "Word document with no text"),
])
def test_bad_word_files_are_one_line(monkeypatch, data, message):
    monkeypatch.setattr("longcepo.documents.limits.MAX_UNPACKED_BYTES", 2 << 20)
    with pytest.raises(InputError, match=message) as raised:
        read_one(data() if callable(data) else data, "memo.docx")
    assert "\n" not in str(raised.value)


def test_html_keeps_the_article_and_drops_scripts_navigation_and_footers():
    doc = read_one(build_html(["The rent of Flat A is 500.", "Second <b>bold</b> paragraph."],
                              title="Lease terms").encode(), "page.md")
    assert doc["text"] == "Lease terms\nThe rent of Flat A is 500.\nSecond bold paragraph."
    assert doc["metadata"]["format"] == "html" and doc["metadata"]["title"] == "Lease terms"


def test_html_tables_keep_their_cells_apart():
    page = b"<html><body><table><tr><th>Name</th><th>Code</th></tr>" \
           b"<tr><td>Alpha</td><td>1111</td></tr></table></body></html>"
    assert read_one(page)["text"] == "Name | Code\nAlpha | 1111"


def test_html_with_no_text_after_cleaning_is_one_line():
    page = b"<!doctype html><html><body><nav>Home</nav><div id='app'></div>" \
           b"<script>render()</script></body></html>"
    with pytest.raises(InputError, match="no text left in the HTML"):
        read_one(page, "app.html")


@pytest.mark.parametrize("data, message", [
    (b"ab\x00cd", "looks binary"),
    ("caf\xe9".encode("latin-1"), "not UTF-8"),
    (b" \n\t", "is empty"),
])
def test_bad_text_is_one_line(data, message):
    with pytest.raises(InputError, match=message):
        read_one(data, "notes.txt")


def test_text_with_byte_order_marks():
    assert read_one("\ufeffhello".encode())["text"] == "hello"
    assert read_one("héllo".encode("utf-16"))["text"] == "héllo"


def test_stdin_bytes_and_named_bytes():
    docs = read_documents(["-", b"raw text", ("memo.docx", build_docx(["In Word."]))],
                          stdin=io.BytesIO(build_pdf(PAGES)))
    assert [d["id"] for d in docs] == ["stdin", "doc-1", "memo.docx"]
    assert [d["metadata"]["format"] for d in docs] == ["pdf", "text", "docx"]


def test_every_input_is_capped(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 5000)
    for source, stdin in ((str(path), None), ("-", io.BytesIO(b"y" * 5000)), (b"z" * 5000, None)):
        with pytest.raises(InputError, match="over the 0.00390625 MiB input limit"):
            read_documents([source], max_bytes=4096, stdin=stdin)


def test_a_folder_gives_its_documents_of_every_format(tmp_path):
    (tmp_path / "a.pdf").write_bytes(build_pdf(PAGES))
    (tmp_path / "b.docx").write_bytes(build_docx(["Word text."]))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.html").write_text(build_html(["Web text."]))
    (tmp_path / "d.md").write_text("Markdown text.")
    (tmp_path / "skip.bin").write_bytes(b"\x00\x01")
    docs = read_documents([str(tmp_path)])
    assert [d["metadata"]["format"] for d in docs] == ["pdf", "docx", "text", "html"]


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(InputError, match="no such file or directory"):
        read_documents([str(tmp_path / "nope.pdf")])
    with pytest.raises(InputError, match="holds no documents"):
        read_documents([str(tmp_path)])


def test_span_pages_ignores_blank_edges():
    text = "one\n\ntwo two\n\nthree"
    starts = [0, 5, 14]
    assert span_pages(text, 0, 5, starts) == [1, 1]  # the separator after page 1 is blank
    assert span_pages(text, 3, 14, starts) == [2, 2]
    assert span_pages(text, 0, len(text), starts) == [1, 3]


def test_page_starts_are_checked_and_keyed():
    text = "page one\n\npage two"
    (doc,) = as_documents([{"id": "a", "text": text, "page_starts": [0, 10],
                            "metadata": {"format": "pdf"}}])
    assert doc["page_starts"] == [0, 10] and doc["metadata"] == {"format": "pdf"}
    for bad in ([1, 10], [0, 10, 5], [0, 99], "0,10", [0, 1.5]):
        with pytest.raises(InputError, match="page_starts must be ascending"):
            as_documents([{"id": "a", "text": text, "page_starts": bad}])
    assert document_key(text, "cl100k_base", 512) != document_key(text, "cl100k_base", 512,
                                                                   [0, 10])


def test_a_missing_reader_library_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypdf", None)  # import pypdf now raises ImportError
    with pytest.raises(InputError, match="reading PDF needs the pypdf package"):
        read_one(build_pdf(PAGES), "report.pdf")


def test_text_that_names_the_pdf_header_is_still_text():
    doc = read_one(b"Notes on formats.\nA PDF file starts with %PDF-1.7 and ends with a trailer.")
    assert doc["metadata"]["format"] == "text" and "page_starts" not in doc


def test_one_source_or_a_tuple_of_paths(tmp_path):
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text(f"Text of {name}.")
    paths = (str(tmp_path / "a.md"), str(tmp_path / "b.md"))
    assert [d["text"] for d in read_documents(paths)] == ["Text of a.md.", "Text of b.md."]
    assert [d["id"] for d in read_documents(paths[0])] == [paths[0]]
    assert [d["id"] for d in read_documents(("x.txt", b"bytes"))] == ["x.txt"]


def test_html_in_a_legacy_charset_is_decoded_by_its_meta_tag():
    page = '<html><head><meta charset="iso-8859-1"></head><body><p>Caf\xe9 cr\xe8me.</p></body></html>'
    assert read_one(page.encode("latin-1"), "menu.html")["text"] == "Café crème."


def test_hyphens_before_capitals_and_accents():
    from longcepo.documents.pdf import join_hyphenated

    assert join_hyphenated("the Franco-\nPrussian war") == "the Franco-\nPrussian war"
    assert join_hyphenated("un ré-\nsumé") == "un résumé"
    assert join_hyphenated("pages 3-\n4") == "pages 3-\n4"


def test_the_cache_extracts_a_file_once_and_keeps_its_password(tmp_path, monkeypatch):
    data = encrypted(build_pdf(PAGES), "pw")
    first = read_one(data, "a.pdf", password="pw", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 1

    def no_extraction(*args, **kwargs):
        raise AssertionError("extracted again")

    monkeypatch.setattr("longcepo.documents.reader.read_pdf", no_extraction)
    assert read_one(data, "a.pdf", password="pw", cache_dir=tmp_path) == first
    with pytest.raises(AssertionError, match="extracted again"):  # no password, no cached text
        read_one(data, "a.pdf", cache_dir=tmp_path)


def test_a_damaged_cache_entry_is_read_again(tmp_path):
    data = build_pdf(PAGES)
    first = read_one(data, "a.pdf", cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.json")
    entry.write_text("{not json")
    assert read_one(data, "a.pdf", cache_dir=tmp_path) == first
    assert entry.read_text().startswith('{"text"')
