"""The same graph deploys unchanged on LangGraph's server platform: `langgraph dockerfile`
turns our langgraph.json into a Dockerfile (no Docker engine needed) that serves both graphs."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
from pathlib import Path

from tests.integration.servers import REPO, child_env

CLI = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin" / "langgraph"


def test_langgraph_dockerfile_serves_both_graphs_from_our_package(tmp_path):
    target = tmp_path / "Dockerfile"
    done = subprocess.run(
        [str(CLI if CLI.exists() else "langgraph"), "dockerfile", "-c", "langgraph.json",
         str(target)],
        cwd=REPO, env=child_env(LANGGRAPH_NO_VERSION_CHECK="true"), capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    text = target.read_text()
    assert re.search(r"^FROM langchain/langgraph-api:3\.11\b", text, re.M)
    deps = f"/deps/{REPO.name}"
    assert f"ADD . {deps}" in text
    assert "pip install" in text and "-e ." in text, "our package and its pinned deps install"
    graphs = json.loads(re.search(r"^ENV LANGSERVE_GRAPHS='(.*)'$", text, re.M).group(1))
    assert graphs == {"longcepo": f"{deps}/graph/studio.py:graph",
                      "longcepo_engine": f"{deps}/graph/studio.py:engine"}
    assert f"WORKDIR {deps}" in text


def test_the_exported_graphs_leave_persistence_to_the_platform():
    studio = importlib.import_module("longcepo.graph.studio")
    for name in ("graph", "engine"):
        compiled = getattr(studio, name)
        assert compiled.checkpointer is None and compiled.store is None
