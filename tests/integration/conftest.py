"""Fixtures for the integration tests: an LLM double, `longcepo serve` processes, a fresh PostgreSQL DB."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_double import LLMDouble
from tests.integration.servers import Served, start_serve


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    """`serve(*args, env=...)` starts a server; all are stopped after the test."""
    started: list[Served] = []

    def start(*args: str, **kwargs: object) -> Served:
        served = start_serve(tmp_path, *args, **kwargs)  # type: ignore[arg-type]
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A fresh database on the server named by LONGCEPO_TEST_POSTGRES_URI, dropped afterwards.

    `.ci/run` starts PostgreSQL and sets the variable (and LONGCEPO_REQUIRE_POSTGRES=1, which
    turns a missing server into a failure instead of a skip).
    """
    import psycopg
    from psycopg.conninfo import make_conninfo

    admin = os.environ.get("LONGCEPO_TEST_POSTGRES_URI")
    if not admin:
        if os.environ.get("LONGCEPO_REQUIRE_POSTGRES"):
            pytest.fail("LONGCEPO_TEST_POSTGRES_URI is not set but PostgreSQL is required")
        pytest.skip("set LONGCEPO_TEST_POSTGRES_URI to a PostgreSQL server (see .ci/run)")
    name = f"longcepo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def double() -> Iterator[LLMDouble]:
    """One LLM double per test module (files that need an upstream key define their own)."""
    with LLMDouble() as running:
        yield running
