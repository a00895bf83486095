"""The wheel ships exactly the `longcepo` package, and imports between its rooms point one way."""

import ast
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each room may import only the rooms named here (and itself). The package root
# (`__init__.py`, `__main__.py`) loads names lazily and is checked as the "cli" room.
ALLOWED = {
    "prompts": set(),
    "env": set(),
    "state": {"prompts", "env"},
    "nodes": {"prompts", "state", "env"},
    "graph": {"prompts", "state", "nodes"},
    "documents": {"state", "nodes"},
    "runtime": {"prompts", "state", "nodes", "graph", "documents", "env"},
    "local": {"state", "nodes", "runtime", "env"},
    "evaluation": {"prompts", "state", "nodes", "graph", "runtime"},
    "server": {"prompts", "state", "nodes", "graph", "documents", "runtime", "env"},
    "cli": {"prompts", "state", "nodes", "graph", "documents", "runtime", "local", "evaluation",
            "server", "env"},
}
ROOMS = tuple(r for r in ALLOWED if r not in ("state", "env"))


def _room(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    if len(rel.parts) == 1:  # state.py, env.py; __init__/__main__ are ways in, like the CLI
        return {"state.py": "state", "env.py": "env"}.get(rel.name, "cli")
    return rel.parts[0]


def _imported_rooms(path: Path) -> set[tuple[str, str]]:
    """(module, room) for every `longcepo.<room>` import, at any depth in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                     if node.module == "longcepo"]
        for name in names:
            parts = name.split(".")
            if parts[0] == "longcepo" and len(parts) > 1 and parts[1] in ALLOWED:
                out.add((name, parts[1]))
    return out


def _package_files() -> list[Path]:
    return [*sorted(ROOT.glob("*.py")),
            *(p for room in ROOMS for p in sorted(ROOT.glob(f"{room}/*.py")))]


def layering_violations(files: list[Path], root: Path = ROOT
                        ) -> tuple[list[str], set[tuple[str, str]]]:
    """Imports that break `ALLOWED`, and every (room, imported room) edge seen."""
    bad, seen = [], set()
    for path in files:
        room = _room(path, root)
        for module, dep in _imported_rooms(path):
            if dep == room:
                continue
            seen.add((room, dep))
            if dep not in ALLOWED[room]:
                bad.append(f"{path.relative_to(root)} ({room}) imports {module}")
    return bad, seen


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True)
    (built,) = out.glob("longcepo-*.whl")
    return built


def test_wheel_holds_exactly_the_longcepo_package(wheel):
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"longcepo"}
    rooms = {n.split("/")[1] for n in names if n.startswith("longcepo/") and n.count("/") > 1}
    assert rooms == {"prompts", "nodes", "graph", "documents", "runtime", "local",
                     "evaluation", "server", "cli"}
    for module in ("state.py", "__init__.py", "graph/main.py", "nodes/map.py",
                   "prompts/map_chunk.py", "cli/ask.py", "server/app.py", "local/model.py",
                   "documents/files.py", "evaluation/runner.py"):
        assert f"longcepo/{module}" in names
    assert not any("/tests/" in n or "llm_double" in n or "/bench/" in n for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Name: longcepo" in meta
    requires = [line for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    assert runtime and not any("pytest" in r for r in runtime)
    assert not any("==" in r for r in runtime), "runtime dependencies are ranges, not pins"
    entry = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "longcepo = longcepo.cli.main:entry" in entry  # main, then a fast exit


def test_the_installed_wheel_works_from_a_folder_with_clashing_names(wheel, tmp_path):
    """Installed (not editable), in a folder holding `state/` and `graph/`, which once broke it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and
                (p / "langgraph").is_dir())
    (site / "deps.pth").write_text(f"{deps}\n")  # the dependencies, not the editable longcepo
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-deps", str(wheel)], check=True)
    work = tmp_path / "work"
    for clash in ("state", "graph", "nodes"):
        (work / clash).mkdir(parents=True)
        (work / clash / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    code = ("import longcepo, longcepo.graph.main, longcepo.state\n"
            "from longcepo.graph import build_graph\n"
            "build_graph()\n"
            "print(longcepo.__file__)")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=work,
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip().startswith(str(site))
    script = subprocess.run([str(venv / "bin" / "longcepo"), "--version"], cwd=work,
                            capture_output=True, text=True, check=True)
    assert script.stdout.strip() == f"longcepo {metadata.version('longcepo')}"


def test_imports_point_one_way_between_rooms():
    bad, seen = layering_violations(_package_files())
    assert not bad, "\n".join(bad)
    # the check sees the edges it is about, so it cannot pass by finding nothing
    assert {("evaluation", "graph"), ("cli", "evaluation"), ("graph", "nodes"),
            ("server", "runtime"), ("cli", "local"), ("nodes", "state"), ("state", "env")} <= seen


def test_the_layering_check_catches_a_backward_import(tmp_path):
    (tmp_path / "nodes").mkdir()
    planted = tmp_path / "nodes" / "x.py"
    planted.write_text("from longcepo.cli.main import main\nimport longcepo.server.app\n"
                       "from longcepo.state import Context\n")
    bad, seen = layering_violations([planted], root=tmp_path)
    assert sorted(bad) == ["nodes/x.py (nodes) imports longcepo.cli.main",
                           "nodes/x.py (nodes) imports longcepo.server.app"]
    assert seen == {("nodes", "cli"), ("nodes", "server"), ("nodes", "state")}


def test_no_bare_top_level_imports_of_the_rooms():
    """Everything imports `longcepo.<room>`; a bare `import graph` would load a second copy."""
    files = [*_package_files(), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"),
             *ROOT.glob("llm_double/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top = node.module.split(".")[0]
            elif isinstance(node, ast.Import):
                top = node.names[0].name.split(".")[0]
            else:
                continue
            assert top not in {*ALLOWED, "evaluation"}, f"{path.relative_to(ROOT)}: {top}"


def test_no_print_in_library_code():
    for path in _package_files():
        if _room(path, ROOT) == "cli":
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"]
        assert not calls, f"print() in {path.relative_to(ROOT)}"
