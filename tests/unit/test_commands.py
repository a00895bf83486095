"""Hints name a command that works where the user is: on PATH, in the checkout's venv, or not."""

from __future__ import annotations

import os

import pytest
from longcepo.runtime import commands


@pytest.fixture
def venv(tmp_path, monkeypatch):
    """A fake environment: `bin/python` running us, `bin/longcepo` beside it, a clean PATH."""
    bin_dir = tmp_path / "env" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "longcepo"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(commands.sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    return bin_dir


def test_the_script_beside_python_is_named_by_its_path_unless_path_finds_it(venv, monkeypatch,
                                                                            tmp_path):
    assert commands.program() == os.path.join("env", "bin", "longcepo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert commands.program() == str(venv / "longcepo")
    monkeypatch.setenv("PATH", str(venv))
    assert commands.program() == "longcepo"


def test_without_a_script_the_module_is_run(venv, monkeypatch):
    (venv / "longcepo").unlink()
    assert commands.program() == os.path.join("env", "bin", "python") + " -m longcepo"


def test_another_longcepo_on_path_is_not_trusted(venv, monkeypatch, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "longcepo").write_text("#!/bin/sh\n")
    (other / "longcepo").chmod(0o755)
    monkeypatch.setenv("PATH", str(other))
    assert commands.program() == os.path.join("env", "bin", "longcepo")


def test_install_hints_use_make_in_the_checkout_and_pip_elsewhere(venv, monkeypatch):
    monkeypatch.chdir(commands.CHECKOUT)
    assert commands.in_checkout() == (commands.CHECKOUT / "Makefile").is_file()
    if commands.in_checkout():
        assert commands.install_hint("local") == "make install-local"
        assert commands.install_hint("eval").endswith(" -m pip install -e '.[eval]'")
    monkeypatch.chdir(venv.parent.parent)
    assert not commands.in_checkout()
    assert commands.install_hint("local") == (
        f"{os.path.join('env', 'bin', 'python')} -m pip install 'longcepo[local]'")
    monkeypatch.setenv("PATH", str(venv))
    assert commands.install_hint("local") == "pip install 'longcepo[local]'"



def test_help_examples_name_the_command_that_runs_here(monkeypatch):
    from longcepo.cli import main as cli_main

    text = "examples:\n  longcepo ask --resume X\n  OPENAI_API_KEY=... longcepo ask -q\n"
    monkeypatch.setattr(commands, "program", lambda: ".venv/bin/longcepo")
    assert cli_main.runnable_examples(text) == (
        "examples:\n  .venv/bin/longcepo ask --resume X\n"
        "  OPENAI_API_KEY=... .venv/bin/longcepo ask -q\n")
    monkeypatch.setattr(commands, "program", lambda: "longcepo")
    assert cli_main.runnable_examples(text) == text
