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


def test_ranked_shift_search_ends_where_the_plain_one_does_and_simulates_less():
    """A separable objective whose gradient is exact: a sum of per-day costs. The ranked
    search reaches the same local optimum with fewer evaluations."""
    rng = np.random.default_rng(3)
    cost = rng.normal(size=30)
    allowed = np.ones(30, dtype=bool)
    start = np.zeros(30)
    start[:5] = 1.0
    five = lambda w: w.sum() <= 5  # noqa: E731

    def evaluate(ws):
        return [float(cost @ w.ravel()) for w in ws]

    plain, plain_value, plain_count = shift_search(evaluate, start, allowed, five)
    ranked, ranked_value, ranked_count = shift_search(
        evaluate, start, allowed, five, slope=lambda w: np.broadcast_to(cost, w.shape))
    assert ranked_value == pytest.approx(plain_value) and np.array_equal(ranked, plain)
    assert ranked_value < float(cost @ start)
    assert ranked_count < plain_count


def test_objective_gradient_matches_finite_differences():
    """The adjoint gradient of the screened objective (it ranks the search's moves) against
    central differences of the CVODES screening, on model v1's main-job schedule."""
    from models.registry import get_preset
    from optimiser.build import problem_from_preset
    from optimiser.cache import solver_for

    problem = problem_from_preset(get_preset("persister_v1"), budget_days=10)
    solver = solver_for(problem)
    free = np.zeros((1, problem.n_intervals))
    free[0, [0, 1, 2, 3, 4, 8, 22, 28, 33, 38]] = 0.5  # interior, so both sides exist
    gradient = solver.objective_gradient(problem, free)
    step = 1e-3
    for day in (0, 5, 15, 30, 39):
        up, down = free.copy(), free.copy()
        up[0, day] += step
        down[0, day] -= step if free[0, day] > 0 else 0.0
        width = step if free[0, day] == 0 else 2 * step
        high, low = solver.objectives_of(problem, [up, down])
        assert gradient[0, day] == pytest.approx((high - low) / width, rel=2e-2, abs=1e-4)
    assert np.all(gradient[0, solver.H:] == 0.0)  # no drug variable in the drug-free tail
