"""Prompt files: JSON or TOML mapping `Context` prompt fields to text (`--prompts FILE`).

`longcepo optimize-prompt` writes them; `ask`, `eval` and the servers read them. Templates are
checked with the same placeholder rules as the built-in prompts before any call is made.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from longcepo.nodes.budget import check_templates
from longcepo.nodes.errors import ConfigError
from longcepo.state import PROMPT_FIELDS

PROMPT_KEYS = ("system_prompt", *PROMPT_FIELDS)


def load_prompt_file(path: str | Path) -> dict[str, str]:
    """The prompts a file sets; any problem is one `ConfigError` line naming the fix."""
    source = Path(path)
    try:
        raw = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read prompt file {source}: {exc}") from None
    try:
        data = tomllib.loads(raw) if source.suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if source.suffix == ".toml" else "JSON"
        raise ConfigError(f"prompt file {source} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"prompt file {source} must map prompt fields to text, e.g. "
                          '{"system_prompt": "..."}')
    unknown = sorted(set(data) - set(PROMPT_KEYS))
    if unknown:
        raise ConfigError(f"prompt file {source}: unknown field(s) {', '.join(unknown)}; "
                          f"use: {', '.join(PROMPT_KEYS)}")
    bad = sorted(k for k, v in data.items() if not isinstance(v, str) or not v.strip())
    if bad:
        raise ConfigError(f"prompt file {source}: {', '.join(bad)} must be non-empty text")
    check_templates(data)
    return dict(data)


def write_prompt_file(path: str | Path, prompts: dict[str, str]) -> Path:
    """Write prompts as JSON (readable back by `load_prompt_file`)."""
    check_templates(prompts)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(prompts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
