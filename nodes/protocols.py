"""Parsers of the text protocols: lenient about form, strict about meaning.

Small models wrap field names in markdown, drop closing tags, number lists oddly and repeat
themselves up to the output cap. Each parser accepts those shapes and returns None only when
the reply carries nothing usable, which is what triggers a format retry.
"""

from __future__ import annotations

import re
from typing import Literal

from longcepo.prompts.map_chunk import NO_INFORMATION
from longcepo.prompts.reminders import JSON_NOTES, REMINDERS
from longcepo.state import Context, Finding

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
# "1. first sub-question" was once the prompt's own example; small models copy and continue it
_PLACEHOLDER_ITEM = re.compile(r"^\W*(?:\w+[\s-]+)?sub[\s_-]?questions?\W*$", re.I)
_ITEM_LABEL = re.compile(r"^(?:\w+[\s-]+)?sub[\s_-]?question\s*\d*\s*[:.)-]\s*", re.I)
_WORD = re.compile(r"[^\W_]+")
ECHO_WORDS = 3
"""A reply value of this many words or more found word for word in the prompt's own text (not
the document, not the question) only repeats an instruction: "the answer this passage
supports", the placeholder of a list."""


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def own_text(ctx: Context, stage: str) -> str:
    """A stage's own words: its template, the system prompt, and the notes a retry may add."""
    return "\n".join((ctx.prompt(stage), ctx.system_prompt, REMINDERS.get(stage, ""),
                      JSON_NOTES.get(stage, "")))


def echoes(value: str, template: str) -> bool:
    """Whether `value` is no answer of its own: it holds no word, or repeats the template's.

    `template` is the stage's prompt before its sections are filled in (plus whatever
    instructions travel with it), so a value quoting the document is never taken for one.
    """
    words = _words(value)
    if not words:
        return True
    if len(words) < ECHO_WORDS or not template:
        return False
    return f" {' '.join(words)} " in f" {' '.join(_words(template))} "


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


def parse_sub_questions(text: str, cap: int, template: str = "") -> list[str] | None:
    """Items of the `<SUB-QUESTIONS>` list, numbered or bulleted, closing tag optional.

    Items that only echo a placeholder ("2. second sub-question") or the prompt's own words
    (`template`) are not questions.
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
        item = _ITEM_LABEL.sub("", _clean(match.group(1))) if match else ""
        if _PLACEHOLDER_ITEM.match(item) or echoes(item, template):
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


def parse_finding(
    text: str, sources: list[int], template: str = ""
) -> Finding | NoInformation | None:
    """A map or collapse reply: a finding, `NO_INFO`, or None when it follows no protocol.

    An answer that only repeats the prompt's own words (`template`) follows none.
    """
    fields = _fields(text)
    answer = fields.get("answer", "")
    if _NO_INFO.search(answer) or (not answer and _NO_INFO.search(text)):
        return NO_INFO
    if not answer or echoes(answer, template):
        return None
    return Finding(
        sources=sorted(sources),
        extracted=fields.get("extracted information", ""),
        rationale=fields.get("rationale", ""),
        answer=answer,
        confidence=_confidence(fields.get("confidence score")),
    )


def parse_answer(text: str, template: str = "") -> str | None:
    """The text after the answer tag, without any trailing confidence line.

    None when it is missing or only repeats the prompt's own words (`template`).
    """
    answer = _fields(text).get("answer", "")
    answer = answer.split("\n\n")[0].strip() if "\n\n" in answer else answer
    return None if not answer or echoes(answer, template) else answer


def is_no_information(answer: str) -> bool:
    """Whether an answer says the document held nothing on the question."""
    return bool(_NO_INFO.search(answer)) or answer.strip().lower().rstrip(".") in {
        "no information",
        NO_INFORMATION.lower(),
    }


def salvage_answer(text: str, template: str = "") -> str:
    """Best plain-text answer from a reply that ignored the protocol: its last paragraph.

    Paragraphs that only repeat the prompt's own words (`template`) are passed over.
    """
    paragraphs = [_clean(p) for p in re.split(r"\n\s*\n", text) if _clean(p)]
    paragraphs = [p for p in paragraphs if not echoes(p, template)]
    return paragraphs[-1] if paragraphs else ""
