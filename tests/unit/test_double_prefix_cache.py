"""Prefix-cache accounting without HTTP."""

from __future__ import annotations

from llm_double.prefix_cache import PrefixCache, TokenCounter


def test_only_leading_blocks_count() -> None:
    cache = PrefixCache(block_size=2)
    assert cache.admit([(1, 2), (3, 4), (5, 6)]) == 0
    assert cache.admit([(1, 2), (3, 4), (9, 9)]) == 4
    assert cache.admit([(9, 9), (3, 4)]) == 0  # a block is cached only after the same prefix


def test_capacity_evicts_least_recently_used() -> None:
    cache = PrefixCache(block_size=1, capacity_blocks=2)
    cache.admit([(1,), (2,)])
    cache.admit([(7,)])
    assert len(cache) == 2
    assert cache.admit([(1,), (2,)]) == 0  # the first block was evicted


def test_role_changes_the_blocks() -> None:
    counter = TokenCounter()
    text = "word " * 100
    _, as_user = counter.prompt([{"role": "user", "content": text}])
    _, as_system = counter.prompt([{"role": "system", "content": text}])
    assert as_user[0] != as_system[0] and as_user[1:] == as_system[1:]
    cache = PrefixCache()
    cache.admit(as_user)
    assert cache.admit(as_system) == 0
