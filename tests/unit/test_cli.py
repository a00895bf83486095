"""The CLI in-process, with the scripted model behind the usual seam."""

import json

import pytest
from longcepo.cli import main as cli
from longcepo.nodes.llm import override_chat_model

from tests.fakes import make_model
from tests.unit.scripted import document, reader

BASE = ["--base-url", "http://127.0.0.1:9/v1", "--api-key", "k", "--chunk-size", "512",
        "--window", "2048", "--max-output-tokens", "200"]


@pytest.fixture
def doc(tmp_path):
    path = tmp_path / "doc.md"
    path.write_text(document(800, {400: "The code of Alpha is 1111.\n"}))
    return path


def test_ask_prints_the_answer_and_progress(doc, tmp_path, capsys):
    with override_chat_model(make_model(reader)):
        code = cli.main(["ask", "--context-file", str(doc), "--query", "What is the code of Alpha?",
                         "--state-dir", str(tmp_path / "s"), "-v", *BASE])
    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == "1111"
    assert "chunks" in err and "What is the code of Alpha?" in err


def test_json_output_and_directory_of_documents(doc, tmp_path, capsys):
    (doc.parent / "other.txt").write_text(document(100, {}))
    (doc.parent / "skip.bin").write_bytes(b"\x00\x01")
    with override_chat_model(make_model(reader)):
        code = cli.main(["ask", "--context-file", str(doc.parent), "--query", "What is the code of Alpha?",
                         "--state-dir", str(tmp_path / "s"), "--json", *BASE])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["answer"] == "1111" and result["thread_id"]
    assert {c["doc_id"] for c in result["supporting_chunks"]} == {str(doc)}
    assert set(result) >= {"answer", "normalized_query", "sub_questions", "qa_history",
                           "supporting_chunks", "usage", "notes"}


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing.md", "no such file"),
    (lambda p: (p / "b.txt").write_bytes(b"ab\x00cd") and p / "b.txt", "looks binary"),
    (lambda p: (p / "l.txt").write_bytes("caf\xe9".encode("latin-1")) and p / "l.txt", "not UTF-8"),
    (lambda p: (p / "e.md").write_text("  \n") and p / "e.md", "is empty"),
    (lambda p: (p / "x.pdf").write_bytes(b"%PDF-1.4 cut") and p / "x.pdf", "truncated PDF"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, setup, message):
    path = setup(tmp_path)
    model = make_model(reader)
    with override_chat_model(model):
        code = cli.main(["ask", "--context-file", str(path), "--query", "q?",
                         "--state-dir", str(tmp_path / "s"), *BASE])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and model.calls == []


@pytest.mark.parametrize("args, message", [
    (["--chunk-size", "0"], "must be positive"),
    (["--neighbors", "-1"], "whole number"),
    (["--chunk-size", "1900"], "leaves no room"),
])
def test_bad_option_values_exit_2(doc, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as raised:
        code = cli.main(["ask", "--context-file", str(doc), "--query", "q?",
                         "--state-dir", str(tmp_path / "s"), *BASE, *args])
        raise SystemExit(code)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_failure_prints_resume_command_and_resume_finishes(doc, tmp_path, capsys):
    broken = {"on": True}

    def responder(stage, messages, kw):
        if stage == "reduce" and broken["on"]:
            import httpx
            import openai
            raise openai.RateLimitError("slow down", response=httpx.Response(429, request=httpx.Request("POST", "http://x")), body=None)
        return reader(stage, messages, kw)

    state = str(tmp_path / "s")
    with override_chat_model(make_model(responder)):
        code = cli.main(["ask", "--context-file", str(doc), "--query", "What is the code of Alpha?",
                         "--state-dir", state, "--thread-id", "T1", "--retries", "1", *BASE])
    err = capsys.readouterr().err
    assert code == 1 and "longcepo ask --resume T1" in err and "Traceback" not in err
    broken["on"] = False
    model = make_model(responder)
    with override_chat_model(model):
        code = cli.main(["ask", "--resume", "T1", "--state-dir", state, *BASE])
    assert code == 0 and capsys.readouterr().out.strip() == "1111"
    assert "summary" not in model.stages() and "plan" not in model.stages()


def test_resume_of_unknown_thread_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["ask", "--resume", "nope", "--state-dir", str(tmp_path), *BASE])
    assert code == 2 and "no run with thread id nope" in capsys.readouterr().err


def test_resume_alone_reuses_the_options_the_run_started_with(doc, tmp_path, capsys):
    """`--resume THREAD` with no other option rebuilds the same settings; the key is not saved."""
    broken = {"on": True}

    def responder(stage, messages, kw):
        if stage == "reduce" and broken["on"]:
            raise RuntimeError("model crashed")
        return reader(stage, messages, kw)

    state = tmp_path / "s"
    started = ["--base-url", "http://127.0.0.1:9/v1", "--api-key", "SECRET-KEY-1",
               "--model", "my-model", "--chunk-size", "512", "--window", "2048",
               "--max-output-tokens", "200", "--seed", "7", "--temperature", "0.2", "--no-plan",
               "--retries", "0"]
    with override_chat_model(make_model(responder)):
        code = cli.main(["ask", "--context-file", str(doc), "--query", "What is the code of Alpha?",
                         "--state-dir", str(state), "--thread-id", "T2", *started])
    assert code == 1
    capsys.readouterr()
    saved = list((state / "runs").glob("*.json"))
    assert len(saved) == 1 and "SECRET-KEY-1" not in saved[0].read_text()

    broken["on"] = False
    model = make_model(responder)
    with override_chat_model(model):
        code = cli.main(["ask", "--resume", "T2", "--state-dir", str(state)])
    assert code == 0 and capsys.readouterr().out.strip() == "1111"
    assert model.stages() == ["reduce"]  # the finished map calls are not repeated
    kwargs = model.calls[0]["kwargs"]
    assert kwargs["seed"] == 7 and kwargs["temperature"] == 0.2


def test_options_given_on_resume_win_over_the_saved_ones(doc, tmp_path, capsys):
    from longcepo.cli import saved_options as cli_saved_options

    state = tmp_path / "s"
    with override_chat_model(make_model(reader)):
        assert cli.main(["ask", "--context-file", str(doc), "--query", "What is the code of Alpha?",
                         "--state-dir", str(state), "--thread-id", "T3", "--seed", "7",
                         *BASE]) == 0
    capsys.readouterr()
    parser, _ = cli.build_parser()
    args = parser.parse_args(["ask", "--resume", "T3", "--state-dir", str(state),
                                          "--seed", "9"])
    args.thread_id = "T3"
    filled = cli_saved_options.restore(args)
    assert args.seed == 9 and "seed" not in filled
    assert args.base_url == "http://127.0.0.1:9/v1" and args.chunk_size == 512
    assert args.api_key is None
