"""Settings of the double: latency model, fault injection, access rules and the request log.

One frozen dataclass, replaced whole on every change, so a request always sees one consistent
set of settings even while a test reconfigures the server from another thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

FAULTS = ("http_500", "http_429", "drop", "hang", "malformed", "empty")
"""Fault kinds. drop: close the socket without a response; hang: never answer (released when
the client disconnects or the server stops); malformed: a stage-aware reply that ignores the
output protocol; empty: content ""."""


def _check_fault(fault: str) -> str:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of: {', '.join(FAULTS)}")
    return fault


@dataclass(frozen=True)
class FaultRule:
    """Inject `fault` into requests of `stage` (any stage if None).

    `nth`: only the n-th matching request(s), 1-based, counted since the rule was configured
    (retries count, so a retry of a failed n-th request gets through). `rate`: a fraction of
    the matching requests, drawn from the seed, the prompt and how often that exact prompt was
    seen. Neither: every matching request.
    """

    fault: str
    stage: str | None = None
    nth: tuple[int, ...] | None = None
    rate: float | None = None

    def __post_init__(self) -> None:
        _check_fault(self.fault)
        if self.nth is not None and self.rate is not None:
            raise ValueError("a fault rule takes nth or rate, not both")

    @classmethod
    def parse(cls, rule: FaultRule | Mapping[str, Any]) -> FaultRule:
        """Accept a rule or a dict like {"stage": "map", "nth": 3, "fault": "http_500"}."""
        if isinstance(rule, FaultRule):
            return rule
        nth = rule.get("nth")
        nth_tuple = (
            None
            if nth is None
            else ((int(nth),) if isinstance(nth, int | str) else tuple(int(n) for n in nth))
        )
        rate = rule.get("rate")
        return cls(
            fault=str(rule["fault"]),
            stage=rule.get("stage"),
            nth=nth_tuple,
            rate=None if rate is None else float(rate),
        )


@dataclass(frozen=True)
class DoubleConfig:
    """Everything that shapes the double's behaviour; all defaults mean instant and faultless.

    Latency of one answered request is `latency + latency_per_prompt_token * prompt_tokens +
    latency_per_completion_token * completion_tokens`, spent holding one of `slots` (None:
    unlimited); requests beyond the slots wait in FIFO order. Faults come from, in order of
    precedence: `fault_sequence` (the i-th request's fault, 0-based, None for none), `faults`
    (rules, first match wins) and `fault_rates` (fault -> fraction of all requests).
    `http_429` and `hang` are refused before admission: they take no slot and leave the prefix
    cache alone. `http_500` and `drop` are admitted: they hold a slot for `latency` seconds and
    their prompt enters the prefix cache, as on a server that failed mid-request.
    """

    latency: float = 0.0
    latency_per_prompt_token: float = 0.0
    latency_per_completion_token: float = 0.0
    slots: int | None = None
    faults: tuple[FaultRule, ...] = ()
    fault_rates: Mapping[str, float] = field(default_factory=dict)
    fault_sequence: tuple[str | None, ...] = ()
    seed: int = 0
    retry_after: float | None = 0.0
    models: tuple[str, ...] | None = None
    api_key: str | None = None
    log_path: str | None = None
    keep_log: bool = True
    prefix_block_size: int = 16
    prefix_cache_blocks: int | None = None
    exact_tokens: bool = True
    """False: count 4 characters as a token and hash 64-character blocks; for benchmarks where
    the double must cost next to no CPU (exact counting is ~0.6 ms per 1K prompt tokens)."""
    response_formats: tuple[str, ...] = ("json_schema", "json_object")
    """The `response_format` types answered with JSON under the schema; any other is refused
    with `refusal_status` (("json_object",) and 500 play llama.cpp, () and 400 a plain server)."""
    refusal_status: int = 400

    def __post_init__(self) -> None:
        for fault in self.fault_rates:
            _check_fault(fault)
        for maybe in self.fault_sequence:
            if maybe is not None:
                _check_fault(maybe)
        if self.slots is not None and self.slots < 0:
            raise ValueError("slots must be positive, or 0/None for unlimited")

    def updated(self, **changes: Any) -> DoubleConfig:
        """A copy with `changes`, accepting JSON-ish values (lists, dicts) for every field."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if "faults" in changes:
            changes["faults"] = tuple(FaultRule.parse(r) for r in changes["faults"] or ())
        if "fault_rates" in changes:
            rates = changes["fault_rates"] or {}
            changes["fault_rates"] = {str(k): float(v) for k, v in rates.items()}
        if "fault_sequence" in changes:
            changes["fault_sequence"] = tuple(changes["fault_sequence"] or ())
        if "response_formats" in changes:
            changes["response_formats"] = tuple(changes["response_formats"] or ())
        if changes.get("models") is not None:
            changes["models"] = tuple(changes["models"])
        if changes.get("slots") == 0:
            changes["slots"] = None
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, with the API key masked."""
        out = asdict(self)
        out["fault_rates"] = dict(self.fault_rates)
        if self.api_key:
            out["api_key"] = "***"
        return out
