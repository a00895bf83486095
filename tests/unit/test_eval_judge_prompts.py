"""LLM-as-judge scoring, and prompt files (`--prompts`) for ask and eval."""

import json

import pytest
from longcepo.cli import main as cli
from longcepo.evaluation.datasets import Item
from longcepo.evaluation.judge import judge, judge_context, parse_verdict
from longcepo.evaluation.results import ResultStore
from longcepo.evaluation.runner import Variant, evaluate, pinned_settings, plan_jobs, write_summary
from longcepo.nodes.errors import ConfigError
from longcepo.nodes.llm import override_chat_model
from longcepo.runtime.prompt_file import load_prompt_file, write_prompt_file

from tests.fakes import make_model
from tests.unit.scripted import document, reader

BASE = ["--base-url", "http://127.0.0.1:9/v1", "--api-key", "k", "--chunk-size", "512",
        "--window", "2048", "--max-output-tokens", "200"]


@pytest.mark.parametrize("reply, verdict", [
    ("Verdict: CORRECT", 1.0), ("verdict: incorrect", 0.0), ("**Verdict:** Correct.", 1.0),
    ("The prediction is incorrect.", 0.0), ("I cannot tell.", None),
])
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


def judge_responder(stage, messages, kwargs):
    text = str(messages[-1].content)
    if stage == "judge":
        assert kwargs["temperature"] == 0.0
        gold = text.split("<gold_answers>\n")[1].split("\n</gold_answers>")[0]
        prediction = text.split("<prediction>\n")[1].split("\n</prediction>")[0]
        return f"Verdict: {'CORRECT' if gold.lower() in prediction.lower() else 'INCORRECT'}"
    return reader(stage, messages, kwargs)


async def test_judge_scores_answers_and_the_summary_shows_it(ctx, tmp_path):
    doc = document(300, {150: "The code of Alpha is 1111.\n"})
    item = Item("toy", "a", "qa", "What is the code of Alpha?", "What is the code of Alpha?",
                doc, ("1111",))
    judge_ctx = judge_context(ctx, "judge-model")
    assert judge_ctx.model == "judge-model" and judge_ctx.base_url == ctx.base_url
    store = ResultStore(tmp_path / "out", pinned_settings(ctx, judge_model="judge-model"))
    model = make_model(judge_responder)
    with override_chat_model(model):
        verdict, usage = await judge(judge_ctx, item, "It is 1111.")
        assert verdict == 1.0 and usage["calls"] == 1 and usage["prompt_tokens"] > 0
        assert (await judge(judge_ctx, item, "It is 2222."))[0] == 0.0
        jobs = plan_jobs([item], [Variant("longcepo")], 1)
        (record,) = await evaluate(jobs, store, ctx, concurrency=2, judge_ctx=judge_ctx,
                                   quiet=True)
    assert record["answer"] == "1111" and record["judge"] == 1.0
    assert record["judge_usage"]["calls"] == 1 and "judge" not in record["usage"]
    summary, _ = write_summary(store)
    assert "| toy | longcepo | 1 | 1 | 100.0 | 100.0 | – | 100.0 |" in summary.read_text()


def test_prompt_files_json_and_toml(tmp_path):
    path = write_prompt_file(tmp_path / "p.json", {"system_prompt": "Be terse."})
    assert load_prompt_file(path) == {"system_prompt": "Be terse."}
    toml = tmp_path / "p.toml"
    toml.write_text('reduce_prompt = """{findings}\n{qa_history}\n{question}\nAnswer: ..."""\n')
    assert set(load_prompt_file(toml)) == {"reduce_prompt"}


@pytest.mark.parametrize("content, suffix, message", [
    ('{"colour": "red"}', ".json", r"unknown field\(s\) colour"),
    ('{"reduce_prompt": "no placeholders"}', ".json", "must use exactly the placeholders"),
    ('{"system_prompt": ""}', ".json", "must be non-empty text"),
    ("{not json", ".json", "not valid JSON"),
    ("x = [", ".toml", "not valid TOML"),
    ("[]", ".json", "must map prompt fields"),
])
def test_bad_prompt_files_are_refused(tmp_path, content, suffix, message):
    path = tmp_path / f"p{suffix}"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_prompt_file(path)


def test_ask_takes_a_prompt_file(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text(document(200, {100: "The code of Alpha is 1111.\n"}))
    prompts = write_prompt_file(tmp_path / "p.json", {"system_prompt": "CUSTOM SYSTEM PROMPT"})
    model = make_model(reader)
    with override_chat_model(model):
        code = cli.main(["ask", "--context-file", str(doc), "--query", "What is the code of Alpha?",
                         "--state-dir", str(tmp_path / "s"), "--prompts", str(prompts), *BASE])
    assert code == 0 and capsys.readouterr().out.strip() == "1111"
    systems = {str(c["messages"][0].content) for c in model.calls if c["stage"] == "map"}
    assert systems == {"CUSTOM SYSTEM PROMPT"}


def test_a_bad_prompt_file_exits_2_before_any_call(tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"map_prompt": "{chunk} only"}))
    doc = tmp_path / "doc.md"
    doc.write_text("Some text.\n")
    model = make_model(reader)
    with override_chat_model(model):
        code = cli.main(["ask", "--context-file", str(doc), "--query", "q?", "--prompts", str(bad),
                         "--state-dir", str(tmp_path / "s"), *BASE])
    err = capsys.readouterr().err
    assert code == 2 and "map_prompt must use exactly" in err and model.calls == []
    assert len(err.strip().splitlines()) == 1


def test_shared_options_reach_the_context():
    from longcepo.cli.common import context_from_args
    parser, commands = cli.build_parser()
    args = parser.parse_args(["eval", "--dataset", "x", "--strategy", "all", *BASE,
                              "--format-retries", "0", "--summary-tokens", "64"])
    ctx = context_from_args(args)
    assert ctx.max_format_retries == 0 and ctx.max_output_tokens_summary == 64
    assert ctx.max_context_window == 2048 and ctx.chunk_size == 512
