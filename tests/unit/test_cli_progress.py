"""The progress line and its ETA, the verbose and quiet modes, and the resume command."""

from __future__ import annotations

import argparse
import io

import pytest
from longcepo.cli import common as cli_common
from longcepo.cli import progress as cli_progress
from longcepo.cli.common import resume_command
from longcepo.cli.progress import Progress, clock


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def tick(monkeypatch):
    clock_ = Clock()
    monkeypatch.setattr(cli_progress.time, "monotonic", clock_)
    return clock_


def feed(progress, events):
    for event in events:
        progress.event(event)


def test_clock_format():
    assert clock(0) == "0:00" and clock(75) == "1:15" and clock(3725) == "1:02:05"


def test_eta_counts_the_whole_run_at_the_measured_rates(tick):
    out = io.StringIO()
    p = Progress(out)
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 4},
             {"event": "plan", "sub_questions": ["a?", "b?"]}])
    assert p.eta() == "--:--"
    feed(p, [{"event": "pass_start", "index": 0, "passes": 3, "question": "a?", "final": False}])
    # 4 summaries + 4 maps + 1 reduce in this pass, then 2 passes of 4 maps + 1 reduce
    assert p.tasks_left() == 9 + 2 * 5
    for chunk in range(4):
        tick.now += 10
        feed(p, [{"event": "summary_done", "chunk": chunk}])
        if chunk < 2:
            assert p.eta() == "--:--", "no ETA from one or two measured calls"
    assert p.tasks_left() == 15
    # until a map is measured, maps and reduces are expected at the summaries' 10 s
    assert p.seconds_left() == pytest.approx(15 * 10)
    tick.now += 4
    feed(p, [{"event": "map_done", "chunk": 0, "relevant": True}])
    # 11 maps left at 4 s, 3 reduces at the mean of all tasks so far (44 s / 5 tasks)
    assert p.seconds_left() == pytest.approx(11 * 4 + 3 * 44 / 5)
    feed(p, [{"event": "collapse_round", "round": 1, "merges": 2, "findings": 4}])
    assert p.tasks_left() == 3 + 2 + 1 + 10 and p.stage == "collapse"
    tick.now += 6
    feed(p, [{"event": "merge_done", "at": 0}])
    assert p.tasks_left() == 3 + 1 + 1 + 10
    assert "pass 1/3 collapse" in p.line() and "1/2" in p.line()


def test_clock_bar_and_eta_move_while_a_call_is_in_flight(tick):
    p = Progress(io.StringIO())
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 4},
             {"event": "plan", "sub_questions": []},
             {"event": "pass_start", "index": 0, "passes": 1, "question": "q", "final": True}])
    for chunk in range(4):
        tick.now += 10
        feed(p, [{"event": "map_done", "chunk": chunk, "relevant": True}])
    assert p.stage == "map" and p.done == 4
    feed(p, [{"event": "mapped", "relevant": 4, "chunks": 4}])
    before, eta_before = p.line(), p.seconds_left()
    assert eta_before == pytest.approx(10), "one reduce left at the measured 10 s per task"
    tick.now += 5
    after = p.line()
    assert "elapsed 0:45" in after and "elapsed 0:40" in before
    assert after.count("#") > before.count("#"), "the bar creeps while the reduce runs"
    assert p.seconds_left() == pytest.approx(5)
    tick.now += 60  # a slow call: the ETA holds at zero for this task, the bar stops short
    assert p.seconds_left() == 0 and after.count("#") <= p.line().count("#") < 24


def test_a_log_gets_a_plain_line_at_least_every_few_seconds(tick):
    out = io.StringIO()
    p = Progress(out)
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 2}])
    lines = out.getvalue().count("\n")
    p.tick()
    assert out.getvalue().count("\n") == lines, "no line again right away"
    tick.now += cli_progress.PLAIN_EVERY
    p.tick()
    assert out.getvalue().count("\n") == lines + 1
    assert out.getvalue().splitlines()[-1].startswith("preparing planning")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_narrow_terminal_never_wraps(tick):
    out = Terminal()
    p = Progress(out, columns=lambda: 40)
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 3},
             {"event": "plan", "sub_questions": ["a?"]},
             {"event": "pass_start", "index": 0, "passes": 2, "question": "a?", "final": False},
             {"event": "summary_done", "chunk": 0}])
    tick.now += 3
    p.tick()
    redraws = out.getvalue().split("\r\033[K")[1:]
    bars = [r for r in redraws if not r.startswith("read ")]
    assert len(bars) >= 4
    assert all(len(r) <= 39 and "\n" not in r for r in bars)
    assert bars[-1].startswith("pass 1/2 summaries")


def test_a_narrow_terminal_loses_the_bar_before_the_clock(tick):
    out = Terminal()
    p = Progress(out, columns=lambda: 60)
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 3},
             {"event": "plan", "sub_questions": ["a?"]},
             {"event": "pass_start", "index": 0, "passes": 2, "question": "a?", "final": False}])
    bar = out.getvalue().split("\r\033[K")[-1]
    assert len(bar) <= 59 and bar.endswith("elapsed 0:00  eta --:--") and "[" not in bar
    wide = Terminal()
    q = Progress(wide, columns=lambda: 70)
    feed(q, [{"event": "ingested", "documents": 1, "chunks": 3}])
    line = wide.getvalue().split("\r\033[K")[-1]
    assert "[" in line and len(line) <= 69 and line.endswith("eta --:--"), "a shorter bar"


def test_a_resumed_run_shows_pass_stage_and_eta(tick):
    p = Progress(io.StringIO())
    p.resume_from({"documents": [{"n_chunks": 3}, {"n_chunks": 2}],
                   "sub_questions": ["a?", "b?"], "pass_index": 1})
    assert p.line().startswith("pass 2/3 resuming")
    assert p.tasks_left() == 5 + 1 + 5 + 1
    for chunk in range(3):
        tick.now += 2
        feed(p, [{"event": "map_done", "chunk": chunk, "relevant": False}])
    assert p.line().startswith("pass 2/3 map") and "3/5" in p.line()
    assert p.seconds_left() == pytest.approx(2 * 2 + 5 * 2 + 2 * 2)
    assert "eta 0:18" in p.line()


def test_the_ticker_redraws_until_closed():
    out = Terminal()
    p = Progress(out, columns=lambda: 80)
    p.start_ticker(every=0.01)
    deadline = cli_progress.time.monotonic() + 5
    while out.getvalue().count("elapsed") < 3 and cli_progress.time.monotonic() < deadline:
        cli_progress.time.sleep(0.01)
    p.close()
    assert out.getvalue().count("elapsed") >= 3
    written = out.getvalue()
    cli_progress.time.sleep(0.05)
    assert out.getvalue() == written and written.endswith("\r\033[K")


def test_a_run_without_summaries_goes_straight_to_map(tick):
    p = Progress(io.StringIO())
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 3},
             {"event": "plan", "sub_questions": []},
             {"event": "pass_start", "index": 0, "passes": 1, "question": "q", "final": True},
             {"event": "map_done", "chunk": 0, "relevant": False}])
    assert p.tasks_left() == 2 + 1 and p.stage == "map"


def test_verbose_shows_plan_sub_answers_and_collapse_quiet_shows_nothing(tick):
    events = [{"event": "ingested", "documents": 1, "chunks": 2},
              {"event": "plan", "sub_questions": ["Who designed it?"]},
              {"event": "pass_start", "index": 0, "passes": 2, "question": "Who designed it?",
               "final": False},
              {"event": "collapse_round", "round": 1, "merges": 1, "findings": 2},
              {"event": "pass_done", "index": 0, "passes": 2, "question": "Who designed it?",
               "answer": "Reinholt", "final": False}]
    loud, quiet, plain = io.StringIO(), io.StringIO(), io.StringIO()
    feed(Progress(loud, verbose=True), events)
    feed(Progress(quiet, quiet=True), events)
    feed(Progress(plain), events)
    text = loud.getvalue()
    assert "1. Who designed it?" in text and "answer 1: Reinholt" in text
    assert "collapse round 1: merging 1 pair(s)" in text
    assert quiet.getvalue() == ""
    assert "read 1 document(s) into 2 chunks" in plain.getvalue()
    assert "Reinholt" not in plain.getvalue()


def test_resume_command_repeats_the_settings_but_never_the_key(monkeypatch):
    monkeypatch.setattr(cli_common, "program", lambda: "longcepo")
    args = argparse.Namespace(thread_id="T1", model="local", model_path=None, base_url=None,
                              state_dir="/tmp/my state", chunk_size=1024,
                              max_context_window=2048, max_output_tokens=256, temperature=0.0,
                              api_key="sk-secret", no_plan=True, seed=None)
    command = resume_command(args)
    assert command == ("longcepo ask --resume T1 --model local --state-dir '/tmp/my state' "
                       "--chunk-size 1024 --window 2048 --max-output-tokens 256 "
                       "--temperature 0 --no-plan")


def test_the_bundled_model_is_announced_as_unable_to_answer(monkeypatch):
    from longcepo.cli.ask import bundled_model_notes

    monkeypatch.setattr("longcepo.cli.ask.program", lambda: ".venv/bin/longcepo")
    monkeypatch.delenv("LONGCEPO_MODEL", raising=False)
    local = argparse.Namespace(model="local", model_path=None)
    before, after = bundled_model_notes(local)
    assert "135M" in before and "cannot answer" in before and "wrong" in after
    for note in (before, after):
        assert ".venv/bin/longcepo ask --base-url URL --model NAME" in note
    assert bundled_model_notes(argparse.Namespace(model="local", model_path="big.gguf")) is None
    assert bundled_model_notes(argparse.Namespace(model="gpt-4o-mini", model_path=None)) is None
