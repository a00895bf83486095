"""`results.jsonl` with resume: one line per (dataset, item, strategy, run), appended as done.

Settings that change what an answer means (model, window, trim, prompts) are pinned in
`settings.json`; running again with other settings into the same folder is refused, so one
folder never mixes incomparable numbers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from longcepo.nodes.errors import ConfigError

log = logging.getLogger(__name__)
RESULTS, SETTINGS = "results.jsonl", "settings.json"


def record_key(dataset: str, item_id: str, variant: str, run: int) -> str:
    """The identity of one answer; a later line with the same key replaces an earlier one."""
    return f"{dataset}|{item_id}|{variant}|{run}"


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """The latest record per key; a torn last line (a killed run) is skipped."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d is not JSON (a run killed mid-write?); skipped", path, number)
            continue
        records[record["key"]] = record
    return records


def drop_torn_tail(path: Path) -> None:
    """Cut a last line left without its newline by a kill, so appends start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning("%s ended in a torn line (a run killed mid-write); dropped it", path)
        with path.open("r+b") as handle:
            handle.truncate(keep)


class ResultStore:
    """The output folder: pinned settings and the records written so far."""

    def __init__(self, folder: Path, settings: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / RESULTS
        pinned = folder / SETTINGS
        if pinned.exists():
            old = json.loads(pinned.read_text(encoding="utf-8"))
            changed = sorted(k for k in {*old, *settings} if old.get(k) != settings.get(k))
            if changed:
                raise ConfigError(
                    f"{folder} holds results made with other settings ({', '.join(changed)}); "
                    "use another --out folder, or the same settings to continue"
                )
        else:
            pinned.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n",
                              encoding="utf-8")
        self.settings = settings
        drop_torn_tail(self.path)
        self.records = read_records(self.path)

    def finished(self, key: str) -> bool:
        """Whether this answer exists without an error (errors are retried on the next run)."""
        record = self.records.get(key)
        return record is not None and not record.get("error")

    def add(self, record: dict[str, Any]) -> None:
        """Append one record at once, so a kill loses at most the answers in flight."""
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.records[record["key"]] = record
