"""`response_format` in the double: JSON under the request's schema, or a refusal.

The reader writes every stage's reply in its text protocol; here that reply is poured into the
properties the schema names ("extracted_information" is read from the line
"Extracted Information: ..."), strings cut to their `maxLength` as a constraining server
would. `DoubleConfig.response_formats` says which forms are taken; any other is refused with
`refusal_status` (llama.cpp answers its unsupported `json_schema` form with HTTP 500).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from longcepo.prompts.plan import CLOSE_TAG, OPEN_TAG

FORMS = ("json_schema", "json_object")
_ITEM = re.compile(r"^\s*\d+\.\s+(.+?)\s*$", re.M)


def form_of(response_format: Any) -> str | None:
    """The requested form ("json_schema", "json_object", "text"...), None when none was set."""
    if not isinstance(response_format, Mapping):
        return None
    return str(response_format.get("type") or "")


def schema_of(response_format: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema inside either form, if any."""
    if response_format.get("type") == "json_schema":
        inner = response_format.get("json_schema") or {}
        found = inner.get("schema") if isinstance(inner, Mapping) else None
    else:
        found = response_format.get("schema")
    return found if isinstance(found, Mapping) else None


def _label(name: str) -> str:
    return name.replace("_", " ")


def _field(text: str, name: str) -> str:
    """The value of the line labelled like `name` ("confidence_score": "Confidence Score:")."""
    match = re.search(rf"^\s*{re.escape(_label(name))}\s*:[ \t]*(.*)$", text, re.I | re.M)
    return match.group(1).strip() if match else ""


def _value(text: str, name: str, spec: Mapping[str, Any]) -> Any:
    kind = spec.get("type")
    if kind == "array":
        body = text.split(OPEN_TAG, 1)[-1].split(CLOSE_TAG, 1)[0]
        items = _ITEM.findall(body) or [text.strip()]
        limit = (spec.get("items") or {}).get("maxLength")
        return [i[:limit] if limit else i for i in items][: spec.get("maxItems") or None]
    raw = _field(text, name)
    if kind in ("integer", "number"):
        number = re.search(r"\d+", raw)
        value = int(number.group()) if number else 0
        allowed = spec.get("enum")
        return value if not allowed or value in allowed else allowed[0]
    if not raw and name == "answer":
        raw = text.strip()  # a bare reply such as [NO INFORMATION] is the answer itself
    limit = spec.get("maxLength")
    return raw[:limit] if limit else raw


def as_json(text: str, schema: Mapping[str, Any] | None) -> str:
    """The text-protocol reply as a JSON object with the schema's properties."""
    props = (schema or {}).get("properties")
    if not isinstance(props, Mapping) or not props:
        return json.dumps({"reply": text})
    return json.dumps({name: _value(text, name, spec if isinstance(spec, Mapping) else {})
                       for name, spec in props.items()}, ensure_ascii=False)
