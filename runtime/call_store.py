"""The SQLite call cache: a file of its own, written on a thread of its own.

The chunk store batches every operation of an event-loop tick into one transaction and runs
it in several hops through the loop; under load a received reply then waited 50-250 ms to be
committed, and a kill in that gap paid for it again. Here a reply's write is handed to a
dedicated thread the moment it arrives and commits in about a millisecond (WAL,
`synchronous=NORMAL`: durable when the process is killed). A separate file means its
commits never collide with the chunk store's read-then-write transactions.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from langgraph.store.base import BaseStore, Op, Result

CALLS_FILE = "calls.sqlite"


@contextmanager
def numpy_unimportable() -> Iterator[None]:
    """Hide numpy while LangGraph's SQLite store is imported, when nothing loaded it yet.

    The store imports `sqlite_vec` (for vector search, which longcepo does not use), and that
    tries `numpy.typing` only to offer a helper nobody calls: 0.15 s of CPU at every start.
    Without numpy it defines a stub instead. numpy stays importable afterwards.
    """
    if "numpy" in sys.modules or "sqlite_vec" in sys.modules:
        yield
        return
    sys.modules["numpy"] = None  # type: ignore[assignment]  # `import numpy` raises ImportError
    try:
        yield
    finally:
        if "numpy" in sys.modules and sys.modules["numpy"] is None:
            del sys.modules["numpy"]


with numpy_unimportable():
    from langgraph.store.sqlite import SqliteStore


class ThreadedSqliteStore(BaseStore):
    """A `SqliteStore` whose async operations run at once on one dedicated thread."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="longcepo-calls")

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations in the calling thread."""
        return self._store.batch(ops)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations on the store's thread; submitted before this coroutine yields."""
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._store.batch, list(ops))

    def close(self) -> None:
        """Finish pending writes, then stop the thread."""
        self._thread.shutdown(wait=True)


@contextmanager
def sqlite_call_store(folder: Path) -> Iterator[ThreadedSqliteStore]:
    """The call cache in `<folder>/calls.sqlite`, set up and closed with the block."""
    conn = sqlite3.connect(folder / CALLS_FILE, check_same_thread=False, isolation_level=None)
    try:
        conn.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        store = SqliteStore(conn)
        store.setup()
        threaded = ThreadedSqliteStore(store)
        try:
            yield threaded
        finally:
            threaded.close()
    finally:
        conn.close()
