"""Print the README's configuration table from the `Context` dataclass (`python -m ...`).

A unit test checks the README holds exactly this table, so docs follow the code.
"""

from __future__ import annotations

import sys
from dataclasses import MISSING, fields

from longcepo.state import Context


def context_table() -> str:
    """Markdown table: field, default, description."""
    rows = ["| setting | default | what it does |", "| --- | --- | --- |"]
    for f in fields(Context):
        if f.name.endswith("_prompt"):
            default = "built-in (`prompts/`)"
        elif f.metadata.get("env"):
            fallback = f.metadata["env_fallback"]
            default = f"env `{f.metadata['env']}`" + (f", else `{fallback}`" if fallback else "")
        elif f.default is not MISSING:
            default = f"`{f.default!r}`"
        else:
            default = ""
        rows.append(f"| `{f.name}` | {default} | {f.metadata.get('description', '')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(context_table() + "\n")
