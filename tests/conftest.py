"""Shared fixtures: tests never reach the network; tracing stays off."""

from __future__ import annotations

import os

import pytest

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ.pop("OPENAI_API_KEY", None)

from longcepo.state import Context  # noqa: E402

pytest_plugins = ["llm_double.pytest_plugin"]


@pytest.fixture
def ctx() -> Context:
    """A small-window context pointed at an address nothing listens on."""
    return Context(base_url="http://127.0.0.1:9/v1", api_key="test", chunk_size=512,
                   max_context_window=2048, max_output_tokens=200,
                   max_output_tokens_summary=60, num_neighbor_summaries=2, retry_backoff=0.0)
