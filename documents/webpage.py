"""HTML: the main text only (beautifulsoup4, MIT), without scripts, styles and site chrome.

Navigation, headers, footers, asides and forms are dropped; when the page marks its main
content (`<main>`, one `<article>`, `role="main"`) only that is kept. Block elements become
lines and table cells are joined with " | ", so the chunker sees the page's structure.
"""

from __future__ import annotations

import re
from typing import Any

from longcepo.documents.parsed import Parsed, missing_library
from longcepo.nodes.errors import InputError

DROPPED = ("script", "style", "noscript", "template", "iframe", "svg", "canvas", "nav",
           "header", "footer", "aside", "form", "button", "select", "dialog", "head")
DROPPED_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search")
BLOCKS = ("p", "div", "section", "article", "main", "li", "tr", "h1", "h2", "h3", "h4", "h5",
          "h6", "pre", "blockquote", "dt", "dd", "figcaption", "caption", "table", "ul", "ol",
          "br", "hr", "address")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


def _main_part(soup: Any) -> Any:
    """The page's marked main content, or its body."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


def _drop_chrome(soup: Any) -> None:
    for tag in soup.find_all(DROPPED):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": list(DROPPED_ROLES)}):
        tag.decompose()
    for tag in soup.find_all(attrs={"aria-hidden": "true"}):
        tag.decompose()
    for tag in soup.find_all(hidden=True):
        tag.decompose()


def html_text(data: bytes | str, charset: str | None = None) -> tuple[str, str | None]:
    """(main text, title) of an HTML page; the text is empty when nothing is left.

    Bytes are decoded by `charset` when a server declared one, else by the page's own
    `<meta charset>`, else by a guess.
    """
    try:
        from bs4 import BeautifulSoup
    except ImportError as exc:
        raise missing_library(exc, "beautifulsoup4", "HTML") from None

    encoding = charset if isinstance(data, bytes) else None
    soup = BeautifulSoup(data, "html.parser", from_encoding=encoding)
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    _drop_chrome(soup)
    part = _main_part(soup)
    for cell in part.find_all(("td", "th")):
        cell.append(" | ")
    for block in part.find_all(BLOCKS):
        block.insert_before("\n")
        block.append("\n")
    lines = (_SPACES.sub(" ", line).strip(" |") for line in part.get_text().split("\n"))
    return "\n".join(line.strip() for line in lines if line.strip()), title or None


def read_html(data: bytes | str, name: str, charset: str | None = None) -> Parsed:
    """The page's main text, refusing a page with none (one rendered by JavaScript, say)."""
    text, title = html_text(data, charset)
    if not text:
        raise InputError(f"{name}: no text left in the HTML after removing scripts, styles and "
                         "navigation (rendered by JavaScript?); save the page's text instead")
    metadata: dict[str, Any] = {"format": "html"}
    if title:
        metadata["title"] = title
    return Parsed(text, metadata=metadata)
