"""The shape of a dosing study: which drugs are fixed and which free, when, on what grid.

Fixed drugs are given at their reference dose on every treatment interval ``[0,
treatment_days)``, or every ``dose_every`` days (osimertinib once daily on a half-day grid);
free drugs may be given on those days, under a days-on budget each unless a problem says
otherwise. The objective is a model output at the horizon, minimised, unless a problem says
otherwise. A regimen is data: ``optimiser.build`` turns it into a ControlProblem.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.errors import InputError
from models.model import Model


class RegimenError(InputError):
    """A regimen does not fit its model; the message says what to change."""


@dataclass(frozen=True)
class Regimen:
    fixed: tuple[str, ...]
    free: tuple[str, ...]
    objective: str
    treatment_days: float = 40.0
    horizon: float = 100.0
    grid_step: float = 1.0
    # NLP step over the drug-free tail (ControlProblem.tail_step), None for the control grid
    tail_step: float | None = None
    budget_days: float = 10.0  # default days-on budget of each free drug
    # Radau steps of each NLP interval, as fractions of it (ControlProblem.substeps)
    substeps: tuple[float, ...] = (1.0,)
    # (fixed drug, days between its doses): a multiple of the grid step; others every interval
    dose_every: tuple[tuple[str, float], ...] = ()

    def validate(self, model: Model) -> None:
        for drug in (*self.fixed, *self.free):
            model.control(drug)
        both = sorted(set(self.fixed) & set(self.free))
        if both:
            raise RegimenError(f"regimen names {both} both fixed and free; give each drug once")
        if not self.free:
            raise RegimenError("a regimen needs at least one free drug to optimise")
        model.output_function(self.objective)
        for drug, period in self.dose_every:
            if drug not in self.fixed:
                raise RegimenError(f"dose_every names {drug!r}, which the regimen does not fix")
            if self.steps_between_doses(drug, self.grid_step) is None:
                raise RegimenError(f"{drug!r} is dosed every {period:g} d, not a whole number "
                                   f"of grid steps of {self.grid_step:g} d")

    def steps_between_doses(self, drug: str, grid_step: float) -> int | None:
        """Grid steps from one dose of a fixed drug to the next (1 unless ``dose_every`` says
        otherwise); None where its period is not a whole number of them."""
        period = dict(self.dose_every).get(drug, grid_step)
        steps = round(period / grid_step)
        return steps if steps >= 1 and abs(period / grid_step - steps) < 1e-9 else None
