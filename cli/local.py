"""`--model local` / `--model-path` for every CLI command: serve the GGUF for the command's span.

`ask`, `eval` and `optimize-prompt` share this, so the bundled model (or any GGUF) can be
evaluated and tuned with the same budgets a local `ask` uses.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from longcepo.cli.common import CliError
from longcepo.env import env
from longcepo.local import LOCAL_MODEL_NAME


def local_requested(args: argparse.Namespace) -> bool:
    """Whether this command uses the embedded model: `--model local`, or a `--model-path`."""
    model = args.model or env("LONGCEPO_MODEL")
    return bool(args.model_path) or model == LOCAL_MODEL_NAME


@contextlib.contextmanager
def local_endpoint(args: argparse.Namespace, texts: Iterable[str], say: Callable[[str], None],
                   ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(defaults, forced) `Context` settings; serves the local model while the block runs.

    For a hosted endpoint both are empty. For a local one the fitted budgets are written back
    to `args`, so a printed resume command and saved options repeat them.
    """
    if not local_requested(args):
        yield {}, {}
        return
    if args.base_url:
        raise CliError("--model local runs its own llama.cpp server; drop --base-url, or pass "
                       "--model with the name your endpoint serves")
    from longcepo.local.model import serve_local

    with serve_local(args.model_path, texts, window=args.max_context_window,
                     chunk_size=args.chunk_size, max_output_tokens=args.max_output_tokens,
                     say=say) as local:
        budget = local.budget
        args.model = LOCAL_MODEL_NAME if not args.model_path else None
        args.max_context_window, args.chunk_size = budget.max_context_window, budget.chunk_size
        args.max_output_tokens = budget.max_output_tokens
        args.local_model = local.model.name  # the GGUF's own name, for labels
        yield local.defaults(), local.forced()
