"""JSON replies under a schema: the schemas, lenient reading, and the way back to the protocols."""

import json

import pytest
from longcepo.nodes import structured
from longcepo.nodes.protocols import NO_INFO, parse_answer, parse_finding, parse_sub_questions
from longcepo.prompts.reminders import JSON_AGAIN, JSON_NOTES, REMINDERS

from llm_double.structured import as_json, schema_of


def test_schemas_bound_every_string_and_give_the_score_as_an_enum() -> None:
    for stage in structured.STAGES:
        body = structured.schema(stage, 256)
        props = body["properties"]
        assert body["required"] == list(props) and body["additionalProperties"] is False
        strings = [p.get("items", p) for p in props.values() if p["type"] in ("string", "array")]
        assert strings and all(s["maxLength"] > 0 for s in strings), stage
        # the whole object fits the output cap at a conservative 3 characters per token
        assert sum(s["maxLength"] for s in strings) <= 256 * structured.CHARS_PER_TOKEN
    score = structured.schema("map", 256)["properties"]["confidence_score"]
    assert score["enum"] == [0, 1, 2, 3, 4, 5] and "minimum" not in score
    assert structured.schema("plan", 256, 4)["properties"]["sub_questions"]["maxItems"] == 4


def test_both_forms_carry_the_same_schema() -> None:
    body = structured.schema("reduce", 128)
    openai_form = structured.response_format("json_schema", "reduce", body)
    llama_form = structured.response_format("json_object", "reduce", body)
    assert openai_form["json_schema"]["schema"] == llama_form["schema"] == body
    assert schema_of(openai_form) == schema_of(llama_form) == body


@pytest.mark.parametrize(("text", "expected"), [
    ('{"answer": "Vellmar"}', {"answer": "Vellmar"}),
    ('```json\n{"answer": "Vellmar"}\n```', {"answer": "Vellmar"}),
    ('Sure: {"answer": "two\nlines"} trailing', {"answer": "two\nlines"}),  # raw newline
    ('{"rationale": "the dam', {"rationale": "the dam"}),  # cut inside a string
    ('{"rationale": "a", "answer": "Ve', {"rationale": "a", "answer": "Ve"}),
    ('{"rationale": "a", "answ', {"rationale": "a"}),  # cut inside a key
    ('{"sub_questions": ["Who designed it?", "Where was', {"sub_questions":
                                                        ["Who designed it?", "Where was"]}),
    ('{"a": "x\\"y", "b": ', {"a": 'x"y'}),
    ("no json here", None),
])
def test_json_is_read_leniently(text: str, expected: object) -> None:
    assert structured.loads_lenient(text) == expected


def test_json_replies_read_back_into_the_stage_protocols() -> None:
    finding = json.dumps({"extracted_information": "Tomas Reyl designed\nthe dam.",
                          "rationale": "stated", "answer": "Tomas Reyl",
                          "confidence_score": 5})
    parsed = parse_finding(structured.to_protocol("map", finding) or "", [3])
    assert parsed != NO_INFO and parsed is not None
    assert parsed["answer"] == "Tomas Reyl" and parsed["confidence"] == 5
    assert parsed["extracted"] == "Tomas Reyl designed the dam."
    nothing = json.dumps({"extracted_information": "", "rationale": "", "confidence_score": 0,
                          "answer": "[NO INFORMATION]"})
    assert parse_finding(structured.to_protocol("map", nothing) or "", [3]) == NO_INFO
    plan = structured.to_protocol("plan", '{"sub_questions": ["Who designed the dam?", ""]}')
    assert parse_sub_questions(plan or "", cap=6) == ["Who designed the dam?"]
    numbered = '{"sub_questions": ["1. Who designed it?", "2) Who designed it?", "Where?"]}'
    plan = structured.to_protocol("plan", numbered)
    assert parse_sub_questions(plan or "", cap=6) == ["Who designed it?", "Where?"]
    # a value that holds a label cannot pose as another field
    reduce = structured.to_protocol("reduce", '{"rationale": "x\\nAnswer: wrong", "answer": "B"}')
    assert parse_answer(reduce or "") == "B"
    assert structured.to_protocol("reduce", '{"rationale": "no answer key"}') is None
    assert structured.to_protocol("map", "Answer: plain text") is None


def test_json_notes_fit_the_room_kept_for_a_reminder() -> None:
    assert set(JSON_NOTES) == set(structured.STAGES)
    longest = max(map(len, REMINDERS.values()))
    assert max(len(JSON_AGAIN + note) for note in JSON_NOTES.values()) <= longest


def test_the_double_answers_under_the_schema_within_its_bounds() -> None:
    body = structured.schema("map", 64)
    text = ("Extracted Information: " + "long " * 100 + "\nRationale: because\n"
            "Answer: Dunvale\nConfidence Score: 4")
    data = json.loads(as_json(text, body))
    assert data["answer"] == "Dunvale" and data["confidence_score"] == 4
    assert len(data["extracted_information"]) == body["properties"][
        "extracted_information"]["maxLength"]
    assert json.loads(as_json("[NO INFORMATION]", body))["answer"] == "[NO INFORMATION]"
    plan = json.loads(as_json("<SUB-QUESTIONS>\n1. A?\n2. B?\n</SUB-QUESTIONS>",
                              structured.schema("plan", 64)))
    assert plan == {"sub_questions": ["A?", "B?"]}


def test_an_endpoint_remembers_what_it_took() -> None:
    point = structured.Endpoint()
    assert point.candidates() == ["json_schema", "json_object"]
    point.refuse("json_schema")
    assert point.candidates() == ["json_object"] and not point.known
    point.accept("json_object")
    assert point.known and point.candidates() == ["json_object"]
    refusing = structured.Endpoint()
    refusing.refuse("json_schema")
    refusing.refuse("json_object")
    assert refusing.known and refusing.form is None and refusing.candidates() == []
