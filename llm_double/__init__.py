"""A deterministic, misbehaving-on-demand stand-in for an OpenAI-compatible LLM endpoint.

It speaks the real chat-completions HTTP API on loopback, plays every LongCePO stage from the
prompt text alone (`reader`), generates long documents with planted facts (`corpus`), and
injects latency and faults (`config`) so the product is tested through its real HTTP client.
"""

from llm_double.config import FAULTS, DoubleConfig, FaultRule
from llm_double.runner import LLMDouble
from llm_double.server import DoubleServer

__all__ = ["FAULTS", "DoubleConfig", "DoubleServer", "FaultRule", "LLMDouble"]
