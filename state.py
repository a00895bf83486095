"""Typed graph states, reducers and the runtime `Context` of longcepo.

State holds only small things (questions, answers, chunk ids, findings); document text lives in
a LangGraph store so checkpoints stay small however long the document is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Annotated, Any, Literal, NotRequired, get_args

from longcepo.env import env
from longcepo.prompts import collapse, map_chunk, normalize, plan, reduce, summary, system
from typing_extensions import TypedDict

# ---------------------------------------------------------------------------------------------
# Small records carried in state


class Document(TypedDict):
    """One input document: a caller-chosen id, its text and, optionally, its pages.

    `page_starts[i]` is the character offset where page i+1 begins (PDFs), so answers can
    cite pages; `metadata` (source, format, page count, title) is the reader's, kept as given.
    """

    id: str
    text: str
    page_starts: NotRequired[list[int]]
    metadata: NotRequired[dict[str, Any]]


class QAPair(TypedDict):
    """A sub-question and the answer the engine gave to it."""

    question: str
    answer: str


class DocumentEntry(TypedDict):
    """Where one ingested document's chunks live in the store."""

    doc_id: str
    key: str
    n_chunks: int
    chars: int
    first: int


class SupportingChunk(TypedDict):
    """A chunk whose findings reached an answer, with its character span in its document.

    `pages` is the first and last page the chunk spans, for documents that have pages.
    """

    doc_id: str
    chunk: int
    start: int
    end: int
    passes: list[int]
    pages: NotRequired[list[int]]


class Finding(TypedDict):
    """A map or collapse result in the four-field protocol, with the chunks it came from."""

    sources: list[int]
    extracted: str
    rationale: str
    answer: str
    confidence: float | None


STAGES = ("normalize", "plan", "summary", "map", "collapse", "reduce")
"""The LLM-calling stages, in pipeline order: usage, temperatures and prompts are kept per stage."""


class ProgressEvent(StrEnum):
    """Names of the events on the graph's custom stream; the CLI and the servers read them."""

    INGESTED = "ingested"
    PLAN = "plan"
    PASS_START = "pass_start"
    SUMMARY_DONE = "summary_done"
    MAP_DONE = "map_done"
    MAPPED = "mapped"
    COLLAPSE_ROUND = "collapse_round"
    MERGE_DONE = "merge_done"
    ANSWER = "answer"
    PASS_DONE = "pass_done"
    RESULT = "result"  # the served run's last event, carrying the output


# ---------------------------------------------------------------------------------------------
# Reducers


def merge_usage(
    left: Mapping[str, Mapping[str, int]] | None, right: Mapping[str, Mapping[str, int]] | None
) -> dict[str, dict[str, int]]:
    """Sum per-stage counters; parallel tasks each report a delta."""
    out: dict[str, dict[str, int]] = {k: dict(v) for k, v in (left or {}).items()}
    for stage, counts in (right or {}).items():
        into = out.setdefault(stage, {})
        for name, value in counts.items():
            into[name] = into.get(name, 0) + int(value)
    return out


def merge_supporting(
    left: list[SupportingChunk] | None, right: list[SupportingChunk] | None
) -> list[SupportingChunk]:
    """Union supporting chunks by (doc_id, chunk), uniting the passes that used each one."""
    merged: dict[tuple[str, int], SupportingChunk] = {}
    for item in [*(left or []), *(right or [])]:
        key = (item["doc_id"], item["chunk"])
        if key in merged:
            passes = sorted(set(merged[key]["passes"]) | set(item["passes"]))
            merged[key] = {**merged[key], "passes": passes}
        else:
            merged[key] = {**item, "passes": sorted(set(item["passes"]))}
    return sorted(merged.values(), key=lambda c: (c["doc_id"], c["chunk"]))


def add_or_reset(left: list[Any] | None, right: list[Any] | None) -> list[Any]:
    """Append, except that `None` in place of a list clears the accumulator between rounds."""
    if right is None:
        return []
    return [*(left or []), *right]


def add_notes(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Append notes, keeping the first occurrence of each so repeated fallbacks read once."""
    out = list(left or [])
    for note in right or []:
        if note not in out:
            out.append(note)
    return out


# ---------------------------------------------------------------------------------------------
# Main graph states


class InputState(TypedDict):
    """What a caller passes: `context` and `query`, or one `message` holding the delimiter.

    `documents` (instead of `context`) names documents already in the graph's store, as
    `nodes.ingest.ingest` returns them; checkpoints then never hold the text at all.
    """

    context: NotRequired[str | list[Document]]
    query: NotRequired[str]
    message: NotRequired[str]
    documents: NotRequired[list[DocumentEntry]]


class OutputState(TypedDict):
    """What a caller gets back."""

    answer: str
    normalized_query: str
    sub_questions: list[str]
    qa_history: list[QAPair]
    supporting_chunks: Annotated[list[SupportingChunk], merge_supporting]
    usage: Annotated[dict[str, dict[str, int]], merge_usage]
    notes: Annotated[list[str], add_notes]


class LongCePOState(InputState, OutputState):
    """The main graph's full state: the output plus the loop's bookkeeping."""

    run_key: str
    question: str
    pass_index: int
    summary_question: str


# ---------------------------------------------------------------------------------------------
# Map/collapse/reduce engine states


class EngineInput(TypedDict):
    """One question for the engine; `context` is read only when no `documents` are given."""

    question: str
    qa_history: NotRequired[list[QAPair]]
    context: NotRequired[str | list[Document]]
    documents: NotRequired[list[DocumentEntry]]
    run_key: NotRequired[str]
    pass_index: NotRequired[int]
    summary_question: NotRequired[str]


class EngineOutput(TypedDict):
    """The engine's answer to one question, with provenance and cost."""

    answer: str
    supporting_chunks: Annotated[list[SupportingChunk], merge_supporting]
    usage: Annotated[dict[str, dict[str, int]], merge_usage]
    notes: Annotated[list[str], add_notes]


class EngineState(EngineInput, EngineOutput):
    """The engine's full state; `map_results` and `merged` are per-round accumulators."""

    pending_summaries: list[int]
    map_results: Annotated[list[Finding], add_or_reset]
    findings: list[Finding]
    merged: Annotated[list[dict[str, Any]], add_or_reset]
    collapse_round: int
    collapse_limit: int
    collapse_pairs: list[int]


class ChunkTask(TypedDict):
    """A `Send` payload: ids only, never text."""

    run_key: str
    pass_index: int
    chunk: int


class MergeTask(TypedDict):
    """A `Send` payload for one collapse merge: two adjacent findings and where they sit."""

    run_key: str
    pass_index: int
    at: int
    pair: list[Finding]


# ---------------------------------------------------------------------------------------------
# Runtime configuration

StructuredOutput = Literal["auto", "on", "off", "json_schema", "json_object"]
STRUCTURED_OUTPUT: tuple[str, ...] = get_args(StructuredOutput)


def _env(name: str, fallback: str | None = None) -> Any:
    """Default factory reading an environment variable; an explicit value always wins."""
    return lambda: env(name) or fallback


def _opt(default: Any, description: str, *, cli: str | None = None, env: str | None = None,
         minimum: int | None = None, choices: tuple[str, ...] | None = None, **kw: Any) -> Any:
    """A dataclass field with what Studio, the README table and the CLI show of it.

    `cli` names its command-line option (the CLI derives type, default and help from here),
    `env` the environment variable that fills its default, `minimum` the least value allowed,
    `choices` the values an option takes.
    """
    meta = {"description": description, "cli": cli, "env": env, "minimum": minimum,
            "choices": choices}
    if env:  # `default` then applies only while the variable is unset
        meta["env_fallback"] = default
        return field(default_factory=_env(env, default), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass(kw_only=True)
class Context:
    """Runtime configuration of a longcepo run (`context_schema`)."""

    model: str = _opt("llama-3.3-70b", "Chat model name at the endpoint.", cli="--model",
                      env="LONGCEPO_MODEL")
    base_url: str | None = _opt(None, "OpenAI-compatible endpoint; None means api.openai.com.",
                                cli="--base-url", env="OPENAI_BASE_URL")
    api_key: str | None = _opt(None, "API key for the endpoint; never logged.", cli="--api-key",
                               env="OPENAI_API_KEY", repr=False)
    temperature_normalize: float = _opt(0.7, "Sampling temperature of query normalization.")
    temperature_plan: float = _opt(0.7, "Sampling temperature of planning.")
    temperature_summary: float = _opt(0.7, "Sampling temperature of chunk summaries.")
    temperature_map: float = _opt(0.7, "Sampling temperature of the map stage.")
    temperature_collapse: float = _opt(0.7, "Sampling temperature of the collapse stage.")
    temperature_reduce: float = _opt(0.7, "Sampling temperature of the reduce stage.")
    top_p: float = _opt(0.7, "Nucleus sampling top_p for every call.")
    seed: int | None = _opt(None, "Sampling seed passed to the endpoint, for repeatable runs.",
                            cli="--seed")
    chunk_size: int = _opt(4096, "Maximum tokens per document chunk.", cli="--chunk-size",
                           minimum=1)
    max_context_window: int = _opt(8192, "The model's context window in tokens.", cli="--window",
                                   minimum=1)
    max_output_tokens: int = _opt(1024, "Output cap of every call except summaries.",
                                  cli="--max-output-tokens", minimum=1)
    max_output_tokens_summary: int = _opt(300, "Output cap of summary calls.",
                                          cli="--summary-tokens", minimum=1)
    num_neighbor_summaries: int = _opt(5, "Summaries shown before AND after each chunk in map.",
                                       cli="--neighbors", minimum=0)
    delimiter: str = _opt("<CONTEXT_END>", "Separates context from query in a single message.")
    tokenizer_encoding: str = _opt("cl100k_base", "Offline tiktoken encoding for token counts.")
    max_concurrency: int = _opt(16, "Most LLM calls in flight at once.", cli="--concurrency",
                                minimum=1)
    max_sub_questions: int = _opt(6, "Cap on the plan's sub-questions.")
    max_format_retries: int = _opt(3, "Re-asks when an answer ignores the output protocol.",
                                   cli="--format-retries", minimum=0)
    max_retries: int = _opt(6, "Retries of a failed HTTP call (429, 5xx, timeout, dropped).",
                            cli="--retries", minimum=0)
    request_timeout: float = _opt(120.0, "Seconds before one LLM call is abandoned.",
                                  cli="--timeout", minimum=1)
    retry_backoff: float = _opt(0.5, "First retry delay in seconds; doubles each retry.")
    retry_backoff_max: float = _opt(30.0, "Longest delay between retries, in seconds.")
    structured_output: StructuredOutput = _opt(
        "auto",
        "Ask plan/map/collapse/reduce for JSON under a schema: auto (detect once per endpoint, "
        "text protocols if refused), on (detect; fail if refused), off, or a form: json_schema "
        "(vLLM, Ollama, OpenAI) or json_object (llama.cpp).",
        cli="--structured-output", choices=STRUCTURED_OUTPUT,
    )
    use_plan: bool = _opt(True, "Plan sub-questions; False answers the query in one pass.")
    summary_scope: Literal["query", "sub_question"] = _opt(
        "query",
        "Summaries aware of the whole query (computed once per run) or of each sub-question.",
    )
    max_document_tokens: int | None = _opt(None, "Refuse inputs longer than this; None: no cap.",
                                           cli="--max-document-tokens", minimum=1)
    system_prompt: str = _opt(system.QA_SYSTEM, "System prompt of summary/map/collapse/reduce.")
    normalize_prompt: str = _opt(normalize.TEMPLATE, "Query normalization prompt; {query}.")
    plan_prompt: str = _opt(plan.TEMPLATE, "Planning prompt; {question} {max_sub_questions}.")
    summary_prompt: str = _opt(summary.TEMPLATE, "Chunk summary prompt; {chunk} {question}.")
    map_prompt: str = _opt(
        map_chunk.TEMPLATE,
        "Map prompt; {summaries_before} {chunk} {summaries_after} {qa_history} {question}.",
    )
    collapse_prompt: str = _opt(
        collapse.TEMPLATE, "Collapse prompt; {findings} {qa_history} {question}."
    )
    reduce_prompt: str = _opt(
        reduce.TEMPLATE, "Reduce prompt; {findings} {qa_history} {question}."
    )

    def __repr__(self) -> str:
        """Show non-default settings only; the API key is never shown."""
        shown = []
        for f in fields(self):
            if f.repr and not f.name.endswith("_prompt") and f.name != "system_prompt":
                shown.append(f"{f.name}={getattr(self, f.name)!r}")
        return f"Context({', '.join(shown)})"

    @classmethod
    def from_settings(cls, **settings: Any) -> Context:
        """A `Context` from keyword settings (None means the default), naming any unknown one."""
        unknown = set(settings) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in settings.items() if v is not None})

    def temperature(self, stage: str) -> float:
        """The sampling temperature configured for `stage`."""
        return float(getattr(self, f"temperature_{stage}"))

    def prompt(self, stage: str) -> str:
        """The prompt template configured for `stage`."""
        return str(getattr(self, f"{stage}_prompt"))


PROMPT_FIELDS: dict[str, tuple[str, ...]] = {
    "normalize_prompt": normalize.PLACEHOLDERS,
    "plan_prompt": plan.PLACEHOLDERS,
    "summary_prompt": summary.PLACEHOLDERS,
    "map_prompt": map_chunk.PLACEHOLDERS,
    "collapse_prompt": collapse.PLACEHOLDERS,
    "reduce_prompt": reduce.PLACEHOLDERS,
}
