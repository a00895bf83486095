"""A scripted chat model for unit tests: replies come from a function of the messages.

It goes through the same `llm.override_chat_model` seam as nothing else; HTTP-level behaviour
is covered by the OpenAI-compatible double in `llm_double`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from longcepo.nodes.tokens import count_tokens

Responder = Callable[[str, list[BaseMessage], dict[str, Any]], str]


def stage_of(kwargs: dict[str, Any]) -> str:
    return str((kwargs.get("extra_headers") or {}).get("X-Longcepo-Stage", "?"))


class ScriptedChatModel(BaseChatModel):
    """Calls `responder(stage, messages, kwargs)`; an exception it raises is the call's error."""

    responder: Any
    calls: list[dict[str, Any]] = []
    delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _result(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> ChatResult:
        stage = stage_of(kwargs)
        self.calls.append({"stage": stage, "messages": messages, "kwargs": kwargs})
        text = self.responder(stage, messages, kwargs)
        prompt = sum(count_tokens(str(m.content)) for m in messages)
        message = AIMessage(text, usage_metadata={"input_tokens": prompt,
                                                  "output_tokens": count_tokens(text),
                                                  "total_tokens": prompt + count_tokens(text)})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._result(messages, kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None,
                         **kwargs: Any) -> ChatResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._result(messages, kwargs)

    def stages(self) -> list[str]:
        return [c["stage"] for c in self.calls]


def make_model(responder: Callable[..., str], delay: float = 0.0) -> ScriptedChatModel:
    return ScriptedChatModel(responder=responder, calls=[], delay=delay)
