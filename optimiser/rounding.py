"""From a relaxed dose profile to an on/off schedule that respects the budget exactly.

Combinatorial integral approximation (Sager, Bock & Diehl, Math. Program. 2012,
doi:10.1007/s10107-010-0405-3): the integer profile whose running integral stays closest to the
relaxed one, solved as a small MILP with HiGHS. The rounded profile, and every contiguous block
of the budget's length, then seed a local search that shifts single dosing days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


@dataclass(frozen=True)
class LinearRules:
    """``amount @ w <= amount_bound`` on dose fractions ``w`` and ``days @ d <= days_bound`` on
    the dosing-day indicator ``d = (w > 0)``."""

    amount: np.ndarray
    amount_bound: np.ndarray
    days: np.ndarray
    days_bound: np.ndarray

    def satisfied(self, w: np.ndarray) -> bool:
        return bool(np.all(self.amount @ w <= self.amount_bound + 1e-9)
                    and np.all(self.days @ (w > 0) <= self.days_bound + 1e-9))


def combinatorial_rounding(relaxed: np.ndarray, allowed: np.ndarray, rules: LinearRules,
                           levels: tuple[float, ...] = (1.0,)) -> np.ndarray:
    """Profile w with one of ``levels`` (or 0) on each allowed interval, keeping ``rules``,
    minimising max_k |sum_{j<=k} (relaxed_j - w_j)|.

    Variables: binaries z[t, l] (interval t at level l), then theta; w = z @ levels."""
    n, m = len(relaxed), len(levels)
    level = np.asarray(levels, dtype=float)
    to_w = np.kron(np.eye(n), level[None, :])  # w = to_w @ z
    to_d = np.kron(np.eye(n), np.ones((1, m)))  # d = to_d @ z
    cost = np.zeros(n * m + 1)
    cost[-1] = 1.0
    running = np.tril(np.ones((n, n)))
    target = running @ relaxed
    theta = np.ones((n, 1))
    rows = [
        LinearConstraint(np.hstack([running @ to_w, theta]), target, np.inf),
        LinearConstraint(np.hstack([-running @ to_w, theta]), -target, np.inf),
        LinearConstraint(np.hstack([to_d, np.zeros((n, 1))]), 0, allowed.astype(float)),
    ]
    for matrix, bound, to in ((rules.amount, rules.amount_bound, to_w),
                              (rules.days, rules.days_bound, to_d)):
        if len(bound):
            rows.append(LinearConstraint(np.hstack([matrix @ to, np.zeros((len(bound), 1))]),
                                         -np.inf, bound))
    # HiGHS' presolve fails ("Solve error", status 4) on some of these running-sum MILPs; the
    # problem is small enough (N x levels binaries) to solve directly.
    result = milp(cost, constraints=rows, integrality=np.append(np.ones(n * m), 0),
                  bounds=Bounds(np.zeros(n * m + 1), np.append(np.ones(n * m), np.inf)),
                  options={"presolve": False})
    if not result.success:  # pragma: no cover - always feasible (w = 0)
        raise RuntimeError(f"rounding MILP failed: {result.message}")
    return to_w @ np.round(result.x[:-1])


def contiguous_blocks(allowed: np.ndarray, length: int) -> list[np.ndarray]:
    """Every on/off profile with one block of ``length`` allowed intervals."""
    blocks = []
    for start in range(len(allowed) - length + 1):
        if length and allowed[start:start + length].all():
            w = np.zeros(len(allowed))
            w[start:start + length] = 1.0
            blocks.append(w)
    return blocks


def shift_search(evaluate: Callable[[np.ndarray], float], start: np.ndarray, allowed: np.ndarray,
                 feasible: Callable[[np.ndarray], bool], levels: tuple[float, ...] = (1.0,),
                 max_shift: int = 3, max_passes: int = 50) -> tuple[np.ndarray, float, int]:
    """Best-improvement search among feasible profiles: move one dosing interval by up to
    ``max_shift`` intervals, change its dose level, or add one where the rules still allow it
    (which lets a search that started short of the budget, e.g. from no drug, fill it).

    Returns the best profile, its value and the number of evaluations."""
    cache: dict[bytes, float] = {}

    def value(w: np.ndarray) -> float:
        key = np.round(w, 9).tobytes()
        if key not in cache:
            cache[key] = evaluate(w)
        return cache[key]

    best, best_value = start.copy(), value(start)
    for _ in range(max_passes):
        candidates = []
        for i in np.flatnonzero(best):
            for j in range(max(0, i - max_shift), min(len(best), i + max_shift + 1)):
                if allowed[j] and not best[j]:
                    w = best.copy()
                    w[i], w[j] = 0.0, best[i]
                    candidates.append(w)
            for level in levels:
                if level != best[i]:
                    w = best.copy()
                    w[i] = level
                    candidates.append(w)
        for j in np.flatnonzero(allowed & (best == 0)):
            for level in levels:
                w = best.copy()
                w[j] = level
                candidates.append(w)
        candidates = [w for w in candidates if feasible(w)]
        scored = [(value(w), k) for k, w in enumerate(candidates)]
        if not scored or min(scored)[0] >= best_value - 1e-12:
            break
        best_value, k = min(scored)
        best = candidates[k]
    return best, best_value, len(cache)
