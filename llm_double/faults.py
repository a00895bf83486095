"""Choosing which fault, if any, a request gets.

Rate-based draws hash the seed, the prompt digest and how often that prompt was seen before,
so the same run injects the same faults into the same prompts whatever order concurrent
requests arrive in, and a retry of a failed prompt gets a fresh draw.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from llm_double.config import FAULTS, DoubleConfig


def uniform(*key: object) -> float:
    """A deterministic number in [0, 1) from `key`."""
    raw = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big") / 2**64


class FaultPlan:
    """The fault state of one configuration: counters start at zero when faults are set."""

    def __init__(self, config: DoubleConfig) -> None:
        self.config = config
        self.request_index = 0
        self.rule_counts = [0] * len(config.faults)
        self.prompt_seen: Counter[str] = Counter()

    def choose(self, stage: str, digest: str) -> str | None:
        """The fault for the next request (of `stage`, prompt `digest`), or None."""
        cfg = self.config
        index, self.request_index = self.request_index, self.request_index + 1
        attempt = self.prompt_seen[digest]
        self.prompt_seen[digest] += 1
        chosen = cfg.fault_sequence[index] if index < len(cfg.fault_sequence) else None
        for k, rule in enumerate(cfg.faults):
            if rule.stage is not None and rule.stage != stage:
                continue
            self.rule_counts[k] += 1
            if chosen is not None:
                continue
            if rule.nth is not None:
                hit = self.rule_counts[k] in rule.nth
            elif rule.rate is not None:
                hit = uniform(cfg.seed, "rule", k, digest, attempt) < rule.rate
            else:
                hit = True
            if hit:
                chosen = rule.fault
        if chosen is None and cfg.fault_rates:
            draw = uniform(cfg.seed, "rates", digest, attempt)
            for fault in FAULTS:
                draw -= cfg.fault_rates.get(fault, 0.0)
                if draw < 0:
                    return fault
        return chosen
