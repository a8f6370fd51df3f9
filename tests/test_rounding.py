import itertools

import numpy as np
import pytest

from optimiser.rounding import combinatorial_rounding, contiguous_blocks, shift_search


def _deviation(relaxed, w):
    return np.max(np.abs(np.cumsum(relaxed - w)))


@pytest.mark.parametrize("seed", range(5))
def test_rounding_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    relaxed = rng.uniform(0, 1, 9)
    allowed = rng.uniform(size=9) > 0.2
    relaxed[~allowed] = 0.0
    max_on = int(np.floor(relaxed.sum()))
    w = combinatorial_rounding(relaxed, allowed, (np.ones((1, 9)), np.array([max_on])))
    assert w.sum() <= max_on and np.all(w[~allowed] == 0) and set(w) <= {0.0, 1.0}
    best = min(_deviation(relaxed, np.array(c)) for c in itertools.product((0.0, 1.0), repeat=9)
               if sum(c) <= max_on and all(a or not x for a, x in zip(allowed, c, strict=True)))
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
    best, value, _ = shift_search(lambda w: abs(np.argmax(w) - 7.0), start, allowed, one_day,
                                  max_shift=3)
    assert np.argmax(best) == 7 and value == 0.0
