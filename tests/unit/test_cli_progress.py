"""The progress line and its ETA, the verbose and quiet modes, and the resume command."""

from __future__ import annotations

import argparse
import io

import pytest
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


def test_eta_counts_the_whole_run_at_the_pace_so_far(tick):
    out = io.StringIO()
    p = Progress(out)
    feed(p, [{"event": "ingested", "documents": 1, "chunks": 4},
             {"event": "plan", "sub_questions": ["a?", "b?"]}])
    assert p.eta() == "--:--"
    feed(p, [{"event": "pass_start", "index": 0, "passes": 3, "question": "a?", "final": False}])
    # 4 summaries + 4 maps + 1 reduce in this pass, then 2 passes of 4 maps + 1 reduce
    assert p.tasks_left() == 9 + 2 * 5
    tick.now += 10
    feed(p, [{"event": "summary_done", "chunk": 0}])
    assert p.tasks_left() == 18 and p.eta() == "3:00"
    for chunk in (1, 2, 3):
        feed(p, [{"event": "summary_done", "chunk": chunk}])
    feed(p, [{"event": "map_done", "chunk": 0, "relevant": True},
             {"event": "collapse_round", "round": 1, "merges": 2, "findings": 4}])
    assert p.tasks_left() == 3 + 2 + 1 + 10 and p.stage == "collapse"
    feed(p, [{"event": "merge_done", "at": 0}])
    assert p.tasks_left() == 3 + 1 + 1 + 10
    assert "pass 1/3 collapse" in p.line() and "1/2" in p.line()


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


def test_resume_command_repeats_the_settings_but_never_the_key():
    args = argparse.Namespace(thread_id="T1", model="local", model_path=None, base_url=None,
                              state_dir="/tmp/my state", chunk_size=1024,
                              max_context_window=2048, max_output_tokens=256, temperature=0.0,
                              api_key="sk-secret", no_plan=True, seed=None)
    command = resume_command(args)
    assert command == ("longcepo ask --resume T1 --model local --state-dir '/tmp/my state' "
                       "--chunk-size 1024 --window 2048 --max-output-tokens 256 "
                       "--temperature 0 --no-plan")
