"""Where checkpoints and chunks live: SQLite files for one machine, PostgreSQL for many.

With PostgreSQL, every replica of `longcepo serve` shares checkpoints, the chunk store and
the per-run call cache, so a run started on one process resumes on any other.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.postgres.aio import AsyncPostgresStore
from longcepo.env import default_state_dir, env
from longcepo.graph.main import build_graph
from longcepo.nodes.errors import ConfigError, StateError
from longcepo.runtime.api import sqlite_graph
from longcepo.runtime.leases import FileLeases, Leases, PostgresLeases, try_advisory_lock
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
POSTGRES_ENV = "LONGCEPO_POSTGRES_URI"
_SETUP_LOCK = 0x10C0E9  # advisory lock id: replicas starting together migrate one at a time
SETUP_TIMEOUT_S = 120.0


def postgres_uri_from_env() -> str | None:
    """The PostgreSQL URI from `LONGCEPO_POSTGRES_URI`, or None for SQLite."""
    return env(POSTGRES_ENV)


def describe_postgres(uri: str) -> str:
    """`host:port/dbname` of a URI, for messages: never the password."""
    try:
        parts = conninfo_to_dict(uri)
    except psycopg.ProgrammingError:
        return "an unparsable PostgreSQL URI"
    host = parts.get("host") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or ''}"


async def check_reachable(uri: str) -> None:
    """Fail fast with a one-line message instead of a pool that waits and times out."""
    try:
        conn = await psycopg.AsyncConnection.connect(uri, connect_timeout=10)
    except psycopg.ProgrammingError:
        raise ConfigError(
            "the PostgreSQL URI cannot be parsed; use postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot connect to PostgreSQL at {describe_postgres(uri)}: {reason}; start the "
            f"server or fix --postgres-uri / {POSTGRES_ENV}"
        ) from None
    await conn.close()


class SetupAborted(Exception):
    """The server was told to stop while it waited for the schema setup lock."""


Stopping = Callable[[], bool]


@asynccontextmanager
async def _setup_lock(uri: str, timeout: float = SETUP_TIMEOUT_S,
                      stopping: Stopping = lambda: False) -> AsyncIterator[None]:
    """Migrate one replica at a time, without a lock wait another migration could wait on.

    A replica waiting inside `pg_advisory_lock` has a statement in progress, and the
    holder's `CREATE INDEX CONCURRENTLY` waits for every such statement to end: a deadlock
    PostgreSQL does not detect. So waiters poll `pg_try_advisory_lock` and sit idle between
    tries. The lock lives on a connection of its own; closing it frees the lock even if the
    holder dies mid-migration.
    """
    conn = await psycopg.AsyncConnection.connect(uri, autocommit=True, connect_timeout=10)
    try:
        deadline = time.monotonic() + timeout
        while not await try_advisory_lock(conn, _SETUP_LOCK):
            if stopping():
                raise SetupAborted
            if time.monotonic() > deadline:
                raise StateError(
                    f"another replica has held the schema setup lock on "
                    f"{describe_postgres(uri)} for over {timeout:g}s; check for a stuck "
                    "`longcepo serve` (pg_locks) and start again")
            await asyncio.sleep(0.2 + random.random() * 0.3)
        yield
    finally:
        await conn.close()


@asynccontextmanager
async def postgres_graph(
    uri: str, *, pool_size: int = 10, stopping: Stopping = lambda: False
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """The main graph with checkpoints and the chunk store in one PostgreSQL database.

    Tables are created on first use under the setup lock, so replicas may start together.
    """
    await check_reachable(uri)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        uri, min_size=1, max_size=pool_size, open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    )
    await pool.open(wait=True, timeout=30)
    try:
        saver = AsyncPostgresSaver(pool)
        store = AsyncPostgresStore(pool)
        async with _setup_lock(uri, stopping=stopping):
            await saver.setup()
            await store.setup()
        log.info("checkpoints and chunks in PostgreSQL at %s", describe_postgres(uri))
        yield build_graph(checkpointer=saver, store=store)
    finally:
        await pool.close()


@asynccontextmanager
async def open_graph(
    *, postgres_uri: str | None = None, state_dir: str | Path | None = None,
    stopping: Stopping = lambda: False,
) -> AsyncIterator[CompiledStateGraph[Any, Any, Any, Any]]:
    """The durable main graph: PostgreSQL when a URI is given, else SQLite under `state_dir`.

    `stopping` lets a server told to stop give up waiting for another replica's setup.
    """
    if postgres_uri:
        async with postgres_graph(postgres_uri, stopping=stopping) as graph:
            yield graph
    else:
        async with sqlite_graph(state_dir) as graph:
            yield graph


def open_leases(*, postgres_uri: str | None = None,
                state_dir: str | Path | None = None) -> Leases:
    """Thread leases where the runs' state lives: the shared database, else the state folder."""
    if postgres_uri:
        return PostgresLeases(postgres_uri)
    return FileLeases(Path(state_dir) if state_dir else default_state_dir())
