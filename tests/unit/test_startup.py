"""The `longcepo` script defers two package `__init__`s nothing in a run uses, and only those."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, cwd: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_deferred_package_runs_its_init_once_on_first_miss(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys\nsys.ran = getattr(sys, 'ran', 0) + 1\n"
                                     "from .sub import VALUE as ALIAS\nNAME = 'pkg'\n")
    (pkg / "sub.py").write_text("VALUE = 42\n")
    out = _run("""
        import json, sys, threading
        from longcepo.cli.startup import defer_package_inits
        defer_package_inits(["pkg"])
        import pkg.sub                        # the submodule alone: no __init__ yet
        before = getattr(sys, "ran", 0)
        spec_ok = pkg.__spec__ is not None and bool(pkg.__path__)  # present: no load
        after_dunder = getattr(sys, "ran", 0)
        threads = [threading.Thread(target=lambda: pkg.NAME) for _ in range(8)]
        [t.start() for t in threads]; [t.join() for t in threads]
        missing = hasattr(pkg, "nothing_here")
        print(json.dumps({"before": before, "after_dunder": after_dunder, "spec": spec_ok,
                          "ran": sys.ran, "alias": pkg.ALIAS, "sub": pkg.sub.VALUE,
                          "missing": missing}))
    """, tmp_path)
    assert out == {"before": 0, "after_dunder": 0, "spec": True, "ran": 1, "alias": 42,
                   "sub": 42, "missing": False}


def test_the_script_skips_langsmiths_api_types_and_the_sdk_client_until_used():
    out = _run("""
        import json, sys
        from longcepo.cli.startup import defer_package_inits
        defer_package_inits()
        import longcepo.runtime.api
        skipped = [m for m in ("websockets", "langsmith.types.run", "langgraph_sdk.client")
                   if m not in sys.modules]
        import langsmith.types, langgraph_sdk
        used = [langsmith.types.Run.__name__, langgraph_sdk.get_client.__name__]
        print(json.dumps({"skipped": skipped, "used": used}))
    """, ROOT)
    assert out == {"skipped": ["websockets", "langsmith.types.run", "langgraph_sdk.client"],
                   "used": ["Run", "get_client"]}


def test_import_longcepo_leaves_the_import_system_alone():
    out = _run("""
        import json, sys
        before = list(sys.meta_path)
        import longcepo, longcepo.cli.main
        print(json.dumps({"same": sys.meta_path == before}))
    """, ROOT)
    assert out == {"same": True}


def test_collection_pauses_while_importing_and_resumes_frozen(tmp_path):
    out = _run("""
        import gc, json
        from longcepo.cli import startup
        startup.resume_collection()           # never paused: nothing to do
        untouched = gc.isenabled() and gc.get_freeze_count() == 0
        startup.pause_collection()
        paused = not gc.isenabled()
        startup.resume_collection()
        print(json.dumps([untouched, paused, gc.isenabled(), gc.get_freeze_count() > 0]))
    """, ROOT)
    assert out == [True, True, True, True]


def test_every_command_but_ask_collects_again_before_it_runs(tmp_path):
    code = """
        import gc, json, sys
        from longcepo.cli import main as cli, startup

        class Command:  # stands in for a subcommand's module
            add_arguments = staticmethod(lambda parser: None)
            main = staticmethod(lambda args, parser: print(json.dumps(gc.isenabled())) or 0)

        cli.command_module = lambda name: Command
        startup.pause_collection()
        sys.exit(cli.main([sys.argv[1]]))
    """
    for command, enabled in (("serve", True), ("eval", True), ("ask", False)):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), command], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        assert json.loads(done.stdout.strip().splitlines()[-1]) is enabled, command
