import math
import random

import pytest
from longcepo.nodes.collapse import _apply_merges, choose_pairs


def simulate(sizes, budget, merged_size, max_size=300):
    """Run the round planner to the end; a merge yields `merged_size(a, b)` tokens."""
    n0 = len(sizes)
    limit = math.ceil(math.log2(n0)) if n0 > 1 else 0
    rounds = 0
    while sum(sizes) > budget and rounds < limit:
        pairs = choose_pairs(sizes, budget, limit - rounds, max_size)
        assert pairs, "a round over budget must merge something"
        assert all(p % 2 == 0 for p in pairs)
        out, i = [], 0
        while i < len(sizes):
            if i in pairs:
                out.append(merged_size(sizes[i], sizes[i + 1]))
                i += 2
            else:
                out.append(sizes[i])
                i += 1
        sizes = out
        rounds += 1
    return rounds, sizes


@pytest.mark.parametrize("n", [2, 3, 5, 8, 17, 100, 1000])
def test_rounds_never_exceed_ceil_log2_even_when_merges_do_not_shrink(n):
    # worst case: merged output is as large as the output cap allows
    rounds, sizes = simulate([200] * n, budget=250, merged_size=lambda a, b: 240, max_size=240)
    assert rounds <= math.ceil(math.log2(n))
    assert sum(sizes) <= 250


def test_only_as_many_merges_as_the_budget_needs():
    sizes = [100] * 16
    pairs = choose_pairs(sizes, budget=1500, rounds_left=4, max_size=300)
    assert len(pairs) == 1  # 1600 -> one merge saves ~100
    assert choose_pairs(sizes, budget=1600, rounds_left=4, max_size=300) == []
    # with few rounds left, enough pairs are merged to still finish in time
    assert len(choose_pairs(sizes, budget=1500, rounds_left=1, max_size=300)) == 8


def test_random_sizes_fit_within_the_bound():
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(2, 300)
        sizes = [rng.randint(20, 300) for _ in range(n)]
        budget = rng.randint(300, 4000)
        rounds, final = simulate(sizes, budget, lambda a, b: min(300, max(a, b) + rng.randint(0, 40)))
        assert rounds <= math.ceil(math.log2(n))
        assert sum(final) <= budget or len(final) == 1


def test_apply_merges_keeps_order():
    f = [{"sources": [i]} for i in range(5)]
    merged = [{"at": 0, "finding": {"sources": [0, 1]}}, {"at": 2, "finding": {"sources": [2, 3]}}]
    assert [x["sources"] for x in _apply_merges(f, merged)] == [[0, 1], [2, 3], [4]]
