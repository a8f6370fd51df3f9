"""Limits on a model output along the whole trajectory (path constraints), e.g. blood glucose.

Unlike the dose rules these depend on the states. The optimiser imposes ``output <= limit`` at
every collocation point of the CasADi problem and screens integer candidates with the same output
on its simulated states; the checker takes the largest value on the independent re-simulation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from constraints.base import ConstraintReport
from models.model import Model, ModelError
from models.parameters import ParameterError, convert

GLUCOSE_OUTPUT = "glucose"
GLUCOSE_MOLAR_MASS = 180.156  # g/mol, to read limits given in mmol/L
_GLUCOSE = re.compile(r"^\s*(?P<number>\d+(\.\d*)?|\.\d+)\s*(?P<unit>.*?)\s*$")
_GLUCOSE_HELP = "give a concentration such as 180, 180mg/dL or 10mmol/L"


class PathLimitError(ValueError):
    """A path limit is unusable; the message says what to give instead."""


@dataclass(frozen=True)
class OutputLimit:
    """``output(t) <= limit`` for every t in the horizon."""

    output: str
    limit: float
    unit: str
    name: str
    # The checker samples a finer, independent trajectory than the collocation points the
    # optimiser constrains; this relative slack absorbs that difference, nothing more.
    relative_tolerance: float = 1e-4

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise PathLimitError(f"{self.name} must be a positive number of {self.unit}, got "
                                 f"{self.limit!r}")

    def validate(self, model: Model) -> None:
        if self.output not in model.output_names:
            raise ModelError(f"{self.name}: model {model.name!r} has no output {self.output!r}; "
                             f"it has {model.output_names}")

    def require_kept_at_start(self, model: Model, parameter_vector: np.ndarray) -> None:
        """Refuse a limit the initial state already breaks. No dose changes the initial state,
        so no schedule could keep such a limit, and the solver would only find that out after
        a long search for a feasible point."""
        self.validate(model)
        x0 = model.x0_internal(parameter_vector)
        value = float(model.output_function(self.output)(x0, parameter_vector))
        if self.excess(np.array([value])) > 0:
            raise PathLimitError(f"{self.name} of {self.limit:g} {self.unit} is already exceeded "
                                 f"at the start ({self.output} is {value:.4g} {self.unit} before "
                                 f"any dose), so no schedule can keep it; raise the limit above "
                                 f"{value:.4g} {self.unit}")

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


def max_glucose(limit_mg_dl: float) -> OutputLimit:
    """The glucose limit of ``--max-glucose`` (mg/dL), on the model's ``glucose`` output."""
    return OutputLimit(GLUCOSE_OUTPUT, limit_mg_dl, "mg/dL", "max glucose")


def parse_glucose(text: str) -> float:
    """A glucose limit in mg/dL from ``180``, ``180mg/dL`` or ``10mmol/L`` (molar units are
    converted with glucose's molar mass)."""
    match = _GLUCOSE.match(str(text))
    if not match:
        raise PathLimitError(f"glucose limit {text!r} is not understood; {_GLUCOSE_HELP}")
    value, unit = float(match["number"]), match["unit"] or "mg/dL"
    try:
        if "mol" in unit:
            return convert(value, unit, "mmol/L", "glucose limit") * GLUCOSE_MOLAR_MASS / 10
        return convert(value, unit, "mg/dL", "glucose limit")
    except ParameterError as error:
        raise PathLimitError(str(error)) from None
