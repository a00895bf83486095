"""Replies are durable before they can be lost: SIGKILL under concurrency 16, then resume.

Kills land at three points of the map stage (right after a reply, and between replies). The
double's request log tells which calls the resumed run sent again: each must have been held
by the double at the kill, or answered so shortly before it that the reply was still being
read (`GRACE`; replies used to wait 50-260 ms for their write before it was made immediate).
The measuring loop is `bench.kills`, shared with `python -m bench.kills`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kills import one_kill

CONCURRENCY = 16
GRACE = 0.15


@pytest.mark.parametrize(("after_maps", "offset"), [(5, 0.0), (17, 0.05), (29, 0.1)])
def test_a_kill_repeats_only_calls_whose_reply_had_not_arrived(tmp_path: Path, after_maps: int,
                                                                offset: float) -> None:
    row = one_kill(tmp_path, after_maps, CONCURRENCY, 0.05, offset)
    print(row)
    assert row["resumed_ok"], "the resumed run did not give the right answer"
    assert all(lag < GRACE for lag in row["lags_s"]), row
    assert row["resent"] <= CONCURRENCY + len(row["lags_s"]), row
