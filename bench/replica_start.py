"""Two `longcepo serve` replicas started together on an empty PostgreSQL database, N times.

python -m bench.replica_start [--tries 6]   # needs LONGCEPO_TEST_POSTGRES_URI (see .ci/run)

Reports, per try, the seconds until both answer /health and the seconds each takes to exit
after SIGTERM. Before the setup lock was polled, 1 try in 6 deadlocked.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from tests.integration.servers import child_env, start_serve


def one_try(admin: str, folder: Path) -> dict[str, object]:
    """Start two replicas at once on a fresh database; stop them with SIGTERM."""
    name = f"longcepo_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = make_conninfo(admin, dbname=name)
    try:
        started = time.monotonic()
        env = child_env(LONGCEPO_POSTGRES_URI=uri)
        replicas = [start_serve(folder, "--base-url", "http://127.0.0.1:9/v1", env=env,
                                ready=False) for _ in range(2)]
        pending = list(replicas)
        while pending and time.monotonic() - started < 120:
            for served in list(pending):
                try:
                    if httpx.get(f"{served.url}/health", timeout=1).json()["status"] == "ok":
                        pending.remove(served)
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        ready_s = time.monotonic() - started
        stops = []
        for served in replicas:
            begun = time.monotonic()
            served.process.terminate()
            served.process.wait(60)
            stops.append(round(time.monotonic() - begun, 2))
            served.stop()
        return {"both_ready": not pending, "ready_s": round(ready_s, 2), "sigterm_exit_s": stops}
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    """Run the tries and print one JSON line each."""
    parser = argparse.ArgumentParser(prog="python -m bench.replica_start", description=__doc__)
    parser.add_argument("--tries", type=int, default=6)
    args = parser.parse_args(argv)
    admin = os.environ["LONGCEPO_TEST_POSTGRES_URI"]
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.tries):
            print(json.dumps(one_try(admin, Path(tmp))), flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
