import pytest
from longcepo.nodes.protocols import (
    NO_INFO,
    is_no_information,
    parse_answer,
    parse_finding,
    parse_question,
    parse_sub_questions,
    salvage_answer,
)


@pytest.mark.parametrize("text, expected", [
    ("<SUB-QUESTIONS>\n1. Who is A?\n2. Where is B?\n</SUB-QUESTIONS>", ["Who is A?", "Where is B?"]),
    ("Plan:\n<SUB-QUESTIONS>\n1) Who is A?\n2) Where is B?", ["Who is A?", "Where is B?"]),
    ("<sub_questions>\n- Who is A?\n* Where is B?\n</sub_questions>", ["Who is A?", "Where is B?"]),
    ("<SUB-QUESTIONS>\n1. **Who is A?**\n1. **Who is A?**\n2. Where is B?", ["Who is A?", "Where is B?"]),
    ("<SUB-QUESTIONS>\n  1.  Who is A?  \n\n  2. Where is B?\n</SUB-QUESTIONS> trailing", ["Who is A?", "Where is B?"]),
])
def test_sub_questions_lenient_shapes(text, expected):
    assert parse_sub_questions(text, cap=6) == expected


@pytest.mark.parametrize("text", [
    "", "1. Who is A?\n2. Where is B?", "<SUB-QUESTIONS>\n</SUB-QUESTIONS>",
    "I think the answer is Paris.", "<SUB-QUESTIONS> no list here </SUB-QUESTIONS>",
    "<SUB-QUESTIONS>\n1. second sub-question\n2. third sub-question\n3. Sub-Question",
])
def test_sub_questions_malformed(text):
    assert parse_sub_questions(text, cap=6) is None


def test_sub_questions_echoing_the_example_are_dropped():
    text = "<SUB-QUESTIONS>\n1. first sub-question\n2. Who designed the sub-question list?"
    assert parse_sub_questions(text, cap=6) == ["Who designed the sub-question list?"]


def test_sub_questions_cap():
    text = "<SUB-QUESTIONS>\n" + "\n".join(f"{i}. Q{i}?" for i in range(1, 10))
    assert parse_sub_questions(text, cap=3) == ["Q1?", "Q2?", "Q3?"]


def test_finding_four_fields_with_markdown_and_repetition():
    text = ("**Extracted Information:** The vault is in Oslo.\n**Rationale:** stated.\n"
            "**Answer:** Oslo\n**Confidence Score:** 4/5\n\nExtracted Information: again\nAnswer: Bergen")
    f = parse_finding(text, [7, 3])
    assert f == {"sources": [3, 7], "extracted": "The vault is in Oslo.", "rationale": "stated.",
                 "answer": "Oslo", "confidence": 4.0}


@pytest.mark.parametrize("text", [
    "[NO INFORMATION]", "  [No Information]  ", "Answer: [NO INFORMATION]",
    "Extracted Information: none\nAnswer: No information\nConfidence Score: 0", "NO INFORMATION",
])
def test_finding_no_information(text):
    assert parse_finding(text, [1]) == NO_INFO


@pytest.mark.parametrize("text", ["", "The passage is about cats.", "[YES INFORMATION] cats",
                                  "Extracted Information: cats\nRationale: x"])
def test_finding_malformed(text):
    assert parse_finding(text, [1]) is None


def test_finding_confidence_clamped_and_missing():
    assert parse_finding("Answer: x\nConfidence Score: 9", [0])["confidence"] == 5.0
    assert parse_finding("Answer: x", [0])["confidence"] is None


@pytest.mark.parametrize("text, expected", [
    ("Rationale: because\nAnswer: Paris\nConfidence Score: 5", "Paris"),
    ("Rationale: r\nAnswer: Paris\n\nConfidence Score: 5", "Paris"),
    ("**Rationale:** r\n**Final Answer:** (B)", "(B)"),
    ("Rationale: r\nAnswer: The treaty of 1648\nwas signed in Münster\nConfidence: 3",
     "The treaty of 1648\nwas signed in Münster"),
    ("Rationale: r\nanswer:  \"Oslo\"  ", "Oslo"),
])
def test_answer_extraction_drops_trailing_confidence(text, expected):
    assert parse_answer(text) == expected


@pytest.mark.parametrize("text", ["", "Paris", "Rationale: only reasoning", "Answer:   "])
def test_answer_missing(text):
    assert parse_answer(text) is None


def test_question_and_salvage():
    assert parse_question("Question: What is X?\nextra") == "What is X?"
    assert parse_question('"What is X?"') == "What is X?"
    assert parse_question("  \n ") is None
    chatty = "Sure! Here is what the user wants to know:\n\n**What is X?**\n\nI hope this helps."
    assert parse_question(chatty) == "What is X?"
    assert parse_question("Here it is:\nSummarize the report") == "Summarize the report"
    assert parse_question("The question is:") is None
    assert salvage_answer("Some reasoning.\n\nThe answer is 4.") == "The answer is 4."
    assert is_no_information("No information.") and not is_no_information("Oslo")


OLD_MAP_LINES = ("Answer: the answer this passage supports, as short as possible\n"
                 "Confidence Score: a whole number from 0 to 5")


@pytest.mark.parametrize("stage", ["map", "collapse"])
def test_a_finding_that_echoes_the_prompt_is_no_finding(stage):
    from longcepo.nodes.protocols import own_text
    from longcepo.state import Context

    own = own_text(Context(), stage) + "\n" + OLD_MAP_LINES
    echoed = ("Extracted Information: the facts in the passage\nRationale: x\n"
              "Answer: the answer this passage supports\nConfidence Score: 5")
    assert parse_finding(echoed, [1], own) is None
    assert parse_finding("Answer: ...\nConfidence Score: 5", [1], own) is None
    assert parse_finding("Answer: in as few words as you can", [1], own_text(Context(), stage)) is None
    kept = parse_finding("Answer: Vellmar, the passage supports it\nConfidence Score: 4", [1], own)
    assert kept not in (None, NO_INFO) and kept["answer"].startswith("Vellmar")
    # a two-word answer that happens to be in the prompt is still an answer
    assert parse_finding("Answer: the passage\nConfidence Score: 1", [1], own) not in (None, NO_INFO)


def test_sub_questions_and_answers_that_echo_the_prompt_are_rejected():
    from longcepo.nodes.protocols import own_text
    from longcepo.state import Context

    plan = own_text(Context(), "plan")
    text = ("<SUB-QUESTIONS>\n1. a whole question in your own words\n2. ...\n"
            "3. Who designed the Greyholm Dam?\n</SUB-QUESTIONS>")
    assert parse_sub_questions(text, cap=6, template=plan) == ["Who designed the Greyholm Dam?"]
    assert parse_sub_questions("<SUB-QUESTIONS>\n1. simple sub-questions\n", cap=6,
                               template=plan) is None
    reduce = own_text(Context(), "reduce")
    assert parse_answer("Rationale: x\nAnswer: the answer to the question and nothing else",
                        reduce) is None
    assert parse_answer("Rationale: x\nAnswer: Vellmar", reduce) == "Vellmar"
    assert salvage_answer("Vellmar\n\ngive your reasoning briefly", reduce) == "Vellmar"


def test_prompts_hold_no_example_answer_or_placeholder_to_copy():
    """Nothing quoted, no list placeholder: what a small model copies is then its own."""
    import re

    from longcepo.state import PROMPT_FIELDS, Context

    ctx = Context()
    for name in PROMPT_FIELDS:
        text = getattr(ctx, name)
        assert not re.findall(r'"[^"]{3,}"', text), name
        assert "sub-question\n" not in text and "Lyon" not in text, name
        assert not re.search(r"^\s*\d+\.\s", text, re.M), f"{name} shows a numbered item"


def test_sub_question_labels_copied_from_a_placeholder_are_stripped():
    text = ("<SUB-QUESTIONS>\n1. First sub-question: Who designed the dam?\n"
            "2. sub-question 2: Where was he born?\n</SUB-QUESTIONS>")
    assert parse_sub_questions(text, cap=6) == ["Who designed the dam?", "Where was he born?"]
