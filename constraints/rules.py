"""Dosing rules on the days a drug is given: longest run and shortest holiday.

Both are linear in the daily on/off indicator ``w``, so the same expressions serve the relaxed NLP
(applied to dose fractions), the rounding MILP and the checker (applied to the indicator).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import casadi as ca

from constraints.base import Constraint
from models.errors import InputError
from models.schedule import grid_steps


class RuleError(InputError):
    """A rule's setting is unusable; the message says what to give instead."""


def _whole_intervals(days: float, grid_step: float, what: str) -> int:
    steps = grid_steps(days, grid_step)
    if steps is None:
        raise RuleError(f"{what} of {days:g} d is not a whole number of grid steps of "
                        f"{grid_step:g} d; give a multiple of the grid step")
    return steps


def _positive_days(days: float, what: str) -> None:
    if not (math.isfinite(days) and days > 0):
        raise RuleError(f"{what} must be a positive number of days, got {days!r}; give at "
                        "least one grid step, e.g. 3d")


@dataclass(frozen=True)
class _DosingDayRule(Constraint):
    """A rule on the days ``drug`` is given, set in whole grid steps of days."""

    drug: str
    days: float
    grid_step: float = 1.0
    counts_dosing_days: bool = True
    label: str = "rule"  # short, completed with the days in ``name``
    description: str = "rule"  # spelled out, for error messages

    def __post_init__(self) -> None:
        _positive_days(self.days, self.description)
        self.intervals(self.grid_step)

    def intervals(self, grid_step: float) -> int:
        return _whole_intervals(self.days, grid_step, self.description)

    @property
    def name(self) -> str:
        return f"{self.label} {self.days:g} d"

    @property
    def structure(self) -> tuple:
        return (*super().structure, self.days, self.grid_step)


@dataclass(frozen=True)
class MaxRun(_DosingDayRule):
    """At most ``days`` consecutive dosing days: every window one interval longer than the
    allowed run holds at most ``days`` days of drug."""

    label: str = "max run"
    description: str = "maximum run"
    unit: str = "day"

    @property
    def limit(self) -> float:
        return self.days

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        u = controls[self.drug]
        # A horizon no longer than the allowed run has no longer window: the whole horizon is
        # the one window (never above the limit), so usage keeps at least one row.
        window = min(self.intervals(grid_step) + 1, u.numel())
        starts = range(u.numel() - window + 1)
        return ca.vertcat(*[ca.sum2(u[:, t:t + window]) for t in starts]) * grid_step


@dataclass(frozen=True)
class MinHoliday(_DosingDayRule):
    """After a pulse ends, at least ``days`` without drug before the next one:
    ``w[t] - w[t+1] + w[t+j] <= 1`` for ``j = 2 .. holiday``."""

    label: str = "min holiday"
    description: str = "minimum holiday"
    unit: str = "1"
    limit: float = 1.0
    # One pulse at 1, 0.5, 1 keeps the rule on dosing days but gives 1 - 0.5 + 1 > 1 on fractions.
    monotone: bool = False

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        holiday = self.intervals(grid_step)
        u = controls[self.drug]
        n = u.numel()
        rows = [u[:, t] - u[:, t + 1] + u[:, t + j]
                for j in range(2, holiday + 1) for t in range(n - j)]
        return ca.vertcat(*rows) if rows else ca.DM.zeros(1, 1)


@dataclass(frozen=True)
class MaxPulses(Constraint):
    """At most ``limit`` pulses (runs of dosing days). A count is not linear in the doses, so
    the relaxed NLP and the rounding MILP do not carry it; the integer search keeps to it."""

    drug: str
    limit: float  # pulses
    name: str = "max pulses"
    unit: str = "pulse"
    counts_dosing_days: bool = True
    linear: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit >= 1 and self.limit == int(self.limit)):
            raise RuleError(f"maximum number of pulses must be a whole number >= 1, got "
                            f"{self.limit!r}; give 1 or more")

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        u = controls[self.drug]
        starts = ca.fmax(0, u[:, 1:] - u[:, :-1])
        return u[:, 0] + ca.sum2(starts)


@dataclass(frozen=True)
class DoseLevels(Constraint):
    """Every dose of ``drug`` is 0 or one of ``levels`` (fractions of the reference dose).
    The optimiser builds schedules from these levels (rounding MILP, search moves); the
    checker measures each dose's distance to the nearest allowed one, which must be 0."""

    drug: str
    levels: tuple[float, ...]
    name: str = "dose levels"
    unit: str = "1"
    limit: float = 0.0
    linear: bool = False

    def __post_init__(self) -> None:
        if not self.levels or not all(math.isfinite(x) and x > 0 for x in self.levels):
            raise RuleError(f"dose levels must be positive numbers, got {list(self.levels)}; "
                            "give fractions of the reference dose above 0")

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        u = controls[self.drug]
        distance = ca.fabs(u)
        for level in self.levels:
            distance = ca.fmin(distance, ca.fabs(u - level))
        return distance.T


@dataclass(frozen=True)
class NotTogether(Constraint):
    """``drug_a`` and ``drug_b`` are never both given on one interval: ``w_a + w_b <= 1`` on
    the dosing-day indicator. On dose fractions up to 1 it relaxes the rule (an integer
    schedule that keeps it has at most one full dose per interval), so the NLP carries it."""

    drug_a: str
    drug_b: str
    name: str = "not together"
    unit: str = "1"
    limit: float = 1.0
    counts_dosing_days: bool = True

    def __post_init__(self) -> None:
        if self.drug_a == self.drug_b:
            raise RuleError(f"not-together rule names {self.drug_a!r} twice; give two "
                            "different drugs")

    @property
    def drugs(self) -> tuple[str, ...]:
        return (self.drug_a, self.drug_b)

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        return (controls[self.drug_a] + controls[self.drug_b]).T
