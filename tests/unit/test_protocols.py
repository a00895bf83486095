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
