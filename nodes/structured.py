"""Schema-constrained replies: the JSON schemas of the stages and the way back to the protocols.

A server that constrains decoding to a schema makes a small model's reply well formed where
the text protocols alone do not. Each schema bounds its strings (`maxLength`), so a reply fits
the output cap, and gives the confidence score as an `enum` (llama.cpp ignores integer
bounds). A JSON reply is rewritten into the stage's text protocol, so one parser per stage
judges both kinds of reply. Whether an endpoint accepts a form is learnt once per endpoint
(`Endpoint`) by the LLM door, `nodes.llm`.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from longcepo.prompts.plan import CLOSE_TAG, OPEN_TAG
from longcepo.state import Context

Form = Literal["json_schema", "json_object"]
FORMS: tuple[Form, ...] = ("json_schema", "json_object")
"""The forms tried in order: the OpenAI form most servers take, then llama.cpp's."""
STAGES = ("plan", "map", "collapse", "reduce")
CHARS_PER_TOKEN = 3
"""A conservative guess for sizing `maxLength`s so the whole object fits the output cap."""
SCORES = [0, 1, 2, 3, 4, 5]
_FINDING_KEYS = {"extracted_information": "Extracted Information", "rationale": "Rationale",
                 "answer": "Answer", "confidence_score": "Confidence Score"}
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.I)
_NUMBERED = re.compile(r"^\(?\d{1,2}[.):]\s+")


def _text(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max(16, max_chars)}


def schema(stage: str, max_tokens: int, max_items: int = 6) -> dict[str, Any]:
    """The JSON schema of a stage's reply, its strings sized to fit `max_tokens`."""
    chars = max_tokens * CHARS_PER_TOKEN
    if stage == "plan":
        item = _text(min(300, chars // max(1, max_items)))
        props: dict[str, Any] = {"sub_questions": {"type": "array", "items": item,
                                                   "minItems": 1, "maxItems": max_items}}
    elif stage == "reduce":
        props = {"rationale": _text(chars * 2 // 3), "answer": _text(chars // 4)}
    else:
        props = {"extracted_information": _text(chars * 2 // 5), "rationale": _text(chars // 4),
                 "answer": _text(chars // 6), "confidence_score": {"type": "integer",
                                                                  "enum": SCORES}}
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


def response_format(form: Form, stage: str, body: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` request field in the form the endpoint accepts."""
    if form == "json_object":  # llama.cpp: its json_schema form answers HTTP 500
        return {"type": "json_object", "schema": body}
    return {"type": "json_schema",
            "json_schema": {"name": f"longcepo_{stage}", "schema": body, "strict": False}}


def _closing(text: str) -> list[tuple[int, str]]:
    """Where a cut-off JSON text could end, latest first, with the closers each needs."""
    stack: list[str] = []
    in_string = escaped = False
    cuts: list[tuple[int, str]] = []
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
        elif ch == ",":  # everything before a comma is whole
            cuts.append((i, "".join(reversed(stack))))
    tail = ('"' if in_string else "") + "".join(reversed(stack))
    return [(len(text), tail), *reversed(cuts)]


def loads_lenient(text: str) -> Any:
    """JSON from a model: fences stripped, raw newlines allowed, a reply cut at the cap closed.

    Returns None when no object can be read.
    """
    text = _FENCE.sub("", text.strip())
    start = text.find("{")
    if start < 0:
        return None
    text = text[start:]
    try:
        return json.JSONDecoder(strict=False).raw_decode(text)[0]
    except json.JSONDecodeError:
        pass
    for end, closers in _closing(text):
        try:
            return json.loads(text[:end].rstrip().rstrip(",:") + closers, strict=False)
        except json.JSONDecodeError:
            continue
    return None


def _line(value: Any) -> str:
    """A value on one line, so nothing in it can read as another field's label."""
    return " ".join(str(value if value is not None else "").split())


def to_protocol(stage: str, reply: str) -> str | None:
    """A JSON reply rewritten in the stage's text protocol; None when it is not such JSON."""
    data = loads_lenient(reply)
    if not isinstance(data, dict):
        return None
    if stage == "plan":
        subs = data.get("sub_questions")
        if not isinstance(subs, list):
            return None
        # small models number the strings themselves: "1. ...", "2. ..." would not read as
        # repeats of one sub-question
        lines = [_NUMBERED.sub("", _line(s)) for s in subs]
        items = "\n".join(f"{i}. {s}" for i, s in enumerate(filter(None, lines), 1))
        return f"{OPEN_TAG}\n{items}\n{CLOSE_TAG}"
    keys = ("rationale", "answer") if stage == "reduce" else tuple(_FINDING_KEYS)
    if "answer" not in data:
        return None
    return "\n".join(f"{_FINDING_KEYS[k]}: {_line(data.get(k))}" for k in keys)


# ---------------------------------------------------------------------------------------------
# What each endpoint accepts, learnt once


@dataclass
class Endpoint:
    """What one endpoint accepted: `form` (None: text only) once `known`."""

    known: bool = False
    form: Form | None = None
    refused: list[Form] = field(default_factory=list)

    def candidates(self) -> list[Form]:
        """The forms still worth trying, best first."""
        if self.known:
            return [self.form] if self.form else []
        return [f for f in FORMS if f not in self.refused]

    def accept(self, form: Form) -> None:
        """The endpoint answered a request in this form."""
        self.known, self.form = True, form

    def refuse(self, form: Form) -> None:
        """The endpoint refused this form; with none left, text protocols it is."""
        if self.known:
            return  # another call in flight settled it first
        self.refused.append(form)
        if not self.candidates():
            self.known, self.form = True, None


_endpoints: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Endpoint]]
_endpoints = weakref.WeakKeyDictionary()


def endpoint(ctx: Context) -> Endpoint:
    """The detection record of this run's endpoint (and event loop)."""
    per_loop = _endpoints.setdefault(asyncio.get_running_loop(), {})
    given = ctx.structured_output if ctx.structured_output in FORMS else None
    key = (ctx.base_url, ctx.model, given)
    if key not in per_loop:
        per_loop[key] = Endpoint()
        if given == "json_schema" or given == "json_object":
            per_loop[key].accept(given)
    return per_loop[key]


def wanted(ctx: Context, stage: str) -> bool:
    """Whether this stage's request asks for JSON under a schema at all."""
    return stage in STAGES and ctx.structured_output != "off"


def forget_endpoints() -> None:
    """Drop what was learnt (tests that reconfigure one endpoint between runs)."""
    _endpoints.clear()
