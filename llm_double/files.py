"""Document files built in memory for tests and benchmarks: PDF, Word and HTML, no fixtures.

The PDF writer is a minimal one of our own (Helvetica text, one content stream per page), so
a test controls exactly which words sit on which page. Word files are written with
python-docx, HTML as plain strings with the clutter a real page has (scripts, navigation).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

LINE_WIDTH = 90  # characters per PDF line; Helvetica 10pt fits about that on a letter page
LINES_PER_PAGE = 60


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1", "replace") + b")"


def _page_stream(lines: Sequence[str]) -> bytes:
    if not lines:  # a "scanned" page: a drawing, no text layer
        return b"0.5 g 72 72 468 648 re f"
    ops = [b"BT /F1 10 Tf 12 TL 50 760 Td"]
    ops += [_pdf_string(line) + b" Tj T*" for line in lines]
    ops.append(b"ET")
    return b"\n".join(ops)


def pdf_lines(text: str) -> list[str]:
    """A page's text as PDF lines: paragraphs wrapped at `LINE_WIDTH`, blank lines kept."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        out.extend(textwrap.wrap(paragraph, LINE_WIDTH) or [""])
    return out


def build_pdf(pages: Sequence[str | Sequence[str]]) -> bytes:
    """A valid PDF with one page per item: a string is wrapped into lines, a list is the lines.

    An empty item makes a page without a text layer, as a scan has.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in once the page tree's number is known
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>")
    tree = add(b"")
    kids = []
    for page in pages:
        lines = pdf_lines(page) if isinstance(page, str) else list(page)
        if isinstance(page, str) and not page:
            lines = []
        stream = _page_stream(lines)
        contents = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                        b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                        % (tree, font, contents)))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    objects[tree - 1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids)
                         + b"] /Count %d >>" % len(kids))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % o for o in offsets)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, catalog, xref))
    return out.getvalue()


def build_docx(blocks: Sequence[str | Sequence[Sequence[str]]]) -> bytes:
    """A Word file: each string is a paragraph, each list of rows a table, in this order."""
    import docx

    document = docx.Document()
    for block in blocks:
        if isinstance(block, str):
            document.add_paragraph(block)
        else:
            rows = [list(r) for r in block]
            table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
            for row, values in zip(table.rows, rows, strict=True):
                for cell, value in zip(row.cells, values, strict=False):
                    cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def build_html(paragraphs: Sequence[str], *, title: str = "A page") -> str:
    """An HTML page whose article holds `paragraphs`, around it the clutter a site adds."""
    body = "\n".join(f"    <p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <style>body {{ font-family: serif; }} .nav a {{ color: red; }}</style>
  <script>window.analytics = "The tracking code of Example Site is Z999.";</script>
</head>
<body>
  <header><a href="/">Example Site</a> Subscribe now</header>
  <nav class="nav"><a href="/a">Home</a> <a href="/b">Archive</a> <a href="/c">About us</a></nav>
  <main>
  <article>
    <h1>{title}</h1>
{body}
  </article>
  </main>
  <aside>Related: ten things you did not know</aside>
  <footer>Copyright Example Site. All rights reserved.</footer>
  <script>console.log("bye");</script>
</body>
</html>
"""
