"""One source for each fact: options from `Context`, environment in `env.py`, a light start."""

import ast
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from longcepo.cli import main as cli
from longcepo.cli.common import SETTING_OPTIONS, cli_fields
from longcepo.state import Context

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("langgraph", "langchain_core", "langsmith", "openai", "fastapi", "langserve", "uvicorn",
         "llama_cpp", "numpy", "longcepo.graph", "longcepo.server", "longcepo.evaluation", "longcepo.local.model",
         "longcepo.runtime.api", "longcepo.nodes.llm")


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                           "print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("code", [
    "import longcepo",
    "import contextlib, io\nfrom longcepo.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit): main(['--help'])",
    "import contextlib, io\nfrom longcepo.cli.main import main\n"
    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit): main(['--version'])",
    # everything `ask` does before its first request (runtime/head_start.py)
    "import tempfile\nfrom longcepo.cli.main import build_parser\n"
    "from longcepo.cli.common import context_from_args\n"
    "from longcepo.cli import ask\nfrom longcepo.runtime import head_start\n"
    "args = build_parser('ask')[0].parse_args(['ask', '--context-file', 'README.md', '--query', 'q',"
    " '--base-url', 'http://127.0.0.1:9/v1', '--state-dir', tempfile.mkdtemp()])\n"
    "ctx = context_from_args(args)\ndocs = ask.read_inputs(args, ask.Progress(quiet=True))",
])
def test_start_loads_no_graph_server_evaluation_or_llama_code(code):
    loaded = _loaded_after(code)
    assert "longcepo" in loaded
    assert ("longcepo.cli.main" in loaded) == ("main" in code)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or
                   any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert not heavy, heavy


def test_lazy_names_still_resolve():
    import longcepo

    assert longcepo.Context is Context and callable(longcepo.ask) and callable(longcepo.resume)
    with pytest.raises(AttributeError):
        _ = longcepo.no_such_name


def test_every_option_field_becomes_an_option_with_its_default_and_description(capsys):
    parser, commands = cli.build_parser()
    ask = commands["ask"]
    by_dest = {a.dest: a for a in ask._actions}
    for f in cli_fields():
        action = by_dest[f.name]
        assert f.metadata["cli"] in action.option_strings
        first_words = f.metadata["description"].split()[1].lower()
        assert first_words in action.help.lower()
        if f.metadata.get("env"):
            assert f.metadata["env"] in action.help
    assert "(4096)" in by_dest["chunk_size"].help and "(0.7)" in by_dest["temperature"].help
    # saved and resumed settings are exactly the option fields, never the key
    assert {f.name for f in cli_fields()} - {"api_key"} <= set(SETTING_OPTIONS)
    assert "api_key" not in SETTING_OPTIONS


def test_option_values_reach_the_context_for_every_option_field():
    from longcepo.cli.common import context_from_args

    values = {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": "k", "seed": "3",
              "chunk_size": "300", "max_context_window": "2000", "max_output_tokens": "100",
              "max_output_tokens_summary": "50", "num_neighbor_summaries": "0",
              "max_concurrency": "2", "max_format_retries": "0", "max_retries": "0",
              "request_timeout": "5.5", "max_document_tokens": "9000",
              "structured_output": "off"}
    assert set(values) == {f.name for f in cli_fields()}
    by_name = {f.name: f.metadata["cli"] for f in cli_fields()}
    argv = ["ask"] + [x for name, v in values.items() for x in (by_name[name], v)]
    parser, _ = cli.build_parser()
    ctx = context_from_args(parser.parse_args(argv))
    for name, text in values.items():
        expected = type(getattr(Context(), name) or 0)(text) if name not in (
            "base_url", "api_key", "model") else text
        assert getattr(ctx, name) == expected, name


def test_environment_is_read_only_in_env_py():
    # tracing.py only sets LangSmith's own LANGSMITH_USE_DAEMON default before LangSmith starts
    allowed = {"env.py", "runtime/tracing.py"}
    package = [*ROOT.glob("*.py"), *(p for p in ROOT.glob("*/*.py")
                                    if p.parts[-2] not in ("tests", "bench", "llm_double"))]
    offenders = []
    for path in package:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                offenders.append(str(path.relative_to(ROOT)))
    assert set(offenders) <= allowed and "env.py" in offenders


def test_context_fields_named_for_env_are_listed_in_env_py():
    from longcepo.env import VARIABLES

    named = {f.metadata["env"] for f in fields(Context) if f.metadata.get("env")}
    assert named and named <= set(VARIABLES)


def test_serve_refuses_a_local_model(capsys):
    assert cli.main(["serve", "--model-path", "/nowhere/model.gguf", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "serve does not run a local model" in err and "--base-url" in err
    assert len(err.strip().splitlines()) == 1
