"""Rules on a schedule that both the optimiser and the checker apply.

A constraint defines one ``usage`` expression of the dose fractions. The optimiser adds
``usage <= limit`` to the CasADi problem with symbolic controls; the checker evaluates the very
same expression on a finished schedule. One definition, two uses: they cannot disagree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import casadi as ca
import numpy as np

from models.model import Model
from models.schedule import Schedule

CHECK_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ConstraintReport:
    name: str
    used: float
    limit: float
    unit: str
    passed: bool

    def describe(self) -> str:
        verdict = "ok" if self.passed else "VIOLATED"
        return f"{self.name}: {self.used:.4g} of {self.limit:.4g} {self.unit} ({verdict})"


class Constraint(ABC):
    """``usage(controls, grid_step) <= limit`` on the rows of dose fractions (1 x N each).

    ``usage`` may return a column of values (one per window, say); every entry must stay within
    the limit and the check reports the largest. Rules about *dosing days* rather than amounts set
    ``counts_dosing_days``: the checker then evaluates them on the on/off indicator of each day,
    while the optimiser applies them to the dose fractions (equal for on/off schedules).
    """

    name: str
    unit: str
    limit: float
    counts_dosing_days: bool = False
    # False for a rule that is not linear in the doses (a count of pulses, say): the NLP and the
    # rounding MILP cannot carry it, so the optimiser enforces it by filtering integer candidates.
    linear: bool = True
    # False for a dosing-day rule whose usage can fall when a dose rises (a minimum holiday):
    # on dose fractions below the reference dose it no longer relaxes the rule on dosing days.
    monotone: bool = True

    @abstractmethod
    def usage(self, controls: Mapping[str, ca.MX | ca.DM], grid_step: float) -> ca.MX | ca.DM:
        """The constrained quantity; must accept symbolic and numeric rows alike."""

    @property
    def structure(self) -> tuple:
        """What the compiled problem depends on (the limit only where it shapes the rows)."""
        return (type(self).__name__, self.drugs)

    @property
    def drugs(self) -> tuple[str, ...]:
        """Controls the rule reads: its ``drug`` field; a rule on several drugs overrides this."""
        return (self.drug,)

    def validate(self, model: Model) -> None:
        for drug in self.drugs:
            model.control(drug)

    def bind(self, model: Model) -> Constraint:
        """The constraint with what it reads from the model filled in (a reference dose, say);
        ControlProblem binds every constraint it is given."""
        return self

    def check(self, schedule: Schedule, model: Model) -> ConstraintReport:
        fractions = schedule.fractions(model)
        if self.counts_dosing_days:
            fractions = (fractions > 0).astype(float)
        rows = {name: ca.DM(fractions[i]).T for i, name in enumerate(model.control_names)}
        values = np.asarray(self.usage(rows, schedule.grid_step), dtype=float).ravel()
        used = float(values.max()) if values.size else 0.0
        passed = bool(np.isfinite(used) and used <= self.limit + CHECK_TOLERANCE)
        return ConstraintReport(self.name, used, self.limit, self.unit, passed)
