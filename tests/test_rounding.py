import itertools

import numpy as np
import pytest

from optimiser.integer import LinearRules, combinatorial_rounding, contiguous_blocks, shift_search


def _deviation(relaxed, w):
    return np.max(np.abs(np.cumsum(relaxed - w)))


@pytest.mark.parametrize("seed", range(5))
def test_rounding_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    relaxed = rng.uniform(0, 1, 9)
    allowed = rng.uniform(size=9) > 0.2
    relaxed[~allowed] = 0.0
    max_on = int(np.floor(relaxed.sum()))
    budget = LinearRules(np.ones((1, 9)), np.array([max_on]), np.zeros((0, 9)), np.zeros(0))
    w = combinatorial_rounding(relaxed, allowed, budget)
    assert w.sum() <= max_on and np.all(w[~allowed] == 0) and set(w) <= {0.0, 1.0}
    best = min(_deviation(relaxed, np.array(c)) for c in itertools.product((0.0, 1.0), repeat=9)
               if sum(c) <= max_on and all(a or not x for a, x in zip(allowed, c, strict=True)))
    assert _deviation(relaxed, w) == pytest.approx(best, abs=1e-7)


def test_rounding_with_dose_levels_matches_brute_force():
    rng = np.random.default_rng(7)
    relaxed = rng.uniform(0, 0.6, 7)
    levels = (0.5, 1.0)
    budget = LinearRules(np.ones((1, 7)), np.array([2.0]),  # at most 2 reference-dose days
                         np.ones((1, 7)), np.array([4.0]))  # and at most 4 dosing days
    w = combinatorial_rounding(relaxed, np.ones(7, dtype=bool), budget, levels)
    assert budget.satisfied(w) and set(np.round(w, 9)) <= {0.0, 0.5, 1.0}
    profiles = (np.array(c) for c in itertools.product((0.0, 0.5, 1.0), repeat=7))
    best = min(_deviation(relaxed, c) for c in profiles if budget.satisfied(c))
    assert _deviation(relaxed, w) == pytest.approx(best, abs=1e-7)


def test_contiguous_blocks_stay_in_the_window():
    allowed = np.array([0, 1, 1, 1, 1, 0, 1, 1], dtype=bool)
    blocks = contiguous_blocks(allowed, 3)
    assert [int(np.argmax(b)) for b in blocks] == [1, 2]
    assert contiguous_blocks(allowed, 0) == []


def test_shift_search_finds_the_best_single_day():
    allowed = np.ones(12, dtype=bool)
    start = np.zeros(12)
    start[0] = 1.0
    one_day = lambda w: w.sum() <= 1  # noqa: E731
    best, value, _ = shift_search(lambda ws: [abs(np.argmax(w) - 7.0) for w in ws], start,
                                  allowed, one_day, max_shift=3)
    assert np.argmax(best) == 7 and value == 0.0


def test_rounding_solves_random_instances_within_their_rules():
    """Regression: the MILP once failed ("Solve error") on a few such instances."""
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(5, 60))
        levels = tuple(sorted(rng.choice([0.25, 0.5, 1.0], size=int(rng.integers(1, 4)),
                                         replace=False)))
        caps = np.where(rng.uniform(size=n) < 0.6, rng.choice([0.25, 0.5, 1.0], size=n), 0.0)
        relaxed = rng.uniform(0, 1, n) * caps
        window = int(rng.integers(2, 6))
        runs = np.array([[t <= j < t + window for j in range(n)] for t in range(n - window + 1)],
                        dtype=float)
        rules = LinearRules(np.ones((1, n)), np.array([rng.uniform(0, relaxed.sum() + 1)]),
                            runs, np.full(len(runs), window - 1.0))
        w = combinatorial_rounding(relaxed, caps, rules, levels)
        assert rules.satisfied(w)
        assert np.all(w <= caps + 1e-12) and set(np.round(w, 9)) <= {0.0, *levels}
