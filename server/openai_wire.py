"""The OpenAI chat-completions wire format: the request we accept and the bodies we send.

Progress goes out as `reasoning_content` deltas (the field reasoning models use), so chat
clients show it apart from the answer and plain clients that read `content` see only the
answer.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from longcepo.state import STAGES, ProgressEvent
from pydantic import BaseModel, ConfigDict, Field

MODEL_PREFIX = "longcepo-"
APPROACH = "longcepo"
"""What optillm's clients name in `extra_body={"optillm_approach": ...}` with a plain model."""


class ChatMessage(BaseModel):
    """One message; content is text or a list of text parts."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text, parts joined."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content
                           if isinstance(p, dict) and p.get("type", "text") == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    """`stream_options`: only `include_usage` matters here."""

    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """`POST /v1/chat/completions`; the last user message is `{context}<CONTEXT_END>{query}`.

    Unknown OpenAI fields are accepted and ignored, as other compatible servers do.
    """

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None
    delimiter: str | None = Field(default=None, min_length=1)
    n: int | None = Field(default=None, ge=1, le=1)
    optillm_approach: str | None = None

    def base_model(self) -> str:
        """The upstream model: the name after `longcepo-`, or the plain name sent with it.

        optillm's clients send `optillm_approach: longcepo` and the plain model name; "" when
        the request names neither.
        """
        if self.model.startswith(MODEL_PREFIX):
            return self.model[len(MODEL_PREFIX):]
        return self.model if self.optillm_approach == APPROACH else ""

    def user_text(self) -> str:
        """The last user message's text."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""

    def context_settings(self) -> dict[str, Any]:
        """The Context fields this request sets."""
        out: dict[str, Any] = {"model": self.base_model()}
        if self.temperature is not None:
            for stage in STAGES:
                out[f"temperature_{stage}"] = self.temperature
        if self.top_p is not None:
            out["top_p"] = self.top_p
        cap = self.max_completion_tokens or self.max_tokens
        if cap is not None:
            out["max_output_tokens"] = cap
        if self.seed is not None:
            out["seed"] = self.seed
        if self.delimiter is not None:
            out["delimiter"] = self.delimiter
        return out


def usage_of(output: dict[str, Any]) -> dict[str, int]:
    """OpenAI `usage` summed over every stage and retry of the run."""
    stages = (output.get("usage") or {}).values()
    prompt = sum(int(s.get("prompt_tokens", 0)) for s in stages)
    completion = sum(int(s.get("completion_tokens", 0)) for s in stages)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def extras(output: dict[str, Any], thread_id: str) -> dict[str, Any]:
    """What LongCePO adds beyond OpenAI's fields: thread, provenance, plan, notes, stages."""
    return {"thread_id": thread_id,
            "sub_questions": output.get("sub_questions", []),
            "supporting_chunks": output.get("supporting_chunks", []),
            "notes": output.get("notes", []),
            "usage_by_stage": output.get("usage", {})}


def completion(run_id: str, model: str, output: dict[str, Any], thread_id: str) -> dict[str, Any]:
    """A `chat.completion` body."""
    return {
        "id": run_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": output.get("answer", "")}}],
        "usage": usage_of(output),
        "longcepo": extras(output, thread_id),
    }


def chunk(run_id: str, model: str, delta: dict[str, Any],
          finish: Literal["stop"] | None = None, **extra: Any) -> dict[str, Any]:
    """One `chat.completion.chunk` body."""
    return {"id": run_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra}


def usage_chunk(run_id: str, model: str, output: dict[str, Any]) -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage` is set: no choices, only usage."""
    return {"id": run_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [], "usage": usage_of(output)}


class Narrator:
    """Turns the graph's progress events into short lines of text."""

    def __init__(self) -> None:
        self.chunks = 0
        self.done = {ProgressEvent.SUMMARY_DONE: 0, ProgressEvent.MAP_DONE: 0}

    def line(self, event: dict[str, Any]) -> str | None:
        """A line for `event`, or None for events not worth a line."""
        kind = event.get("event")
        if kind == ProgressEvent.INGESTED:
            self.chunks = int(event["chunks"])
            return f"Read {event['documents']} document(s) into {self.chunks} chunks."
        if kind == ProgressEvent.PLAN:
            subs = event["sub_questions"]
            return "Plan:\n" + "\n".join(f"{i}. {q}" for i, q in enumerate(subs, 1))
        if kind == ProgressEvent.PASS_START:
            self.done = {ProgressEvent.SUMMARY_DONE: 0, ProgressEvent.MAP_DONE: 0}
            label = ("Final question" if event.get("final")
                     else f"Sub-question {int(event['index']) + 1}/{int(event['passes']) - 1}")
            return f"{label}: {event['question']}"
        if kind in self.done:
            self.done[kind] += 1
            stage = "summarized" if kind == ProgressEvent.SUMMARY_DONE else "read"
            return f"  {stage} chunk {self.done[kind]}/{self.chunks or '?'}"
        if kind == ProgressEvent.COLLAPSE_ROUND:
            return f"  merging findings: round {event['round']}, {event['merges']} merges"
        if kind == ProgressEvent.PASS_DONE and not event.get("final"):
            return f"  answer: {event['answer']}"
        return None
