"""The wheel ships exactly the product, and imports point one way."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"prompts": 0, "state": 1, "nodes": 2, "graph": 3, "evaluation": 4, "cli": 5}
PACKAGES = ("prompts", "nodes", "graph", "evaluation")


def test_wheel_holds_the_packages_and_no_tests(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("longcepo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"state.py", "graph", "nodes", "prompts", "evaluation"}
    assert "graph/main.py" in names and "nodes/map.py" in names and "prompts/map_chunk.py" in names
    assert "evaluation/runner.py" in names and "graph/cli_eval.py" in names
    assert not any(n.startswith("tests/") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "Name: longcepo" in text
    assert "Requires-Dist: pytest" not in text.replace("extra ==", "")  or "extra == \"dev\"" in text


def _layer(path: Path) -> str:
    """The command line sits on top: `graph/cli*.py` may import the evaluation harness."""
    if path.name == "state.py":
        return "state"
    if path.parent.name == "graph" and path.name.startswith("cli"):
        return "cli"
    return path.parent.name


def _module_layer(module: str) -> str | None:
    top, _, rest = module.partition(".")
    if top == "graph" and rest.startswith("cli"):
        return "cli"
    return top if top in LAYERS else None


def _imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if node.module == "graph"}
    return out


def test_imports_point_one_way_prompts_state_nodes_graph_evaluation_cli():
    files = [ROOT / "state.py", *(p for pkg in PACKAGES for p in ROOT.glob(f"{pkg}/*.py"))]
    seen = set()
    for path in files:
        layer = _layer(path)
        for module in _imported_modules(path):
            dep = _module_layer(module)
            if dep is None:
                continue
            seen.add((layer, dep))
            assert LAYERS[dep] <= LAYERS[layer], f"{path.relative_to(ROOT)} imports {module}"
    # the check sees the edges it is about, so it cannot pass by finding nothing
    assert {("evaluation", "graph"), ("cli", "evaluation"), ("graph", "nodes")} <= seen


def test_no_print_in_library_code():
    for path in [ROOT / "state.py", *(p for pkg in PACKAGES for p in ROOT.glob(f"{pkg}/*.py"))]:
        if path.name.startswith("cli"):
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"]
        assert not calls, f"print() in {path.relative_to(ROOT)}"
