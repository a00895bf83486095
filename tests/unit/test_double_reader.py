"""The double's reader against prompts built from the real templates in `prompts/`."""

from __future__ import annotations

import re

import pytest
from longcepo.prompts import collapse, map_chunk, normalize, plan, reduce, summary
from longcepo.prompts.reminders import REMINDERS
from longcepo.prompts.render import (
    FINDING_BODY,
    FINDING_HEADER,
    NO_EARLIER_QUESTIONS,
    NO_FINDINGS,
    NO_SUMMARIES_AFTER,
    NO_SUMMARIES_BEFORE,
    QA_PAIR,
    SUMMARY_LINE,
)
from longcepo.prompts.system import QA_SYSTEM

from llm_double import grammar
from llm_double.reader import detect_stage, parse_findings, read, reply

FILLER = "Startups are hard. Most of them fail because the founders give up too early."
HOP1 = grammar.fact_sentence("mentor", "Ilvana Varga", "Osvin Pellam")
HOP2 = grammar.fact_sentence("hometown", "Osvin Pellam", "Dunvale")
Q1 = "What is the mentor of Ilvana Varga?"
Q2 = "What is the hometown of the mentor of Ilvana Varga?"
HALF_A = grammar.first_half_sentence("vault code", "Karrowby Depot", "41")
HALF_B = grammar.second_half_sentence("vault code", "Karrowby Depot", "77")
SPLIT_Q = "What is the vault code of Karrowby Depot?"


def ask(prompt: str) -> str:
    return reply([{"role": "system", "content": QA_SYSTEM}, {"role": "user", "content": prompt}])


def qa_history(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return NO_EARLIER_QUESTIONS
    return "\n".join(QA_PAIR.format(n=i, question=q, answer=a) for i, (q, a) in enumerate(pairs, 1))


def summaries(lines: list[tuple[int, str]], empty: str) -> str:
    return "\n".join(SUMMARY_LINE.format(index=i, summary=s) for i, s in lines) or empty


def map_prompt(
    chunk: str,
    question: str,
    *,
    before: list[tuple[int, str]] | None = None,
    after: list[tuple[int, str]] | None = None,
    qa: list[tuple[str, str]] | None = None,
) -> str:
    return map_chunk.TEMPLATE.format(
        summaries_before=summaries(before or [], NO_SUMMARIES_BEFORE),
        chunk=chunk,
        summaries_after=summaries(after or [], NO_SUMMARIES_AFTER),
        qa_history=qa_history(qa or []),
        question=question,
    )


def summarize(chunk: str, question: str = Q2) -> str:
    return ask(summary.TEMPLATE.format(chunk=chunk, question=question))


def fields(text: str) -> dict[str, str]:
    return dict(
        re.findall(r"^(Extracted Information|Rationale|Answer|Confidence Score): (.*)$", text, re.M)
    )


def finding(label: str, extracted: str, answer: str, confidence: int) -> str:
    body = FINDING_BODY.format(
        extracted=extracted, rationale="because", answer=answer, confidence=confidence
    )
    return f"{FINDING_HEADER.format(label=label)}\n{body}"


# -- stage detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "stage"),
    [
        (normalize.TEMPLATE.format(query="Q?"), "normalize"),
        (plan.TEMPLATE.format(question="Q?", max_sub_questions=4), "plan"),
        (summary.TEMPLATE.format(chunk="x", question="Q?"), "summary"),
        (map_prompt("x", "Q?"), "map"),
        (collapse.TEMPLATE.format(findings="f", qa_history="", question="Q?"), "collapse"),
        (reduce.TEMPLATE.format(findings="f", qa_history="", question="Q?"), "reduce"),
        ("Hello there", "unknown"),
    ],
)
def test_stage_is_read_from_the_prompt_tags(prompt: str, stage: str) -> None:
    assert detect_stage([{"role": "user", "content": prompt}]) == stage


def test_stage_hint_does_not_change_the_answer() -> None:
    messages = [{"role": "user", "content": map_prompt(FILLER, Q1)}]
    assert read(messages, stage_hint="reduce").text == map_chunk.NO_INFORMATION


def test_list_content_parts_are_read() -> None:
    prompt = plan.TEMPLATE.format(question=Q1, max_sub_questions=3)
    messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    assert read(messages).stage == "plan"


# -- normalize and plan -------------------------------------------------------------------------


def test_normalize_drops_instructions_and_options() -> None:
    query = f"{Q2} Answer in one word.\n(A) Dunvale\n(B) Vellmark\nC. Felmsted\nOptions:\n"
    assert ask(normalize.TEMPLATE.format(query=query)) == Q2


def test_normalize_keeps_a_plain_question() -> None:
    assert ask(normalize.TEMPLATE.format(query=Q1)) == Q1


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (Q1, [Q1]),
        (Q2, [Q1, Q2]),
        (
            "What is the boat name of the tutor of the mentor of Ilvana Varga?",
            [
                Q1,
                "What is the tutor of the mentor of Ilvana Varga?",
                "What is the boat name of the tutor of the mentor of Ilvana Varga?",
            ],
        ),
        ("Who wrote it", ["Who wrote it"]),
    ],
)
def test_plan_splits_hops_into_a_tagged_numbered_list(question: str, expected: list[str]) -> None:
    out = ask(plan.TEMPLATE.format(question=question, max_sub_questions=6))
    inner = out.split(plan.OPEN_TAG)[1].split(plan.CLOSE_TAG)[0].strip().splitlines()
    assert inner == [f"{i}. {q}" for i, q in enumerate(expected, 1)]


def test_plan_respects_the_cap() -> None:
    question = "What is the boat name of the tutor of the mentor of Ilvana Varga?"
    out = ask(plan.TEMPLATE.format(question=question, max_sub_questions=2))
    assert out.count("\n") == 3 and question in out


# -- summary --------------------------------------------------------------------------------------


def test_summary_echoes_every_fact_in_the_passage() -> None:
    out = summarize(f"{FILLER}\n\n{HOP1}\n\n{FILLER}\n\n{HALF_B}")
    assert HOP1 in out and HALF_B in out
    assert 2 <= out.count(".") and grammar.find_fact_sentences(out) == [HOP1, HALF_B]


def test_summary_without_facts_is_generic() -> None:
    out = summarize(FILLER)
    assert "Startups are hard" in out and not grammar.find_fact_sentences(out)


# -- map ------------------------------------------------------------------------------------------


def test_map_answers_a_stated_fact_with_four_fields() -> None:
    out = ask(map_prompt(f"{FILLER}\n\n{HOP1}", Q1))
    got = fields(out)
    assert got["Answer"] == "Osvin Pellam" and got["Confidence Score"] == "5"
    assert HOP1 in got["Extracted Information"] and got["Rationale"]


def test_map_without_the_fact_says_no_information() -> None:
    assert ask(map_prompt(FILLER, Q1)) == map_chunk.NO_INFORMATION
    assert ask(map_prompt(HOP2, Q1)) == map_chunk.NO_INFORMATION


def test_later_hop_needs_the_earlier_answer() -> None:
    chunk = f"{FILLER}\n\n{HOP2}"
    assert ask(map_prompt(chunk, Q2)) == map_chunk.NO_INFORMATION
    answered = ask(map_prompt(chunk, Q2, qa=[(Q1, "Osvin Pellam")]))
    assert fields(answered)["Answer"] == "Dunvale"
    wrong = ask(map_prompt(chunk, Q2, qa=[(Q1, "Someone Else")]))
    assert wrong == map_chunk.NO_INFORMATION


def test_later_hop_resolves_from_the_passage_itself() -> None:
    assert fields(ask(map_prompt(f"{HOP1}\n\n{HOP2}", Q2)))["Answer"] == "Dunvale"


def test_intermediate_fact_in_a_summary_is_not_enough() -> None:
    out = ask(map_prompt(HOP2, Q2, before=[(0, summarize(HOP1))]))
    assert out == map_chunk.NO_INFORMATION


def test_final_pass_with_original_query_and_full_history() -> None:
    query = f"{Q2}\n(A) Dunvale\n(B) Vellmark\nAnswer with the letter."
    qa = [(Q1, "Osvin Pellam"), (Q2, "Dunvale")]
    assert fields(ask(map_prompt(HOP2, query, qa=qa)))["Answer"] == "Dunvale"


def test_split_fact_needs_the_neighbour_summary() -> None:
    chunk_a = f"{FILLER}\n\n{HALF_A}"
    chunk_b = f"{HALF_B}\n\n{FILLER}"
    assert ask(map_prompt(chunk_a, SPLIT_Q)) == map_chunk.NO_INFORMATION
    assert ask(map_prompt(chunk_b, SPLIT_Q)) == map_chunk.NO_INFORMATION
    with_after = fields(ask(map_prompt(chunk_a, SPLIT_Q, after=[(1, summarize(chunk_b))])))
    with_before = fields(ask(map_prompt(chunk_b, SPLIT_Q, before=[(0, summarize(chunk_a))])))
    for got in (with_after, with_before):
        assert got["Answer"] == "41-77" and got["Confidence Score"] == "4"
    both = fields(ask(map_prompt(f"{HALF_A}\n\n{HALF_B}", SPLIT_Q)))
    assert both["Answer"] == "41-77" and both["Confidence Score"] == "5"


def test_neither_half_alone_parses_as_a_whole_fact() -> None:
    assert not grammar.index_facts(HALF_A).whole and not grammar.index_facts(HALF_B).whole


# -- collapse and reduce --------------------------------------------------------------------------


def test_collapse_keeps_everything_and_the_most_confident_answer() -> None:
    findings = "\n\n".join(
        [
            finding("Chunk 3", "fact one", "Vellmark", 2),
            finding("Chunks 4-5", "fact two", "Dunvale", 5),
        ]
    )
    out = ask(collapse.TEMPLATE.format(findings=findings, qa_history=qa_history([]), question=Q2))
    got = fields(out)
    assert got["Answer"] == "Dunvale" and got["Confidence Score"] == "5"
    assert "fact one" in got["Extracted Information"] and "fact two" in got["Extracted Information"]
    assert [f.label for f in parse_findings(findings)] == ["Chunk 3", "Chunks 4-5"]


def test_reduce_picks_the_most_confident_finding() -> None:
    findings = "\n\n".join(
        [finding("Chunk 1", "a", "Vellmark", 3), finding("Chunk 7", "b", "Dunvale", 4)]
    )
    out = ask(reduce.TEMPLATE.format(findings=findings, qa_history=qa_history([]), question=Q2))
    assert out.startswith("Rationale: ") and out.splitlines()[-1] == "Answer: Dunvale"


def test_reduce_without_findings_uses_the_history_or_says_no_information() -> None:
    empty = reduce.TEMPLATE.format(findings=NO_FINDINGS, qa_history=qa_history([]), question=Q2)
    assert ask(empty).splitlines()[-1] == "Answer: No information"
    qa = qa_history([(Q1, "Osvin Pellam"), ("What is the hometown of Osvin Pellam?", "Dunvale")])
    resolved = reduce.TEMPLATE.format(findings=NO_FINDINGS, qa_history=qa, question=Q2)
    assert ask(resolved).splitlines()[-1] == "Answer: Dunvale"


def test_reduce_answers_multiple_choice_with_the_letter() -> None:
    question = f"{Q2}\n(A) Vellmark\n(B) Dunvale\nAnswer with the letter."
    findings = finding("Chunk 2", "b", "Dunvale", 5)
    out = ask(
        reduce.TEMPLATE.format(findings=findings, qa_history=qa_history([]), question=question)
    )
    assert out.splitlines()[-1] == "Answer: B"


# -- retries and malformed replies ----------------------------------------------------------------


def test_format_reminder_is_answered_as_the_original_stage() -> None:
    prompt = map_prompt(HOP1, Q1)
    messages = [
        {"role": "system", "content": QA_SYSTEM},
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": "I think it is Osvin."},
        {"role": "user", "content": REMINDERS["map"]},
    ]
    assert fields(reply(messages))["Answer"] == "Osvin Pellam"
    appended = [
        {
            "role": "user",
            "content": plan.TEMPLATE.format(question=Q2, max_sub_questions=3)
            + "\n\n"
            + REMINDERS["plan"],
        }
    ]
    assert read(appended).stage == "plan" and Q1 in reply(appended)


@pytest.mark.parametrize(
    ("prompt", "forbidden"),
    [
        (plan.TEMPLATE.format(question=Q2, max_sub_questions=3), (plan.OPEN_TAG, "1.")),
        (map_prompt(HOP1, Q1), ("Extracted Information:", "Answer:", map_chunk.NO_INFORMATION)),
        (
            collapse.TEMPLATE.format(
                findings=finding("Chunk 1", "a", "X", 3), qa_history="", question=Q1
            ),
            ("Answer:", "Confidence Score:"),
        ),
        (
            reduce.TEMPLATE.format(
                findings=finding("Chunk 1", "a", "X", 3), qa_history="", question=Q1
            ),
            ("Answer:",),
        ),
    ],
)
def test_malformed_replies_ignore_the_protocol(prompt: str, forbidden: tuple[str, ...]) -> None:
    bad = read([{"role": "user", "content": prompt}]).malformed
    assert bad and not any(f in bad for f in forbidden)
