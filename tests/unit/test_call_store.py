"""A received reply is committed without the event loop's help, in its own SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from longcepo.nodes import store as chunk_store
from longcepo.runtime.api import sqlite_graph


def committed_replies(folder: Path) -> int:
    """Rows of the call cache as another process would see them."""
    with sqlite3.connect(folder / "calls.sqlite") as conn:
        return int(conn.execute(
            "SELECT count(*) FROM store WHERE prefix LIKE 'longcepo.calls.%'").fetchone()[0])


async def test_a_reply_is_committed_while_the_event_loop_is_busy(tmp_path):
    async with sqlite_graph(tmp_path) as graph:
        assert graph.store is not None
        cache = chunk_store.CallCache(graph.store, "run-1")
        writing = asyncio.ensure_future(cache.put("k1", {"text": "reply"}))
        await asyncio.sleep(0)  # the put starts...
        time.sleep(0.3)  # ...then the loop is busy (other tasks parsing, serializing)
        seen_while_busy = committed_replies(tmp_path)
        await writing
        assert await cache.get("k1") == {"text": "reply"}
    assert seen_while_busy == 1, "the reply waited for the event loop to be committed"


async def test_forget_run_clears_the_call_cache_file_too(tmp_path):
    async with sqlite_graph(tmp_path) as graph:
        assert graph.store is not None
        await chunk_store.CallCache(graph.store, "run-2").put("k", {"text": "x"})
        await chunk_store.save_summary(graph.store, "run-2", "q", 0, "summary")
        assert await chunk_store.forget_run(graph.store, "run-2") == 2
    assert committed_replies(tmp_path) == 0


async def test_sqlite_state_is_in_wal_mode(tmp_path):
    async with sqlite_graph(tmp_path):
        pass
    for name in ("checkpoints.sqlite", "store.sqlite", "calls.sqlite"):
        with sqlite3.connect(tmp_path / name) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal", name
