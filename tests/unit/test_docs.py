from pathlib import Path

import pytest
from longcepo.runtime.config_table import context_table

from bench import readme as readme_blocks

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_context(monkeypatch):
    for name in ("OPENAI_BASE_URL", "LONGCEPO_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert context_table() in (ROOT / "README.md").read_text(), \
        "regenerate the table with: python -m longcepo.runtime.config_table"


def test_readme_names_the_make_targets():
    readme = (ROOT / "README.md").read_text()
    for target in ("make install", "make test", "make lint"):
        assert target in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_measured_blocks_are_well_formed_and_generated():
    text = (ROOT / "README.md").read_text()
    assert readme_blocks.problems(text) == []
    assert readme_blocks.rewrite(text, readme_blocks.load()) == text, \
        "a generated README block was edited by hand; run: make readme (or python -m bench.readme)"


@pytest.mark.parametrize("broken, problem", [
    ("<!-- generated: timings -->\nx\n", "never closed"),
    ("<!-- generated: timings -->\n<!-- end generated: timings -->\n" * 2, "appears 2 times"),
    ("<!-- generated: nope -->\n<!-- end generated: nope -->\n", "unknown block"),
    ("<!-- end generated: timings -->\n", "without its opening"),
])
def test_broken_markers_are_named(broken, problem):
    assert any(problem in p for p in readme_blocks.problems(broken))


def test_the_demo_record_reads_the_verbose_output():
    stderr = ("note: --model local runs the bundled SmolLM2-135M...\n"
              "pass 1/2 map       [##......]     2/6  elapsed 0:40  eta 1:10\n"
              "read 1 document(s) into 6 chunks\n"
              "37 LLM calls (15 format re-asks), 49514 prompt and 1218 completion tokens, 3:56\n"
              "answer:\n")
    record = readme_blocks.demo_record(236.0, "Lyon\n", stderr, "abc1234")
    assert (record["calls"], record["retries"], record["prompt_tokens"]) == (37, 15, 49514)
    assert record["answer"] == "Lyon" and "elapsed" not in record["transcript"]
    assert record["transcript"].endswith("answer:\nLyon\n")
    figures = readme_blocks.render("demo-figures", {"demo": record})
    assert "37 LLM calls, 15 of them format re-asks, 49,514 prompt" in figures
    assert "3 min 56 s" in figures
