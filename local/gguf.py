"""Read a GGUF file's metadata header: the model's name and its trained context window.

Only the key/value header is read (arrays are skipped), so this costs milliseconds even for a
multi-gigabyte model and needs neither llama.cpp nor a running server.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """The file is not a GGUF model we can read."""


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFError("the file ends inside its metadata header")
    return struct.unpack(fmt, data)[0]


def _string(f: BinaryIO) -> str:
    length = _read(f, "<Q")
    data = f.read(length)
    if len(data) != length:
        raise GGUFError("the file ends inside its metadata header")
    return data.decode("utf-8", errors="replace")


def _value(f: BinaryIO, kind: int, keep: bool) -> Any:
    if kind in _SCALARS:
        return _read(f, _SCALARS[kind])
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item_kind, count = _read(f, "<I"), _read(f, "<Q")
        if item_kind in _SCALARS and not keep:
            f.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
            return None
        if item_kind == _STRING and not keep:
            for _ in range(count):
                f.seek(_read(f, "<Q"), 1)
            return None
        items = [_value(f, item_kind, keep) for _ in range(count)]
        return items if keep else None
    raise GGUFError(f"unknown metadata value type {kind}")


def read_metadata(path: str | Path, keys: set[str] | None = None) -> dict[str, Any]:
    """The header's scalar and string values (arrays only when named in `keys`)."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file (no GGUF magic)")
        version = _read(f, "<I")
        if version < 2:
            raise GGUFError(f"{path} uses GGUF version {version}; only 2 and later are read")
        _read(f, "<Q")  # tensor count
        n_kv = _read(f, "<Q")
        out: dict[str, Any] = {}
        for _ in range(n_kv):
            key = _string(f)
            kind = _read(f, "<I")
            value = _value(f, kind, keep=bool(keys and key in keys))
            if value is not None:
                out[key] = value
    return out


def context_length(metadata: dict[str, Any]) -> int | None:
    """The trained context window, `<architecture>.context_length`, if the file states it."""
    arch = metadata.get("general.architecture")
    value = metadata.get(f"{arch}.context_length") if arch else None
    return int(value) if isinstance(value, int) and value > 0 else None
