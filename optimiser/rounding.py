"""From a relaxed dose profile to an on/off schedule that respects the budget exactly.

Combinatorial integral approximation (Sager, Bock & Diehl, Math. Program. 2012,
doi:10.1007/s10107-010-0405-3): the integer profile whose running integral stays closest to the
relaxed one, solved as a small MILP with HiGHS. The rounded profile, and every contiguous block
of the budget's length, then seed a local search that shifts single dosing days.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


def combinatorial_rounding(relaxed: np.ndarray, allowed: np.ndarray,
                           rules: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Binary w (w = 0 where not allowed, ``A @ w <= b`` for ``rules = (A, b)``) minimising
    max_k |sum_{j<=k} (relaxed_j - w_j)|."""
    n = len(relaxed)
    # variables: w_0..w_{n-1}, theta
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    lower_triangle = np.tril(np.ones((n, n)))
    running = lower_triangle @ relaxed
    rows = [
        LinearConstraint(np.hstack([lower_triangle, np.ones((n, 1))]), running, np.inf),
        LinearConstraint(np.hstack([-lower_triangle, np.ones((n, 1))]), -running, np.inf),
    ]
    A, b = rules
    if len(b):
        rows.append(LinearConstraint(np.hstack([A, np.zeros((len(b), 1))]), -np.inf, b))
    upper = np.append(allowed.astype(float), np.inf)
    # HiGHS' presolve fails ("Solve error", status 4) on some of these running-sum MILPs; the
    # problem is small enough (N binaries) to solve directly.
    result = milp(cost, constraints=rows, integrality=np.append(np.ones(n), 0),
                  bounds=Bounds(np.zeros(n + 1), upper), options={"presolve": False})
    if not result.success:  # pragma: no cover - always feasible (w = 0)
        raise RuntimeError(f"rounding MILP failed: {result.message}")
    return np.round(result.x[:n])


def contiguous_blocks(allowed: np.ndarray, length: int) -> list[np.ndarray]:
    """Every on/off profile with one block of ``length`` allowed intervals."""
    blocks = []
    for start in range(len(allowed) - length + 1):
        if length and allowed[start:start + length].all():
            w = np.zeros(len(allowed))
            w[start:start + length] = 1.0
            blocks.append(w)
    return blocks


def satisfies(rules: tuple[np.ndarray, np.ndarray], w: np.ndarray) -> bool:
    A, b = rules
    return bool(np.all(A @ w <= b + 1e-9))


def shift_search(evaluate: Callable[[np.ndarray], float], start: np.ndarray, allowed: np.ndarray,
                 feasible: Callable[[np.ndarray], bool], max_shift: int = 3,
                 max_passes: int = 50) -> tuple[np.ndarray, float, int]:
    """Best-improvement search among feasible profiles: move one dosing interval by up to
    ``max_shift`` intervals, or add one where the rules still allow it (which lets a search
    that started short of the budget, e.g. from no drug, fill it).

    Returns the best profile, its value and the number of evaluations."""
    cache: dict[bytes, float] = {}

    def value(w: np.ndarray) -> float:
        key = w.astype(np.int8).tobytes()
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
                    w[i], w[j] = 0.0, 1.0
                    candidates.append(w)
        for j in np.flatnonzero(allowed & (best == 0)):
            w = best.copy()
            w[j] = 1.0
            candidates.append(w)
        candidates = [w for w in candidates if feasible(w)]
        scored = [(value(w), k) for k, w in enumerate(candidates)]
        if not scored or min(scored)[0] >= best_value - 1e-12:
            break
        best_value, k = min(scored)
        best = candidates[k]
    return best, best_value, len(cache)
