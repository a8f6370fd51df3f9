"""From a relaxed dose profile to an on/off schedule that respects the budget exactly.

Combinatorial integral approximation (Sager, Bock & Diehl, Math. Program. 2012,
doi:10.1007/s10107-010-0405-3): the integer profile whose running integral stays closest to the
relaxed one, solved as a small MILP with HiGHS. The rounded profile, and every contiguous block
of the budget's length, then seed a local search that shifts single dosing days.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix


@dataclass(frozen=True)
class LinearRules:
    """``amount @ w <= amount_bound`` on dose fractions ``w`` and ``days @ d <= days_bound`` on
    the dosing-day indicator ``d = (w > 0)``."""

    amount: np.ndarray
    amount_bound: np.ndarray
    days: np.ndarray
    days_bound: np.ndarray

    def excess(self, w: np.ndarray) -> float:
        """The largest amount by which ``w`` exceeds a row's bound (<= 0: every rule kept)."""
        rows = np.concatenate([self.amount @ w - self.amount_bound,
                               self.days @ (w > 0) - self.days_bound])
        return float(rows.max()) if rows.size else -np.inf

    def satisfied(self, w: np.ndarray) -> bool:
        return self.excess(w) <= 1e-9


@functools.cache
def _highs():
    """One silent HiGHS instance per process. HiGHS prints a banner on C-level stdout when the
    first instance is made, which would corrupt ``--json`` output, so stdout is closed then."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highs = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    highs.setOptionValue("output_flag", False)
    return highs


def solve_milp(cost: np.ndarray, rows: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray,
               lower: np.ndarray, upper: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """``min cost @ x`` s.t. ``row_lower <= rows @ x <= row_upper``, ``lower <= x <= upper``,
    ``x[integer]`` integral, with HiGHS (highspy). SciPy 1.17's bundled HiGHS stopped with
    "Solve error" on 23 of 3000 random rounding MILPs that highspy 1.16 solves."""
    import highspy

    infinity = highspy.kHighsInf
    matrix = csc_matrix(rows)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), rows.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_, lp.col_upper_ = (np.clip(np.asarray(b, dtype=float), -infinity, infinity)
                                    for b in (lower, upper))
    lp.row_lower_, lp.row_upper_ = (np.clip(np.asarray(b, dtype=float), -infinity, infinity)
                                    for b in (row_lower, row_upper))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = matrix.indptr, matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
                       for flag in integer]
    highs = _highs()
    highs.clearModel()
    highs.passModel(lp)
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"MILP not solved: HiGHS {highs.modelStatusToString(status)}")
    return np.asarray(highs.getSolution().col_value)


def combinatorial_rounding(relaxed: np.ndarray, allowed: np.ndarray, rules: LinearRules,
                           levels: tuple[float, ...] = (1.0,)) -> np.ndarray:
    """Profile w with one of ``levels`` (or 0) on each allowed interval, keeping ``rules``,
    minimising max_k |sum_{j<=k} (relaxed_j - w_j)|. ``allowed`` is a mask, or the highest
    dose fraction per interval (levels above it are excluded there).

    Variables: binaries z[t, l] for the permitted (interval, level) pairs, the running sums
    s[t] of w = z @ levels, and theta."""
    n = len(relaxed)
    level = np.asarray(levels, dtype=float)
    caps = np.where(allowed, np.inf, 0.0) if allowed.dtype == bool else allowed
    permitted = np.flatnonzero((level[None, :] <= caps[:, None] + 1e-12).ravel())
    if permitted.size == 0:
        return np.zeros(n)
    k = permitted.size
    to_w = np.kron(np.eye(n), level[None, :])[:, permitted]  # w = to_w @ z
    to_d = np.kron(np.eye(n), np.ones((1, len(level))))[:, permitted]  # d = to_d @ z
    differences = np.eye(n) - np.eye(n, k=-1)  # s[t] - s[t-1]
    target = np.cumsum(relaxed)
    eye, ones, zeros, none = np.eye(n), np.ones((n, 1)), np.zeros((n, 1)), np.zeros((n, k))
    blocks = [  # (rows, lower, upper)
        (np.hstack([-to_w, differences, zeros]), 0.0, 0.0),  # s = running sum of w
        (np.hstack([none, eye, ones]), target, np.inf),  # theta >= s - target ...
        (np.hstack([none, -eye, ones]), -target, np.inf),  # ... and >= target - s
        (np.hstack([to_d, np.zeros((n, n + 1))]), 0.0, 1.0),  # one level at most
    ]
    for matrix, bound, to in ((rules.amount, rules.amount_bound, to_w),
                              (rules.days, rules.days_bound, to_d)):
        if len(bound):
            blocks.append((np.hstack([matrix @ to, np.zeros((len(bound), n + 1))]), -np.inf,
                           bound))
    rows = np.vstack([b[0] for b in blocks])
    row_lower = np.concatenate([np.broadcast_to(b[1], len(b[0])) for b in blocks])
    row_upper = np.concatenate([np.broadcast_to(b[2], len(b[0])) for b in blocks])
    largest = np.abs(relaxed).sum() + n * level.max()
    x = solve_milp(np.append(np.zeros(k + n), 1.0), rows, row_lower, row_upper,
                   lower=np.concatenate([np.zeros(k), np.full(n, -largest), [0.0]]),
                   upper=np.concatenate([np.ones(k), np.full(n, largest), [largest]]),
                   integer=np.append(np.ones(k, dtype=bool), np.zeros(n + 1, dtype=bool)))
    return to_w @ np.round(x[:k])


def contiguous_blocks(allowed: np.ndarray, length: int) -> list[np.ndarray]:
    """Every on/off profile with one block of ``length`` allowed intervals."""
    blocks = []
    for start in range(len(allowed) - length + 1):
        if length and allowed[start:start + length].all():
            w = np.zeros(len(allowed))
            w[start:start + length] = 1.0
            blocks.append(w)
    return blocks


def shift_search(evaluate: Callable[[list[np.ndarray]], list[float]], start: np.ndarray,
                 allowed: np.ndarray, feasible: Callable[[np.ndarray], bool],
                 levels: tuple[float, ...] = (1.0,), max_shift: int = 3,
                 max_passes: int = 50) -> tuple[np.ndarray, float, int]:
    """Best-improvement search among feasible profiles: move one dosing interval by up to
    ``max_shift`` intervals, change its dose level, or add one where the rules still allow it
    (which lets a search that started short of the budget, e.g. from no drug, fill it).
    ``evaluate`` scores a batch of profiles (one call per pass, so it can simulate them in
    one go).

    Returns the best profile, its value and the number of evaluations."""
    cache: dict[bytes, float] = {}

    def values(profiles: list[np.ndarray]) -> list[float]:
        keys = [np.round(w, 9).tobytes() for w in profiles]
        new = {key: w for key, w in zip(keys, profiles, strict=True) if key not in cache}
        cache.update(zip(new, evaluate(list(new.values())), strict=True))
        return [cache[key] for key in keys]

    best, best_value = start.copy(), values([start])[0]
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
        scored = [(value, k) for k, value in enumerate(values(candidates))]
        if not scored or min(scored)[0] >= best_value - 1e-12:
            break
        best_value, k = min(scored)
        best = candidates[k]
    return best, best_value, len(cache)
