"""Parsers of the text protocols: lenient about form, strict about meaning.

Small models wrap field names in markdown, drop closing tags, number lists oddly and repeat
themselves up to the output cap. Each parser accepts those shapes and returns None only when
the reply carries nothing usable, which is what triggers a format retry.
"""

from __future__ import annotations

import re
from typing import Literal

from longcepo.prompts.map_chunk import NO_INFORMATION
from longcepo.state import Finding

NoInformation = Literal["NO_INFORMATION"]
NO_INFO: NoInformation = "NO_INFORMATION"

_FIELD = re.compile(
    r"^[\s>#*_`-]*(extracted information|rationale|final answer|answer|confidence(?: score)?)"
    r"[\s*_`]*:[\s*_`]*",
    re.I | re.M,
)
_NO_INFO = re.compile(r"\[\s*no[ _-]+information\s*\]|^\W*no information\W*$", re.I | re.M)
_OPEN = re.compile(r"<\s*sub[-_ ]?questions\s*>", re.I)
_CLOSE = re.compile(r"<\s*/\s*sub[-_ ]?questions\s*>", re.I)
_ITEM = re.compile(r"^\s*(?:\(?\d{1,2}[.):]|[-*\u2022])\s+(.+?)\s*$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# "1. first sub-question" is the prompt's own example; small models copy and continue it
_PLACEHOLDER_ITEM = re.compile(r"^\W*(?:\w+[\s-]+)?sub[\s_-]?questions?\W*$", re.I)


def _clean(text: str) -> str:
    """Strip markdown emphasis, surrounding quotes and whitespace."""
    text = re.sub(r"[*_`]{1,3}", "", text).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def parse_question(text: str) -> str | None:
    """The normalized question, without a leading label: the first line that asks something.

    Chatty models open with a preamble ("Sure! Here is the question:"); taking that line would
    send every later stage after a question nobody asked. Without any "?" line, the first line
    that does not end in a colon is taken.
    """
    lines = []
    for raw in text.strip().splitlines():
        line = _clean(re.sub(r"^\s*(?:normalized\s+)?question\s*:\s*", "", raw, flags=re.I))
        if line and not line.startswith("<"):
            lines.append(line)
    asking = [line for line in lines if line.endswith("?")]
    plain = [line for line in lines if not line.endswith(":")]
    chosen = asking or plain
    return chosen[0] if chosen else None


def parse_sub_questions(text: str, cap: int) -> list[str] | None:
    """Items of the `<SUB-QUESTIONS>` list, numbered or bulleted, closing tag optional.

    Items that only echo the prompt's example ("2. second sub-question") are not questions.
    """
    opened = _OPEN.search(text)
    if not opened:
        return None
    body = text[opened.end() :]
    closed = _CLOSE.search(body)
    body = body[: closed.start()] if closed else body
    items: list[str] = []
    for line in body.splitlines():
        match = _ITEM.match(line)
        item = _clean(match.group(1)) if match else ""
        if _PLACEHOLDER_ITEM.match(item):
            continue
        if item and item.lower() not in (i.lower() for i in items):
            items.append(item)
    return items[:cap] or None


def _fields(text: str) -> dict[str, str]:
    """First occurrence of each labelled field, its value running to the next label."""
    out: dict[str, str] = {}
    marks = list(_FIELD.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)] * bool(marks)
    for mark, end in zip(marks, ends, strict=True):
        name = mark.group(1).lower()
        name = "answer" if name == "final answer" else name
        name = "confidence score" if name.startswith("confidence") else name
        value = text[mark.end() : end]
        if name not in out:
            out[name] = _clean(value)
    return out


def _confidence(value: str | None) -> float | None:
    match = _NUMBER.search(value or "")
    return None if match is None else max(0.0, min(5.0, float(match.group())))


def parse_finding(text: str, sources: list[int]) -> Finding | NoInformation | None:
    """A map or collapse reply: a finding, `NO_INFO`, or None when it follows no protocol."""
    fields = _fields(text)
    answer = fields.get("answer", "")
    if _NO_INFO.search(answer) or (not answer and _NO_INFO.search(text)):
        return NO_INFO
    if not answer:
        return None
    return Finding(
        sources=sorted(sources),
        extracted=fields.get("extracted information", ""),
        rationale=fields.get("rationale", ""),
        answer=answer,
        confidence=_confidence(fields.get("confidence score")),
    )


def parse_answer(text: str) -> str | None:
    """The text after the answer tag, without any trailing confidence line."""
    answer = _fields(text).get("answer", "")
    answer = answer.split("\n\n")[0].strip() if "\n\n" in answer else answer
    return answer or None


def is_no_information(answer: str) -> bool:
    """Whether an answer says the document held nothing on the question."""
    return bool(_NO_INFO.search(answer)) or answer.strip().lower().rstrip(".") in {
        "no information",
        NO_INFORMATION.lower(),
    }


def salvage_answer(text: str) -> str:
    """Best plain-text answer from a reply that ignored the protocol: its last paragraph."""
    paragraphs = [_clean(p) for p in re.split(r"\n\s*\n", text) if _clean(p)]
    return paragraphs[-1] if paragraphs else ""
