"""Scores follow the LongBench v1 conventions; aggregation over runs as in the method's tables."""

import pytest
from longcepo.evaluation.metrics import (
    choice_letter,
    exact_match,
    majority,
    mean_std,
    normalize_answer,
    qa_f1,
    score,
)


def test_normalize_drops_case_punctuation_articles_and_spaces():
    assert normalize_answer("  The Eiffel-Tower, in  Paris!") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theory") == "theory"  # articles only as whole words


def test_f1_is_token_overlap_and_the_best_gold_counts():
    assert qa_f1("G. Stanley Hall", ["G. Stanley Hall", "Stanley Hall"]) == 1.0
    # prediction "stanley hall university" vs gold "g stanley hall": p=2/3, r=2/3
    assert qa_f1("Stanley Hall University", ["G. Stanley Hall"]) == pytest.approx(2 / 3)
    assert qa_f1("Stanley Hall University", ["G. Stanley Hall", "Stanley Hall"]) == pytest.approx(0.8)
    assert qa_f1("No information", ["a spirit"]) == 0.0
    assert qa_f1("", ["x"]) == 0.0


def test_exact_match_after_normalization():
    assert exact_match("a Spirit.", ["spirit"]) == 1.0
    assert exact_match("a spirit of the air", ["a spirit"]) == 0.0


@pytest.mark.parametrize("answer, letter", [
    ("(B) the second one", "B"),
    ("The answer is C.", "C"),
    ("Answer: D", "D"),
    ("I think (A)", "A"),
    ("none of these", None),
    ("ABCD", None),
    ("E", None),
])
def test_choice_is_the_first_standalone_letter_or_parenthesized(answer, letter):
    assert choice_letter(answer) == letter


def test_score_by_kind():
    assert score("mc", "(C)", ["C"]) == {"acc": 1.0}
    assert score("mc", "B", ["C"]) == {"acc": 0.0}
    assert score("qa", "Paris", ["paris"]) == {"f1": 1.0, "em": 1.0}


def test_mean_std_over_runs_and_majority_vote():
    mean, std = mean_std([0.5, 0.7, 0.6])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)
    assert mean_std([0.4]) == (0.4, 0.0)
    assert majority(["Paris", "paris.", "Lyon"], "qa") == "Paris"
    assert majority(["Lyon", "Paris"], "qa") == "Lyon"  # a tie goes to the earliest run
    assert majority(["(A)", "B", "the answer is B"], "mc") == "B"
