"""`longcepo eval` end to end against the LLM double over real HTTP: scores, outputs, resume."""

import json

import pytest
from longcepo.cli import main as cli

from tests.eval_data import mc_rows, multihop_rows, write_jsonl_gz

SMALL = ["--api-key", "k", "--chunk-size", "300", "--window", "1400",
         "--max-output-tokens", "200", "--seed", "1", "-q"]


@pytest.fixture
def data(tmp_path):
    return (write_jsonl_gz(tmp_path / "multihop.jsonl.gz", multihop_rows(2)),
            write_jsonl_gz(tmp_path / "choice.jsonl.gz", mc_rows(1)))


def run_eval(double, out, *args):
    return cli.main(["eval", "--out", str(out), "--base-url", double.base_url, *SMALL, *args])


def records(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def by_variant(rows, dataset):
    out = {}
    for r in rows:
        if r["dataset"] == dataset:
            out.setdefault(r["variant"], []).append(r)
    return out


def test_all_strategies_score_as_the_context_they_see(llm_double, data, tmp_path, capsys):
    multihop, choice = data
    out = tmp_path / "out"
    code = run_eval(llm_double, out, "--dataset", str(multihop), "--dataset", str(choice),
                    "--strategy", "all", "--runs", "2")
    printed = capsys.readouterr().out
    assert code == 0
    rows = records(out)
    assert len(rows) == (2 + 1) * 4 * 2 and not any(r["error"] for r in rows)
    qa = by_variant(rows, "multihop")
    # the gold passages sit in the middle: the middle cut loses them, the others keep them
    assert all(r["scores"] == {"f1": 1.0, "em": 1.0} for v in ("longcepo", "mapreduce",
                                                             "full_context") for r in qa[v])
    assert all(r["scores"]["f1"] == 0.0 for r in qa["truncated"])
    assert all(r["info"]["context_tokens_sent"] < r["context_tokens"] for r in qa["truncated"])
    # facts far apart in one document: only the planned, multi-pass method resolves both hops
    mc = by_variant(rows, "choice")
    assert [r["scores"]["acc"] for r in mc["longcepo"]] == [1.0, 1.0]
    assert [r["scores"]["acc"] for r in mc["mapreduce"]] == [0.0, 0.0]
    # cost per item and stage
    pipeline = qa["longcepo"][0]
    assert {"normalize", "plan", "summary", "map", "reduce"} <= set(pipeline["usage"])
    assert pipeline["calls"] == sum(u["calls"] for u in pipeline["usage"].values()) > 5
    assert set(qa["full_context"][0]["usage"]) == {"direct"} and qa["full_context"][0]["calls"] == 1
    assert "plan" not in qa["mapreduce"][0]["usage"] and "summary" not in qa["mapreduce"][0]["usage"]
    assert all(r["wall_s"] > 0 and r["tokens"] > 0 for r in rows)
    # outputs
    summary = (out / "summary.md").read_text()
    assert "full contexts (not trimmed)" in summary
    assert "| multihop | longcepo | 2 | 2 | 100.0 ± 0.0 | 100.0 ± 0.0 |" in summary
    assert "| choice | mapreduce | 1 | 2 | – | – | 0.0 ± 0.0 |" in summary
    assert "| multihop | truncated |" in printed
    for name in ("quality_vs_tokens", "quality_by_strategy", "tokens_by_stage"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_running_again_continues_and_redoes_only_what_is_missing(llm_double, data, tmp_path):
    multihop, _ = data
    out = tmp_path / "out"
    args = ["--dataset", str(multihop), "--strategy", "longcepo,full_context"]
    assert run_eval(llm_double, out, *args) == 0
    first = records(out)
    sent = len(llm_double.log)
    assert run_eval(llm_double, out, *args) == 0
    assert len(llm_double.log) == sent, "finished answers are not asked again"
    # a run killed mid-write: one answer missing and a torn last line
    lines = (out / "results.jsonl").read_text().splitlines()
    lost = json.loads(lines[-1])
    (out / "results.jsonl").write_text("\n".join(lines[:-1]) + '\n{"key": "multih')
    assert run_eval(llm_double, out, *args) == 0
    asked = len(llm_double.log) - sent
    assert asked == lost["calls"]
    again = {r["key"]: r for r in records(out) if "key" in r}
    assert set(again) == {r["key"] for r in first} and again[lost["key"]]["answer"] == lost["answer"]
    # more runs in the same folder add to what is there
    assert run_eval(llm_double, out, *args, "--runs", "2") == 0
    assert {r["run"] for r in records(out)} == {0, 1}


def test_failed_answers_are_recorded_then_retried(llm_double, data, tmp_path, capsys):
    multihop, _ = data
    out = tmp_path / "out"
    args = ["--dataset", str(multihop), "--strategy", "full_context", "--retries", "0"]
    llm_double.configure(faults=[{"fault": "http_500"}])
    assert run_eval(llm_double, out, *args) == 1
    err = capsys.readouterr().err
    assert "2 answers failed" in err and "run the same command again" in err
    assert all("HTTP 500" in r["error"] for r in records(out))
    llm_double.configure(faults=[])
    assert run_eval(llm_double, out, *args) == 0
    latest = {r["key"]: r for r in records(out)}
    assert all(r["error"] is None and r["scores"]["f1"] == 1.0 for r in latest.values())
    assert "| multihop | full_context | 2 | 1 | 100.0 |" in (out / "summary.md").read_text()


def test_trimmed_contexts_are_labelled_everywhere(llm_double, tmp_path):
    multihop = write_jsonl_gz(tmp_path / "multihop.jsonl.gz", multihop_rows(2, distractors=30))
    out = tmp_path / "out"
    assert run_eval(llm_double, out, "--dataset", str(multihop), "--strategy", "full_context",
                    "--trim-tokens", "600") == 0
    rows = records(out)
    assert all(r["trim_tokens"] == 600 and r["context_tokens"] <= 600 for r in rows)
    assert all(r["scores"]["f1"] == 1.0 for r in rows)  # gold passages survive the trim
    assert "TRIMMED to about 600 tokens" in (out / "summary.md").read_text()
    assert json.loads((out / "settings.json").read_text())["trim_tokens"] == 600


def test_other_settings_into_the_same_folder_are_refused(llm_double, data, tmp_path, capsys):
    multihop, _ = data
    out = tmp_path / "out"
    assert run_eval(llm_double, out, "--dataset", str(multihop), "--strategy", "truncated") == 0
    capsys.readouterr()
    code = run_eval(llm_double, out, "--dataset", str(multihop), "--strategy", "truncated",
                    "--trim-tokens", "900")
    err = capsys.readouterr().err
    assert code == 2 and "other settings (trim_tokens)" in err and "Traceback" not in err


def test_ablations_are_variants_in_the_same_folder(llm_double, data, tmp_path):
    _, choice = data
    out = tmp_path / "out"
    base = ["--dataset", str(choice), "--strategy", "longcepo"]
    assert run_eval(llm_double, out, *base) == 0
    assert run_eval(llm_double, out, *base, "--no-plan") == 0
    assert run_eval(llm_double, out, *base, "--set", "num_neighbor_summaries=0") == 0
    rows = {r["variant"]: r for r in records(out)}
    assert set(rows) == {"longcepo", "longcepo[use_plan=False]",
                         "longcepo[num_neighbor_summaries=0]"}
    assert "plan" not in rows["longcepo[use_plan=False]"]["usage"]
    assert "summary" not in rows["longcepo[num_neighbor_summaries=0]"]["usage"]
    assert rows["longcepo"]["scores"]["acc"] == 1.0
    assert rows["longcepo[use_plan=False]"]["scores"]["acc"] == 0.0
    summary = (out / "summary.md").read_text()
    assert "| choice | longcepo[use_plan=False] |" in summary


@pytest.mark.parametrize("args, message", [
    (["--strategy", "best"], "unknown strategy best"),
    (["--strategy", "all", "--set", "colour=red"], "expected FIELD=VALUE"),
    (["--strategy", "all", "--set", "use_plan=3"], "expected bool"),
    (["--strategy", "all", "--set", "chunk_size=5000"], "leaves no room"),
])
def test_bad_options_exit_2_with_one_line(llm_double, data, tmp_path, capsys, args, message):
    multihop, _ = data
    code = run_eval(llm_double, tmp_path / "out", "--dataset", str(multihop), *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert llm_double.log == []


def test_json_replies_and_text_protocols_compare_in_one_command(llm_double, data, tmp_path):
    multihop, _ = data
    out = tmp_path / "out"
    assert run_eval(llm_double, out, "--dataset", str(multihop), "--strategy", "longcepo",
                    "--set", "structured_output=on", "--set", "structured_output=off") == 0
    rows = by_variant(records(out), "multihop")
    assert set(rows) == {"longcepo[structured_output=on]", "longcepo[structured_output=off]"}
    structured = [sum(u.get("structured_calls", 0) for u in r["usage"].values())
                  for r in rows["longcepo[structured_output=on]"]]
    text = [sum(u.get("structured_calls", 0) for u in r["usage"].values())
            for r in rows["longcepo[structured_output=off]"]]
    assert all(n > 0 for n in structured) and text == [0, 0]
    assert all(r["scores"]["f1"] == 1.0 for v in rows.values() for r in v)
    assert json.loads((out / "settings.json").read_text())["structured_output"] == "auto"
    summary = (out / "summary.md").read_text()
    assert "| multihop | longcepo[structured_output=off] |" in summary
    assert "calls answered as JSON under a schema" in summary


def test_a_setting_with_choices_is_checked(llm_double, data, tmp_path, capsys):
    multihop, _ = data
    code = run_eval(llm_double, tmp_path / "out", "--dataset", str(multihop), "--strategy",
                    "longcepo", "--set", "structured_output=maybe")
    err = capsys.readouterr().err
    assert code == 2 and "expected one of auto, on, off" in err and llm_double.log == []
