"""The linear rows of a problem's rules over every free drug at once, from the same usage
expressions the NLP and the checker use: amounts (budgets) on the dose fractions, dosing-day
rules on the on/off indicator. Free profiles are stacked drug by drug (``W.ravel()`` of an
n_free x N array); the fixed drugs enter the rows as constants, so a rule that spans a free and
a fixed drug (``NotTogether``) is a row too."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import casadi as ca
import numpy as np

from optimiser.problem import ControlProblem


@dataclass(frozen=True)
class LinearRules:
    """``amount @ w <= amount_bound`` on stacked dose fractions ``w`` and
    ``days @ d <= days_bound`` on the dosing-day indicator ``d = (w > 0)``."""

    amount: np.ndarray
    amount_bound: np.ndarray
    days: np.ndarray
    days_bound: np.ndarray

    def excess(self, w: np.ndarray) -> float:
        """The largest amount by which ``w`` exceeds a row's bound (<= 0: every rule kept)."""
        w = np.ravel(w)
        rows = np.concatenate([self.amount @ w - self.amount_bound,
                               self.days @ (w > 0) - self.days_bound])
        return float(rows.max()) if rows.size else -np.inf

    def satisfied(self, w: np.ndarray) -> bool:
        return self.excess(w) <= 1e-9


def _rows(problem: ControlProblem, w, on_off: bool) -> dict:
    """Rows per control for a usage expression: the free drugs from the stacked ``w`` (1 x
    n_free*N), the fixed ones as their profile (its indicator for dosing-day rules)."""
    n = problem.n_intervals
    rows = {name: w[:, k * n:(k + 1) * n] for k, name in enumerate(problem.free_names)}
    fixed = problem.fixed_profile()
    for k, name in enumerate(problem.fixed_names):
        values = (fixed[k] > 0).astype(float) if on_off else fixed[k]
        rows[name] = ca.DM(values).T
    return rows


def linear_rules(problem: ControlProblem) -> LinearRules:
    """The rows of every linear constraint that reads a free drug, over the stacked free
    profiles."""
    width = len(problem.free_names) * problem.n_intervals
    w = ca.MX.sym("w", 1, width)
    parts: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    for constraint in problem.linear_constraints:
        if not set(constraint.drugs) & set(problem.free_names):
            continue
        usage = constraint.usage(_rows(problem, w, constraint.counts_dosing_days),
                                 problem.grid_step)
        function = ca.Function("rule", [w], [usage, ca.jacobian(usage, w)])
        offset, matrix = function(np.zeros(width))
        matrices, bounds = parts[constraint.counts_dosing_days]
        matrices.append(np.asarray(ca.densify(matrix)))
        bounds.append(constraint.limit - np.asarray(offset).ravel())

    def stacked(matrices: list, bounds: list) -> tuple[np.ndarray, np.ndarray]:
        if not matrices:
            return np.zeros((0, width)), np.zeros(0)
        return np.vstack(matrices), np.concatenate(bounds)

    return LinearRules(*stacked(*parts[False]), *stacked(*parts[True]))


def rule_excess(problem: ControlProblem, rules: LinearRules) -> Callable[[np.ndarray], float]:
    """By how much stacked free profiles (n_free x N) break the rules (<= 0: kept): the linear
    rows, and the non-linear rules evaluated as the checker does."""
    free = set(problem.free_names)
    others = [c for c in problem.constraints if not c.linear and set(c.drugs) & free]

    def excess(W: np.ndarray) -> float:
        W = np.atleast_2d(W)
        stacked = {flag: _rows(problem, ca.DM(((W > 0).astype(float) if flag else W).ravel()).T,
                               flag) for flag in (True, False)}
        return max([rules.excess(W),
                    *(float(ca.mmax(c.usage(stacked[c.counts_dosing_days], problem.grid_step)))
                      - c.limit for c in others)])

    return excess


def max_on(problem: ControlProblem, drug: str, rules: LinearRules, level: float) -> int:
    """Most dosing intervals of ``drug`` at ``level`` any budget allows: amount rows that
    charge every allowed interval of that drug the same and no other drug."""
    n = problem.n_intervals
    k = problem.free_names.index(drug)
    allowed = problem.window_mask(drug)
    caps = [int(allowed.sum())]
    for row, bound in zip(rules.amount, rules.amount_bound, strict=True):
        own = row[k * n:(k + 1) * n]
        if np.any(np.delete(row, np.s_[k * n:(k + 1) * n])):
            continue
        charge = own[allowed] * level
        if charge.size and charge.min() > 0 and np.allclose(charge, charge[0]):
            caps.append(math.floor(bound / charge[0] + 1e-9))
    return max(0, min(caps))
