"""Limits on a model output: along the trajectory or a window of it (path limits, e.g. blood
glucose) and at the horizon (terminal limits, e.g. the residual tumour).

Unlike the dose rules these depend on the states. The optimiser imposes ``output <= limit`` at
every collocation point of the CasADi problem and screens integer candidates with the same output
on its simulated states; the checker takes the largest value on the independent re-simulation.
A terminal limit may also bound a lineage output (``cure_probability``, ...), which comes from
the extinction equations of a model with populations (``models.branching``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from constraints.base import ConstraintReport
from models.branching import LINEAGE_OUTPUTS, require_populations
from models.errors import InputError
from models.model import Model, ModelError
from models.parameters import ParameterError, convert

GLUCOSE_OUTPUT = "glucose"
GLUCOSE_UNIT = "mg/dL"  # of the models' glucose output and of --max-glucose
GLUCOSE_MOLAR_MASS = 180.156  # g/mol, to read limits given in mmol/L
_GLUCOSE = re.compile(r"^\s*(?P<number>\d+(\.\d*)?|\.\d+)\s*(?P<unit>.*?)\s*$")
_GLUCOSE_HELP = "give a concentration such as 180, 180mg/dL or 10mmol/L"


class PathLimitError(InputError):
    """A path limit is unusable; the message says what to give instead."""


@dataclass(frozen=True)
class OutputLimit:
    """``output(t) <= limit`` for every t in the horizon, or in ``window`` (t0, t1) days."""

    output: str
    limit: float
    unit: str = ""
    name: str = ""
    # The checker samples a finer, independent trajectory than the collocation points the
    # optimiser constrains; this relative slack absorbs that difference, nothing more.
    relative_tolerance: float = 1e-4
    window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"max {self.output}")
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise PathLimitError(f"{self.name} must be a positive number of {self.unit}, got "
                                 f"{self.limit!r}")
        if self.window is not None:
            start, stop = self.window
            if not (math.isfinite(start) and math.isfinite(stop) and 0 <= start < stop):
                raise PathLimitError(f"{self.name}: window {start!r}-{stop!r} d must satisfy "
                                     "0 <= start < stop; give e.g. window=(0, 40)")

    @property
    def structure(self) -> tuple:
        """The limit is a bound; which points it covers shapes the NLP's rows."""
        return (type(self).__name__, self.output, self.window)

    @property
    def covers_start(self) -> bool:
        return self.window is None or self.window[0] <= 0

    def validate(self, model: Model) -> None:
        _require_output(self.name, self.output, model)

    def bounds(self) -> tuple[float, float]:
        """Lower and upper bound of every value the NLP constrains."""
        return -math.inf, self.limit

    def require_kept_at_start(self, model: Model, parameter_vector: np.ndarray) -> None:
        """Refuse a limit the initial state already breaks when its window includes the start.
        No dose changes the initial state, so no schedule could keep such a limit, and the
        solver would only find that out after a long search for a feasible point."""
        self.validate(model)
        if not self.covers_start:
            return
        x0 = model.x0_internal(parameter_vector)
        value = float(model.output_function(self.output)(x0, parameter_vector))
        if self.excess(np.array([value])) > 0:
            raise PathLimitError(f"{self.name} of {self.limit:g} {self.unit} is already exceeded "
                                 f"at the start ({self.output} is {value:.4g} {self.unit} before "
                                 f"any dose), so no schedule can keep it; raise the limit above "
                                 f"{value:.4g} {self.unit}")

    def sampled(self, times: np.ndarray) -> np.ndarray:
        """Which sample times the limit covers."""
        if self.window is None:
            return np.ones(np.shape(times), dtype=bool)
        return (times >= self.window[0] - 1e-9) & (times <= self.window[1] + 1e-9)

    def values_on(self, trajectory) -> np.ndarray:
        """The output at the samples of an independent trajectory inside the window."""
        return trajectory.output(self.output)[self.sampled(trajectory.times)]

    def excess(self, values: np.ndarray) -> float:
        """How far the largest sampled value lies beyond the limit and its slack, relative to
        the limit (<= 0: kept; +inf for a non-finite value)."""
        used = float(np.max(values)) if np.size(values) else -math.inf
        if math.isnan(used):
            return math.inf
        return used / self.limit - 1 - self.relative_tolerance

    def report(self, values: np.ndarray) -> ConstraintReport:
        """The verdict on sampled output values (the largest one counts)."""
        used = float(np.max(values)) if np.size(values) else -math.inf
        passed = bool(math.isfinite(used) and self.excess(values) <= 0)
        return ConstraintReport(self.name, used, self.limit, self.unit, passed)


@dataclass(frozen=True)
class TerminalLimit:
    """``lower <= output(horizon) <= upper`` (either may be None). The NLP holds it at the
    horizon, the integer screening on each candidate's simulated end state, the check on the
    independent trajectory's last value, within ``tolerance`` (output units) for the
    difference between the two integrators."""

    output: str
    upper: float | None = None
    lower: float | None = None
    unit: str = ""
    name: str = ""
    tolerance: float = 1e-4

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", f"final {self.output}")
        if self.upper is None and self.lower is None:
            raise PathLimitError(f"{self.name}: give an upper or a lower limit (or both)")
        for what, value in (("upper", self.upper), ("lower", self.lower)):
            if value is not None and not math.isfinite(value):
                raise PathLimitError(f"{self.name}: {what} limit must be a finite number, got "
                                     f"{value!r}")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise PathLimitError(f"{self.name}: lower limit {self.lower:g} is above the upper "
                                 f"limit {self.upper:g}; swap them")

    @property
    def structure(self) -> tuple:
        return (type(self).__name__, self.output)

    @property
    def limit(self) -> float:
        """The bound reports show (the upper one where both are given)."""
        return self.upper if self.upper is not None else self.lower

    def validate(self, model: Model) -> None:
        if self.output in LINEAGE_OUTPUTS:
            require_populations(model, f"{self.name}")
        else:
            _require_output(self.name, self.output, model)

    def require_kept_at_start(self, model: Model, parameter_vector: np.ndarray) -> None:
        """A terminal limit says nothing about the start."""
        self.validate(model)

    def bounds(self) -> tuple[float, float]:
        return (-math.inf if self.lower is None else self.lower,
                math.inf if self.upper is None else self.upper)

    def values_on(self, trajectory) -> np.ndarray:
        """The final value on an independent trajectory (a lineage output from its backward
        extinction equations)."""
        return np.array([trajectory.final_output(self.output)])

    def excess(self, values: np.ndarray) -> float:
        """By how much (output units, beyond the tolerance) the worst of the final values (one
        per scenario) breaks a bound (<= 0: kept; +inf for a non-finite value)."""
        values = np.asarray(values, dtype=float).ravel()
        if not values.size:
            return -math.inf
        if not np.all(np.isfinite(values)):
            return math.inf
        lower, upper = self.bounds()
        return float(max(np.max(values - upper), np.max(lower - values))) - self.tolerance

    def report(self, values: np.ndarray) -> ConstraintReport:
        """The verdict on the final values (one per scenario): the worst one counts."""
        values = np.asarray(values, dtype=float).ravel()
        lower, upper = self.bounds()
        worst = float(values[np.argmax(np.maximum(values - upper, lower - values))])
        passed = bool(self.excess(values) <= 0)
        return ConstraintReport(self.name, worst, self.limit, self.unit, passed)


def _require_output(name: str, output: str, model: Model) -> None:
    if output not in model.output_names:
        lineage = f" and, at the horizon, {sorted(LINEAGE_OUTPUTS)}" if (
            model.population_names) else ""
        raise ModelError(f"{name}: model {model.name!r} has no output {output!r}; "
                         f"it has {model.output_names}{lineage}")


def max_glucose(limit_mg_dl: float) -> OutputLimit:
    """The glucose limit of ``--max-glucose`` (mg/dL), on the model's ``glucose`` output."""
    return OutputLimit(GLUCOSE_OUTPUT, limit_mg_dl, GLUCOSE_UNIT, "max glucose")


def parse_glucose(text: str) -> float:
    """A glucose limit in mg/dL from ``180``, ``180mg/dL`` or ``10mmol/L`` (molar units are
    converted with glucose's molar mass)."""
    match = _GLUCOSE.match(str(text))
    if not match:
        raise PathLimitError(f"glucose limit {text!r} is not understood; {_GLUCOSE_HELP}")
    value, unit = float(match["number"]), match["unit"] or GLUCOSE_UNIT
    try:
        if "mol" in unit:
            return convert(value, unit, "mmol/L", "glucose limit") * GLUCOSE_MOLAR_MASS / 10
        return convert(value, unit, GLUCOSE_UNIT, "glucose limit")
    except ParameterError as error:
        raise PathLimitError(str(error)) from None
