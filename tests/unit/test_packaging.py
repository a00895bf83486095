"""The wheel ships exactly the product, and imports point one way."""

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"prompts": 0, "state": 1, "nodes": 2, "graph": 3}


def test_wheel_holds_the_packages_and_no_tests(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("longcepo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"state.py", "graph", "nodes", "prompts"}
    assert "graph/main.py" in names and "nodes/map.py" in names and "prompts/map_chunk.py" in names
    assert not any(n.startswith("tests/") for n in names)
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "Name: longcepo" in text
    assert "Requires-Dist: pytest" not in text.replace("extra ==", "")  or "extra == \"dev\"" in text


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_imports_point_one_way_prompts_state_nodes_graph():
    files = [ROOT / "state.py", *ROOT.glob("prompts/*.py"), *ROOT.glob("nodes/*.py"),
             *ROOT.glob("graph/*.py")]
    for path in files:
        layer = "state" if path.name == "state.py" else path.parent.name
        for dep in _imports(path) & set(LAYERS):
            assert LAYERS[dep] <= LAYERS[layer], f"{path.relative_to(ROOT)} imports {dep}"


def test_no_print_in_library_code():
    for path in [ROOT / "state.py", *ROOT.glob("prompts/*.py"), *ROOT.glob("nodes/*.py"),
                 *ROOT.glob("graph/*.py")]:
        if path.name.startswith("cli"):
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"]
        assert not calls, f"print() in {path.relative_to(ROOT)}"
