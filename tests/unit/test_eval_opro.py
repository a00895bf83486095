"""The OPRO loop with a scripted model whose accuracy depends on the system prompt.

Answers are right for item i when the system prompt's skill level is above i, so every prompt
has a known dev and held-out score; the optimizer proposes prompts in a scripted order.
"""

import json
import re

import pytest
from longcepo.cli import main as cli
from longcepo.evaluation.datasets import Item
from longcepo.evaluation.opro import (
    Scorer,
    Search,
    meta_prompt,
    optimize,
    parse_proposal,
    split_items,
)
from longcepo.evaluation.prompts import OPTIMIZER_REMINDER
from longcepo.nodes.errors import ConfigError, InputError
from longcepo.nodes.llm import override_chat_model
from longcepo.runtime.prompt_file import load_prompt_file
from longcepo.state import Context

from tests.eval_data import write_jsonl_gz
from tests.fakes import make_model

LEVEL = re.compile(r"skill level (\d+)")
QUESTION = re.compile(r"What is the code of Item(\d+)\?")


def rows(n):
    return [{"_id": f"i{k}", "input": f"What is the code of Item{k}?", "answers": [str(1000 + k)],
             "gold_titles": [], "context": f"Passage 1:\nItem{k}\nThe code of Item{k} is "
                                           f"{1000 + k}.\n"} for k in range(n)]


def items(n):
    return [Item("toy", r["_id"], "qa", r["input"], r["input"], r["context"], tuple(r["answers"]))
            for r in rows(n)]


class Script:
    """The pipeline's stages answer by skill level; the optimizer proposes `levels` in order."""

    def __init__(self, levels):
        self.levels = list(levels)
        self.log = []  # (stage, item index or None, the request text)

    def __call__(self, stage, messages, kwargs):
        system = str(messages[0].content) if len(messages) > 1 else ""
        text = str(messages[-1].content)
        asked = QUESTION.search(text)
        self.log.append((stage, int(asked.group(1)) if asked else None, text))
        if stage == "optimize":
            if OPTIMIZER_REMINDER in text:
                return "Still thinking."  # a re-ask after a malformed proposal
            level = self.levels.pop(0)
            return "I will try harder." if level is None else (
                f"<PROMPT>\nYou are a reader with skill level {level}.\n</PROMPT>")
        match = LEVEL.search(system)
        level = int(match.group(1)) if match else 0
        index = int(asked.group(1))
        if stage == "map":
            if index >= level:
                return "[NO INFORMATION]"
            return (f"Extracted Information: code\nRationale: stated\nAnswer: {1000 + index}\n"
                    "Confidence Score: 5")
        if stage == "reduce":
            found = re.search(r"^Answer: (\d+)", text, re.M)
            return f"Rationale: r\nAnswer: {found.group(1) if found else 'No information'}"
        raise AssertionError(stage)


@pytest.fixture
def base():
    return Context(base_url="http://127.0.0.1:9/v1", api_key="k", chunk_size=512,
                   max_context_window=2048, max_output_tokens=200, max_format_retries=1,
                   retry_backoff=0.0)


async def test_search_keeps_the_best_and_scores_held_out_only_at_the_end(base):
    dev, test = items(6)[:4], items(6)[4:]
    # step 1 proposes levels 2 and 3; step 2 proposes a worse one, a repeat and a malformed one
    script = Script([2, 3, 1, 3, None])
    search = Search("system_prompt", "mapreduce", "f1", steps=2, candidates=3, keep=2)
    search_steps = []

    def on_step(step, best, new):
        search_steps.append((step, best.score, [s.score for s in new]))

    script.levels.insert(2, 9)  # step 1's third proposal: the best (all dev items right)
    with override_chat_model(make_model(script)):
        outcome = await optimize(search, base, base, dev, test, on_step=on_step)
    assert outcome.default.score == 0.0 and outcome.default.step == 0
    assert [s.score for s in outcome.history] == [0.0, 0.5, 0.75, 1.0, 0.25]
    assert outcome.best.prompt.endswith("skill level 9.") and outcome.best.step == 1
    assert search_steps == [(1, 1.0, [0.5, 0.75, 1.0]), (2, 1.0, [0.25])]
    assert sorted(s.split(" (reply began")[0] for s in outcome.skipped) == [
        "step 2: a repeat of a prompt already scored", "step 2: no <PROMPT> block in the reply"]
    assert any("Still thinking." in s for s in outcome.skipped)
    # held out: level 9 answers items 4 and 5, the default none
    assert outcome.best_test == 1.0 and outcome.default_test == 0.0
    # the step-2 meta-prompt shows the kept best (keep=2), worst first, with scores
    metas = [text for stage, _, text in script.log if stage == "optimize"]
    step2 = metas[3]
    assert "skill level 9" in step2 and "score: 100.0" in step2 and "skill level 3" in step2
    assert "skill level 2" not in step2 and step2.index("level 3") < step2.index("level 9")
    # no held-out item is read before the search has ended
    held_out = {4, 5}
    first_test = min(i for i, (_, k, _) in enumerate(script.log) if k in held_out)
    last_search = max(i for i, (stage, k, _) in enumerate(script.log)
                      if stage == "optimize" or k in {0, 1, 2, 3})
    assert first_test > last_search
    assert all(k not in held_out for _, k, t in script.log if "Examples" in t)


async def test_default_wins_a_tie(base):
    dev, test = items(2), items(3)[2:]
    script = Script([0])  # "skill level 0" scores the same as the default
    search = Search("system_prompt", "mapreduce", "f1", steps=1, candidates=1)
    with override_chat_model(make_model(script)):
        outcome = await optimize(search, base, base, dev, test)
    assert outcome.best is outcome.default and outcome.best_test == outcome.default_test


def test_split_is_disjoint_seeded_and_checked():
    dev, test = split_items(items(10), 4, 3, seed=1)
    assert len(dev) == 4 and len(test) == 3
    assert not {i.item_id for i in dev} & {i.item_id for i in test}
    assert split_items(items(10), 4, 3, seed=1) == (dev, test)
    with pytest.raises(InputError, match="needs 12 items"):
        split_items(items(10), 6, 6)


def test_template_fields_keep_their_placeholders(base):
    search = Search("reduce_prompt")
    meta = meta_prompt(search, "m", [], items(1))
    assert "{findings}, {qa_history}, {question}" in meta
    from longcepo.evaluation.opro import _usable
    assert _usable(search, "Answer {question}", []).startswith("reduce_prompt must use")
    assert _usable(search, base.reduce_prompt + " Be brief.", []) is None
    assert parse_proposal("x <PROMPT> new one ") == "new one"
    assert parse_proposal("<prompt>\n</prompt>") is None


async def test_scorer_refuses_a_judge_metric_without_a_judge(base):
    scorer = Scorer(Search("system_prompt", "mapreduce", "judge"), base)
    with override_chat_model(make_model(Script([]))), pytest.raises(ConfigError, match="judge"):
        await scorer("skill level 3", items(1))


def test_cli_writes_a_prompt_file_that_ask_and_eval_take(tmp_path, capsys):
    data = write_jsonl_gz(tmp_path / "toy.jsonl.gz", rows(8))
    out = tmp_path / "tuned.json"
    common = ["--base-url", "http://127.0.0.1:9/v1", "--api-key", "k", "--chunk-size", "512",
              "--window", "2048", "--max-output-tokens", "200"]
    with override_chat_model(make_model(Script([5, 8]))):
        code = cli.main(["optimize-prompt", "--dataset", str(data), "--out", str(out),
                         "--strategy", "mapreduce", "--steps", "1", "--candidates", "2",
                         "--dev", "4", "--test", "4", *common])
    printed = capsys.readouterr().out
    assert code == 0
    assert load_prompt_file(out) == {"system_prompt": "You are a reader with skill level 8."}
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["best"]["dev"] == 1.0 and report["best"]["held_out"] == 1.0
    assert report["default"]["held_out"] == 0.0
    assert not set(report["dev_items"]) & set(report["held_out_items"])
    assert "best prompt 100.0" in printed and "default 0.0" in printed
    # the file steers eval
    with override_chat_model(make_model(Script([]))):
        code = cli.main(["eval", "--dataset", str(data), "--strategy", "mapreduce", "-q",
                         "--out", str(tmp_path / "ev"), "--prompts", str(out), *common])
    assert code == 0
    assert "| toy | mapreduce | 8 | 1 | 100.0 |" in (tmp_path / "ev" / "summary.md").read_text()
