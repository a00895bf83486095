"""Pytest fixtures for the double: in-process (`llm_double`) and as a separate process.

Enable with `pytest_plugins = ["llm_double.pytest_plugin"]` in the root conftest, or `-p
llm_double.pytest_plugin`. The subprocess form (`llm_double_process`, or
`llm_double.process.start_double_process` for custom options) is for crash tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_double.process import DoubleProcess, start_double_process
from llm_double.runner import LLMDouble

__all__ = ["DoubleProcess", "llm_double", "llm_double_process", "start_double_process"]


@pytest.fixture
def llm_double() -> Iterator[LLMDouble]:
    """A fresh, instant, faultless double on a free loopback port; `.configure()` to change."""
    with LLMDouble() as double:
        yield double


@pytest.fixture
def llm_double_process() -> Iterator[DoubleProcess]:
    """A double in its own process, stopped after the test."""
    with start_double_process() as double:
        yield double
