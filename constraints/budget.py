"""Exposure budgets for the IGF-1R inhibitor (the reason it may only be given transiently)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import casadi as ca

from constraints.base import Constraint
from models.errors import InputError
from models.parameters import ParameterError, convert

_BUDGET = re.compile(
    r"^\s*(?P<number>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)\s*(?P<unit>[^\d\s]*)\s*$")
_UNITS = {"": "day", "d": "day", "day": "day", "days": "day", "h": "hour", "hour": "hour",
          "hours": "hour", "w": "week", "week": "week", "weeks": "week"}
_HELP = "give a number of days with an optional unit, e.g. 10d, 240h, 1.5w or 10"


class BudgetError(InputError):
    """A budget string cannot be read; the message says what to write instead."""


def parse_days(text: str, what: str = "budget") -> float:
    """A duration in days from ``10d``, ``240h``, ``1.5w`` or ``10`` (days); ``what`` names the
    option in the error message."""
    if text is None or not str(text).strip():
        raise BudgetError(f"{what} is empty; {_HELP}")
    match = _BUDGET.match(str(text))
    if not match:
        raise BudgetError(f"{what} {text!r} is not understood; {_HELP}")
    unit = match["unit"].lower()
    if unit not in _UNITS:
        raise BudgetError(f"{what} {text!r} has unknown unit {match['unit']!r}; {_HELP}")
    value = float(match["number"])
    if not math.isfinite(value):
        raise BudgetError(f"{what} {text!r} is not a finite number; {_HELP}")
    if value < 0:
        raise BudgetError(f"{what} {text!r} is negative; {_HELP}")
    try:
        return convert(value, _UNITS[unit], "day", what=what)
    except ParameterError as error:  # pragma: no cover - the units above are all convertible
        raise BudgetError(str(error)) from None


def parse_budget(text: str) -> float:
    """A days-on budget in days."""
    return parse_days(text, "budget")


_AUC = re.compile(r"^\s*auc\s*:\s*(?P<number>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)\s*"
                  r"(?P<unit>[^\d\s].*?)\s*$", re.IGNORECASE)
_AUC_HELP = "give an exposure such as auc:300uM*h or auc:0.3mM*h"


def is_auc_budget(text: str) -> bool:
    return str(text).strip().lower().startswith("auc:")


def parse_auc_budget(text: str, to_unit: str = "micromolar * hour") -> float:
    """An exposure (AUC) budget from ``auc:VALUE UNIT``, in ``to_unit``."""
    match = _AUC.match(str(text))
    if not match:
        raise BudgetError(f"AUC budget {text!r} is not understood (a number and a unit are "
                          f"needed); {_AUC_HELP}")
    value = float(match["number"])
    if not math.isfinite(value):
        raise BudgetError(f"AUC budget {text!r} is not a finite number; {_AUC_HELP}")
    if value < 0:
        raise BudgetError(f"AUC budget {text!r} is negative; {_AUC_HELP}")
    try:
        return convert(value, match["unit"], to_unit, what="AUC budget")
    except ParameterError as error:
        raise BudgetError(str(error)) from None


@dataclass(frozen=True)
class AucBudget(Constraint):
    """Exposure budget under dose-proportional PK: a day at the reference dose adds
    ``auc_per_day`` (in ``unit``), a day at half dose half of it."""

    drug: str
    limit: float
    auc_per_day: float
    unit: str = "micromolar * hour"
    name: str = "AUC budget"

    def __post_init__(self) -> None:
        for what, value in (("AUC budget", self.limit), ("AUC per reference dose",
                                                          self.auc_per_day)):
            if not (math.isfinite(value) and value >= 0):
                raise BudgetError(f"{what} must be a finite number >= 0, got {value!r}; give "
                                  "0 or more")

    @property
    def structure(self) -> tuple:
        """``auc_per_day`` is a coefficient of the compiled rows, so it is part of the structure:
        a solver compiled for one exposure per dose must not be reused for another."""
        return (*super().structure, self.auc_per_day)

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        return ca.sum2(controls[self.drug]) * grid_step * self.auc_per_day


@dataclass(frozen=True)
class DaysOnBudget(Constraint):
    """Integral of the dose fraction over time: a day at the reference dose counts one day."""

    drug: str
    limit: float  # days
    name: str = "days-on budget"
    unit: str = "day"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit >= 0):
            raise BudgetError(f"days-on budget must be a finite number of days >= 0, "
                              f"got {self.limit!r}; give 0 or more days")

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        return ca.sum2(controls[self.drug]) * grid_step


@dataclass(frozen=True)
class AmountBudget(Constraint):
    """Total amount of ``drug`` in its own dose unit: the integral of the dose over time (a
    control whose dose is a rate, in units per day, given for days, adds units). The dose is
    the fraction times the control's reference dose, which ``bind`` reads from the model."""

    drug: str
    limit: float  # dose unit * day
    unit: str = "dose unit * day"
    name: str = "amount budget"
    reference_dose: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit >= 0):
            raise BudgetError(f"amount budget must be a finite number >= 0, got "
                              f"{self.limit!r}; give 0 or more")

    def bind(self, model) -> AmountBudget:
        control = model.control(self.drug)
        unit = self.unit if self.unit != "dose unit * day" else (
            "day" if control.dose_unit == "1" else f"{control.dose_unit} * day")
        return replace(self, reference_dose=control.reference_dose, unit=unit)

    @property
    def structure(self) -> tuple:
        """The reference dose is a coefficient of the compiled rows."""
        return (*super().structure, self.reference_dose)

    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        if self.reference_dose is None:
            raise BudgetError(f"{self.name} of {self.drug!r} is not bound to a model; give it "
                              "to a ControlProblem, which binds it")
        return ca.sum2(controls[self.drug]) * grid_step * self.reference_dose


# Every kind of budget, for code that finds or drops "the budget" among a problem's constraints.
BUDGET_KINDS = (DaysOnBudget, AucBudget, AmountBudget)
