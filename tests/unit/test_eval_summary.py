"""Aggregation into summary rows: mean ± std over runs, majority vote, cost, failure counts."""

import pytest
from longcepo.evaluation.summary import diagnose, markdown, summarize


def rec(item, run, answer, f1, *, variant="longcepo", notes=(), usage=None, error=None, info=None):
    return {"dataset": "d", "item_id": item, "variant": variant, "run": run, "kind": "qa",
            "answer": answer, "golds": ["paris"], "scores": {} if error else {"f1": f1, "em": f1},
            "judge": None, "tokens": 100 * (run + 1), "calls": 3, "wall_s": 2.0,
            "usage": usage or {"map": {"calls": 2, "prompt_tokens": 80, "completion_tokens": 20,
                                       "format_retries": 1, "failed_calls": 0}},
            "notes": list(notes), "info": info or {}, "error": error}


def test_mean_std_over_runs_and_majority():
    rows = [rec("a", 0, "Paris", 1.0), rec("b", 0, "Lyon", 0.0),
            rec("a", 1, "Lyon", 0.0), rec("b", 1, "Lyon", 0.0),
            rec("a", 2, "paris!", 1.0), rec("b", 2, "Paris", 1.0)]
    (row,) = summarize(rows)
    assert row.items == 2 and row.runs == 3
    mean, std = row.quality["f1"]
    assert mean == pytest.approx(0.5) and std == pytest.approx(0.5)  # runs: 0.5, 0.0, 1.0
    assert row.majority["f1"] == pytest.approx(0.5)  # a: Paris (2 of 3), b: Lyon (2 of 3)
    assert row.tokens == pytest.approx(200) and row.stage_tokens == {"map": 100}
    table = markdown([row], "label line")
    assert "| d | longcepo | 2 | 3 | 50.0 ± 50.0 | 50.0 ± 50.0 | – | – | 50.0 | 200 | 3.0 | 2.0 |" in table


def test_errors_are_counted_not_scored():
    (row,) = summarize([rec("a", 0, "Paris", 1.0), rec("b", 0, "", 0.0, error="boom")])
    assert row.items == 1 and row.quality["f1"] == (1.0, 0.0) and row.diagnostics["errors"] == 1


def test_diagnostics_read_answers_notes_and_usage():
    rows = [
        rec("a", 0, "", 0.0, notes=["plan: no <SUB-QUESTIONS> list after 1 re-asks; the "
                                    "normalized query is the only sub-question",
                                    "map (pass 0): 3 chunk replies ignored the four-field "
                                    "protocol after re-asks; their text was kept with confidence 0",
                                    "map (pass 1): 2 chunk replies ignored the four-field protocol"
                                    " after re-asks; their text was kept with confidence 0"],
            info={"sub_questions": ["q1", "q2"],
                  "qa_history": [{"question": "q1", "answer": "No information"},
                                 {"question": "q2", "answer": "x"}]}),
        rec("b", 0, "No information", 0.0,
            notes=["reduce (pass 0): no 'Answer:' after 1 re-asks; its last paragraph was used"]),
    ]
    counts = diagnose(rows)
    assert counts["empty answers"] == 1 and counts["'No information' answers"] == 1
    assert counts["answers with a plan fallback"] == 1
    assert counts["answers with a map fallback"] == 1  # two passes, one answer
    assert counts["answers with a reduce fallback"] == 1
    assert counts["map replies without protocol"] == 5
    assert counts["format re-asks"] == 2
    assert counts["sub-answers 'No information'"] == 1 and counts["multi-step plans"] == 1


def test_copies_of_prompt_text_are_counted():
    from longcepo.evaluation.summary import echoes_prompt
    from longcepo.prompts import normalize
    line = next(x for x in normalize.TEMPLATE.splitlines() if len(x.split()) > 8)
    assert echoes_prompt(line) and echoes_prompt(f"Sure. {line} Done.")
    assert not echoes_prompt("The capital of France is Paris, a city on the Seine.")
    counts = diagnose([rec("b", 0, "Q2: x\nA1: The answer is Lyon.", 0.0)])
    assert counts["answers quoting a prompt's example"] == 1
    assert counts["answers in the Q1:/A1: history format"] == 1
    counts = diagnose([rec("a", 0, "the final answer only", 0.0,
                           info={"sub_questions": [line],
                                 "qa_history": [{"question": line, "answer": "x"}]})])
    assert counts["answers copying the format line"] == 1
    assert counts["sub-questions copying prompt text"] == 1
    assert counts["sub-answers copying prompt text"] == 0


def test_reply_form_counts_a_demo_result():
    from bench.reply_form import reply_form

    result = {"answer": "The answer is Lyon.", "sub_questions": ["first sub-question"],
              "qa_history": [{"question": "q", "answer": "x"}],
              "notes": ["reduce (pass 1): no 'Answer:' after 1 re-asks; ..."],
              "usage": {"plan": {"calls": 2, "format_retries": 1},
                        "map": {"calls": 5, "failed_calls": 1, "format_retries": 1,
                                "protocol_fallbacks": 1, "structured_calls": 3},
                        "reduce": {"calls": 2, "format_retries": 1}}}
    counts = reply_form(result)
    assert counts["well-formed plan/map/collapse/reduce replies"] == "3/8"
    assert counts["calls"] == 9 and counts["format re-asks"] == 3
    assert counts["calls answered under a schema"] == 3
    assert counts["answers quoting a prompt's example"] == 1
    assert counts["sub-questions copying a placeholder or prompt text"] == 1
