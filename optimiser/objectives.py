"""What a schedule is judged by: objectives as objects.

An objective gives one expression on a transcription ``View`` (symbolic in the NLP, numeric for
a screened candidate: one definition, so they cannot disagree), its value on the independent
check's trajectory (another integrator), its sense, and any allowance it adds to the bound. A new
objective is one class here. Robust problems take a per-scenario objective over their scenarios
with ``ScenarioMean`` or ``WorstCase``; ``ExposureRegulariser`` is the small term that keeps
optima unique where more drug no longer helps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import casadi as ca
import numpy as np

from models.branching import require_populations
from models.errors import InputError
from models.schedule import Schedule

if TYPE_CHECKING:  # pragma: no cover
    from optimiser.problem import ControlProblem
    from optimiser.simulate import Trajectory
    from optimiser.transcription import View

SENSES = ("min", "max")


class ObjectiveError(InputError):
    """An objective does not fit the problem; the message says what to give instead."""


@runtime_checkable
class Objective(Protocol):
    """``sense`` is "min" or "max"; ``name`` and ``unit(model)`` label reports."""

    sense: str

    @property
    def name(self) -> str: ...

    def unit(self, model) -> str:
        """The unit of the value in ``model`` ("" where the output's unit is not declared)."""

    @property
    def structure(self) -> tuple: ...

    def validate(self, problem: ControlProblem) -> None: ...

    def expression(self, view: View):
        """The objective of one scenario on the transcription (CasADi, symbolic or numeric)."""

    def checked(self, trajectory: Trajectory, schedule: Schedule) -> float:
        """The objective of one scenario on the independent check's trajectory."""


@dataclass(frozen=True)
class Terminal:
    """A model output at the horizon (the Mayer term)."""

    output: str
    sense: str = "min"

    @property
    def name(self) -> str:
        return self.output

    def unit(self, model) -> str:
        return ""

    @property
    def structure(self) -> tuple:
        return ("Terminal", self.output, self.sense)

    def validate(self, problem: ControlProblem) -> None:
        _sense(self.sense)
        problem.model.output_function(self.output)

    def expression(self, view: View):
        return view.output_at_end(self.output)

    def checked(self, trajectory: Trajectory, schedule: Schedule) -> float:
        return trajectory.final_output(self.output)


@dataclass(frozen=True)
class Integral:
    """The integral of a model output over the horizon or a ``window`` (t0, t1) in days (the
    Lagrange term): Radau quadrature at the collocation points in the NLP, Gauss-Legendre on
    the dense output of the independent integrator in the check."""

    output: str
    window: tuple[float, float] | None = None
    sense: str = "min"

    @property
    def name(self) -> str:
        return f"integral of {self.output}"

    def unit(self, model) -> str:
        return "day"  # times the output's own unit

    @property
    def structure(self) -> tuple:
        return ("Integral", self.output, self.window, self.sense)

    def validate(self, problem: ControlProblem) -> None:
        _sense(self.sense)
        problem.model.output_function(self.output)
        if self.window is not None:
            start, stop = self.window
            if not (0 <= start < stop <= problem.horizon + 1e-9):
                raise ObjectiveError(f"integral window {start:g}-{stop:g} d must satisfy 0 <= "
                                     f"start < stop <= horizon ({problem.horizon:g} d)")

    def expression(self, view: View):
        weights = view.grid.window_weights(self.window)
        return ca.mtimes(view.output_at_points(self.output), ca.DM(weights))

    def checked(self, trajectory: Trajectory, schedule: Schedule) -> float:
        start, stop = self.window or (0.0, float(trajectory.times[-1]))
        return trajectory.integral(self.output, start, stop)


@dataclass(frozen=True)
class Exposure:
    """The total amount of a drug over the horizon, in its dose unit times days (the integral
    of the daily dose): to minimise, e.g. under a limit on the tumour at the horizon."""

    drug: str
    sense: str = "min"

    @property
    def name(self) -> str:
        return f"exposure of {self.drug}"

    def unit(self, model) -> str:
        """Daily doses times days: the dose unit (or days of the reference dose for a
        dimensionless control)."""
        unit = model.control(self.drug).dose_unit
        return "day" if unit == "1" else unit

    @property
    def structure(self) -> tuple:
        return ("Exposure", self.drug, self.sense)

    def validate(self, problem: ControlProblem) -> None:
        _sense(self.sense)
        problem.model.control(self.drug)

    def expression(self, view: View):
        control = view.problem.model.control(self.drug)
        return (ca.sum1(ca.vec(view.control(self.drug))) * view.problem.grid_step
                * control.reference_dose)

    def checked(self, trajectory: Trajectory, schedule: Schedule) -> float:
        model = trajectory.model
        fractions = schedule.fractions(model)[model.control_names.index(self.drug)]
        return float(fractions.sum() * schedule.grid_step * model.control(self.drug)
                     .reference_dose)


@dataclass(frozen=True)
class Cure:
    """Maximise P(cure), the chance that no cell of any population is left at the horizon
    under the branching process (``models.branching``): numerically, minimise log10 of the
    expected number of surviving lineages, whose extinction states are part of the same
    collocation problem. P(cure) = exp(-10**value)."""

    sense: str = "min"
    lineages = True

    @property
    def name(self) -> str:
        return "log10_expected_lineages"

    def unit(self, model) -> str:
        return ""

    @property
    def structure(self) -> tuple:
        return ("Cure",)

    def validate(self, problem: ControlProblem) -> None:
        if self.sense != "min":
            raise ObjectiveError("Cure is minimised (log10 of the expected surviving lineages); "
                                 "give Cure() without a sense")
        require_populations(problem.model, "the Cure objective")

    def expression(self, view: View):
        return view.log_lineages() / np.log(10)

    def checked(self, trajectory: Trajectory, schedule: Schedule) -> float:
        return trajectory.final_output(self.name)


def _sense(sense: str) -> None:
    if sense not in SENSES:
        raise ObjectiveError(f"objective sense {sense!r} is not one of {list(SENSES)}; give "
                             "min or max")


@dataclass(frozen=True)
class ScenarioMean:
    """The mean of an objective over the scenarios of a robust problem (or its one value)."""

    objective: Objective
    mode: str = "mean"

    def combine(self, values: Sequence[float]) -> float:
        return float(np.mean(np.asarray(values, dtype=float)))


@dataclass(frozen=True)
class WorstCase:
    """The worst value of an objective over the scenarios, in epigraph form in the NLP."""

    objective: Objective
    mode: str = "worst"

    def combine(self, values: Sequence[float]) -> float:
        values = np.asarray(values, dtype=float)
        return float(values.max() if self.objective.sense == "min" else values.min())


SCENARIO_WRAPPERS = {"mean": ScenarioMean, "worst": WorstCase}


@dataclass(frozen=True)
class ExposureRegulariser:
    """``weight`` objective units per day of full dose of every free control, added to the NLP
    objective (minimised): without it IPOPT wanders for hundreds of iterations on flat optima
    (a budget beyond what the tumour needs). It moves the optimum by at most ``weight`` times
    the largest possible exposure, the allowance taken off the reported bound."""

    weight: float = 1e-6

    def expression(self, free_controls, grid_step: float):
        return self.weight * ca.sum2(ca.sum1(free_controls)) * grid_step

    def allowance(self, problem: ControlProblem) -> float:
        uppers = [problem.model.control(c).upper for c in problem.free_names]
        return (self.weight * len(uppers) * problem.controlled_intervals * problem.grid_step
                * max(uppers))


def as_objective(objective: str | Objective) -> Objective:
    """An objective object from itself or a plain output name (``Terminal(name)``)."""
    if isinstance(objective, str):
        return Terminal(objective)
    if not isinstance(objective, Objective):
        raise ObjectiveError(f"objective {objective!r} is neither an output name nor an "
                             "objective object (Terminal, Integral, Exposure, ...)")
    return objective


def sign(objective: Objective) -> float:
    """+1 for objectives to minimise, -1 for those to maximise: the NLP minimises sign * J."""
    return 1.0 if objective.sense == "min" else -1.0
