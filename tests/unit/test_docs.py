from pathlib import Path

from longcepo.runtime.config_table import context_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_matches_context(monkeypatch):
    for name in ("OPENAI_BASE_URL", "LONGCEPO_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert context_table() in (ROOT / "README.md").read_text(), \
        "regenerate the table with: python -m graph.config_table"


def test_readme_names_the_make_targets():
    readme = (ROOT / "README.md").read_text()
    for target in ("make install", "make test", "make lint"):
        assert target in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
