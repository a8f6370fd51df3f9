"""From a relaxed dose profile to an integer one that keeps every linear rule exactly.

Combinatorial integral approximation (Sager, Bock & Diehl, Math. Program. 2012,
doi:10.1007/s10107-010-0405-3): the integer profiles (all free drugs at once) whose running
integrals stay closest to the relaxed ones, solved as a small MILP with HiGHS.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
from scipy.sparse import csc_matrix

from models.errors import NumericalError
from optimiser.integer.rules import LinearRules


class RoundingError(NumericalError):
    """HiGHS did not solve a rounding MILP."""


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
        raise RoundingError(f"MILP not solved: HiGHS {highs.modelStatusToString(status)}")
    return np.asarray(highs.getSolution().col_value)


def combinatorial_rounding(relaxed: np.ndarray, allowed: np.ndarray, rules: LinearRules,
                           levels: tuple[float, ...] = (1.0,)) -> np.ndarray:
    """Profiles w (one row per free drug, or one profile) with one of ``levels`` (or 0) on
    each allowed interval, keeping ``rules`` (rows over the stacked profiles), minimising the
    largest max_k |sum_{j<=k} (relaxed_j - w_j)| over the drugs. ``allowed`` is a mask, or the
    highest dose fraction per interval (levels above it are excluded there), in the shape of
    ``relaxed``.

    Variables: binaries z[i, l] for the permitted (drug-interval, level) pairs, the running
    sums s[i] of w = z @ levels (restarting for each drug), and theta."""
    shape = np.shape(relaxed)
    relaxed = np.atleast_2d(relaxed)
    allowed = np.atleast_2d(allowed)
    drugs, intervals = relaxed.shape
    n = relaxed.size
    level = np.asarray(levels, dtype=float)
    caps = (np.where(allowed, np.inf, 0.0) if allowed.dtype == bool else allowed).ravel()
    permitted = np.flatnonzero((level[None, :] <= caps[:, None] + 1e-12).ravel())
    if permitted.size == 0:
        return np.zeros(shape)
    k = permitted.size
    to_w = np.kron(np.eye(n), level[None, :])[:, permitted]  # w = to_w @ z
    to_d = np.kron(np.eye(n), np.ones((1, len(level))))[:, permitted]  # d = to_d @ z
    # s[t] - s[t-1] within each drug's row
    differences = np.kron(np.eye(drugs), np.eye(intervals) - np.eye(intervals, k=-1))
    target = np.cumsum(relaxed, axis=1).ravel()
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
    return (to_w @ np.round(x[:k])).reshape(shape)
