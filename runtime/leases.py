"""One run per thread: a lease on the thread id, held for the run's whole lifetime.

With PostgreSQL the lease is a session advisory lock taken on a connection of its own, so
every replica sharing the database sees it and the database frees it when the holder's
connection dies (SIGKILL, lost host). With SQLite it is an `flock` on a file beside the
checkpoints, freed by the kernel when the holding process dies. A second request for a held
thread is refused at once (`ThreadBusy`, HTTP 409 with Retry-After) rather than queued: a
queued duplicate would only replay the finished answer, and a client holding a socket open
for the length of someone else's run helps nobody.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from longcepo.nodes.errors import LongcepoError, StateError

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5


class ThreadBusy(LongcepoError):
    """Another request (on this or another replica) is running this thread (HTTP 409)."""

    http_status = 409
    kind = "conflict"
    exit_code = 2
    retry_after = RETRY_AFTER_S


def _busy(thread_id: str) -> ThreadBusy:
    return ThreadBusy(f"thread {thread_id!r} is already running (here or on another replica); "
                      f"retry in {RETRY_AFTER_S}s to get its answer, or use a new thread id")


def _last_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__


def lease_key(thread_id: str) -> int:
    """A signed 64-bit advisory-lock key for a thread id (a collision needs 2**32 threads)."""
    return int.from_bytes(hashlib.sha256(thread_id.encode()).digest()[:8], "big", signed=True)


async def try_advisory_lock(conn: Any, key: int) -> bool:
    """`pg_try_advisory_lock`: never waits, so the session never sits inside a statement."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    row = await cur.fetchone()
    if row is None:
        return False
    return bool(row["pg_try_advisory_lock"] if isinstance(row, dict) else row[0])


class Lease(Protocol):
    """A held lease; `release` is idempotent."""

    async def release(self) -> None:
        """Give the thread back."""


class Leases(Protocol):
    """Hands out one lease per thread id at a time."""

    async def acquire(self, thread_id: str) -> Lease:
        """Take the thread's lease, or raise `ThreadBusy`."""


@asynccontextmanager
async def hold(leases: Leases | None, thread_id: str) -> AsyncIterator[None]:
    """Hold the thread's lease for the block (no-op without leases)."""
    if leases is None:
        yield
        return
    lease = await leases.acquire(thread_id)
    try:
        yield
    finally:
        await lease.release()


class _FileLease:
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __del__(self) -> None:
        # a lease dropped unreleased (a response never started) must not hold its thread
        if self._fd is not None:
            os.close(self._fd)


class FileLeases:
    """`flock` leases under `<state_dir>/leases/`: one machine, any number of processes."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "leases"

    async def acquire(self, thread_id: str) -> Lease:
        """Lock the thread's file without waiting."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{hashlib.sha256(thread_id.encode()).hexdigest()[:32]}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(thread_id) from None
        return _FileLease(fd)


class _PostgresLease:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # closing the session frees its advisory locks, even if the unlock cannot run
            try:
                await asyncio.shield(conn.close())
            except Exception as exc:  # noqa: BLE001 - the server frees the lock anyway
                log.info("closing a lease connection failed: %s", exc)


class PostgresLeases:
    """Advisory-lock leases in the shared database: one run per thread across replicas."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    async def acquire(self, thread_id: str) -> Lease:
        """Take the lock on a dedicated connection that lives as long as the run."""
        import psycopg

        try:
            conn = await psycopg.AsyncConnection.connect(self.uri, autocommit=True,
                                                         connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StateError(f"cannot reach PostgreSQL to lease thread {thread_id!r}: "
                             f"{_last_line(exc)}; retry when the "
                             "database is back") from None
        try:
            locked = await try_advisory_lock(conn, lease_key(thread_id))
        except BaseException:
            await conn.close()
            raise
        if not locked:
            await conn.close()
            raise _busy(thread_id)
        return _PostgresLease(conn)
