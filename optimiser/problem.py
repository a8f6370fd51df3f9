"""The optimal-control problem: a model, its parameters, a time grid, which controls are fixed and
which are free (and when), the objective and the constraints."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from constraints.base import Constraint
from constraints.path import OutputLimit, TerminalLimit
from constraints.rules import DoseLevels
from models.branching import LINEAGE_OUTPUTS
from models.ensemble import Ensemble
from models.errors import InputError
from models.model import Model
from models.parameters import ParameterSet
from models.schedule import Schedule, grid_size_problem, grid_steps
from optimiser.objectives import (
    SCENARIO_WRAPPERS,
    Objective,
    ScenarioMean,
    WorstCase,
    as_objective,
)

SCENARIO_MODES = ("mean", "worst")
# Robust scenarios: each copies the states and the dynamics of the whole problem into the NLP.
MAX_SCENARIOS = 64


class ProblemError(InputError):
    """The problem is inconsistent (e.g. horizon shorter than treatment); the message says how."""


@dataclass(frozen=True)
class ControlProblem:
    """Optimise ``objective`` over the free controls: an objective object (``Terminal``,
    ``Integral``, ``Exposure``, ... in ``optimiser.objectives``) or a model output's name, which
    means ``Terminal(name)``, minimised at the horizon.

    ``free`` maps a control to the window ``(start, stop)`` in days in which it may be non-zero;
    ``fixed`` maps controls to dose fractions per grid interval. Controls in neither are zero.
    ``path_limits`` bound model outputs: ``OutputLimit`` (glucose, say) at every time of the
    horizon or a window, ``TerminalLimit`` at the horizon; limits given among ``constraints``
    are moved here. Constraints are bound to the model (``Constraint.bind``).

    A robust problem gives ``scenarios``, parameter sets the objective is taken over: their mean
    (``scenario_mode="mean"``, or an objective wrapped in ``ScenarioMean``) or their worst value
    (``"worst"``, ``WorstCase``); every scenario keeps the limits. ``parameters`` stays the
    nominal set the reports show; ``ensemble`` is where ``robust`` draws scenarios from.

    ``tail_step`` (days) lets the NLP take longer steps where no control can be on: from
    ``tail_step`` days after the last interval in which a drug can be given to the horizon,
    in equal steps of at most ``tail_step``. None keeps the control grid throughout. On the
    default problem, 5-day Radau steps from day 45 change the objective by 2e-9 decades.

    ``substeps`` splits every NLP interval into Radau steps ending at these fractions of it
    (increasing, the last 1): one step by default; steps graded towards the interval's start
    follow the absorption peak after a dose event (``Control.bolus_into``).
    """

    model: Model
    parameters: ParameterSet
    objective: str | Objective
    free: Mapping[str, tuple[float, float]]
    fixed: Mapping[str, np.ndarray] = field(default_factory=dict)
    constraints: Sequence[Constraint] = ()
    horizon: float = 100.0
    grid_step: float = 1.0
    path_limits: Sequence[OutputLimit | TerminalLimit] = ()
    scenarios: Sequence[ParameterSet] = ()
    scenario_mode: str = "mean"
    tail_step: float | None = None
    ensemble: Ensemble | None = None
    substeps: tuple[float, ...] = (1.0,)
    # Outcome figures of a trajectory that reports add (a preset's outcome definitions).
    summary: Callable[[Any], dict] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        objective = self.objective
        if isinstance(objective, ScenarioMean | WorstCase):
            object.__setattr__(self, "scenario_mode", objective.mode)
            objective = objective.objective
        object.__setattr__(self, "objective", as_objective(objective))
        limits = [c for c in self.constraints if isinstance(c, OutputLimit | TerminalLimit)]
        object.__setattr__(self, "path_limits", (*self.path_limits, *limits))
        object.__setattr__(self, "constraints", tuple(
            c.bind(self.model) for c in self.constraints
            if not isinstance(c, OutputLimit | TerminalLimit)))
        if not (math.isfinite(self.horizon) and self.horizon > 0):
            raise ProblemError(f"horizon must be a positive number of days, got {self.horizon}")
        if not (math.isfinite(self.grid_step) and 0 < self.grid_step <= self.horizon):
            raise ProblemError(f"grid step must be positive and at most the horizon, got "
                               f"{self.grid_step}")
        if self.tail_step is not None and not (math.isfinite(self.tail_step)
                                               and self.tail_step > 0):
            raise ProblemError(f"tail step must be a positive number of days, got "
                               f"{self.tail_step}; give e.g. 5 or None for the control grid")
        edges = np.asarray(self.substeps, dtype=float)
        if not (edges.size and np.all(np.diff(edges) > 0) and edges[0] > 0
                and abs(edges[-1] - 1) < 1e-12):
            raise ProblemError(f"substeps must be increasing fractions of an interval in (0, 1] "
                               f"ending at 1, got {tuple(self.substeps)}; give e.g. (0.25, 1)")
        if grid_steps(self.horizon, self.grid_step) is None:
            raise ProblemError(f"horizon {self.horizon:g} d is not a whole number of grid steps "
                               f"of {self.grid_step:g} d; change --horizon or --grid")
        if too_large := grid_size_problem(self.horizon, self.grid_step):
            raise ProblemError(f"{too_large}; change --horizon or --grid")
        if not self.free:
            raise ProblemError("no free control: name at least one control to optimise")
        self.objective.validate(self)
        for name, (start, stop) in self.free.items():
            self.model.control(name)
            if name in self.fixed:
                raise ProblemError(f"control {name!r} cannot be both fixed and free")
            if not (0 <= start < stop <= self.horizon + 1e-12):
                raise ProblemError(f"window of {name!r} must satisfy 0 <= start < stop <= horizon "
                                   f"({self.horizon:g} d), got {start:g}-{stop:g} d; shorten the "
                                   "window or lengthen the horizon")
        for name, values in self.fixed.items():
            self.model.control(name)
            if np.shape(values) != (self.n_intervals,):
                raise ProblemError(f"fixed control {name!r} needs {self.n_intervals} values, got "
                                   f"{np.shape(values)}")
        for constraint in (*self.constraints, *self.path_limits):
            constraint.validate(self.model)
        for limit in self.path_limits:
            window = getattr(limit, "window", None)
            if window is not None and not (
                    window[1] <= self.horizon + 1e-9
                    and all(grid_steps(edge, self.grid_step) is not None for edge in window)):
                raise ProblemError(f"{limit.name}: window {window[0]:g}-{window[1]:g} d must "
                                   f"lie within the horizon ({self.horizon:g} d) with both "
                                   f"ends on the grid (every {self.grid_step:g} d); move its "
                                   "ends onto grid days")
        if self.scenario_mode not in SCENARIO_MODES:
            raise ProblemError(f"scenario mode {self.scenario_mode!r} is not one of "
                               f"{list(SCENARIO_MODES)}; give mean or worst")
        # Also fails early on a bad parameter set. No dose changes the initial state, so a
        # limit broken there is hopeless: refuse it before any solve.
        for limit in self.path_limits:
            for vector in self.scenario_vectors:
                limit.require_kept_at_start(self.model, vector)

    @cached_property
    def parameter_vector(self) -> np.ndarray:
        """Parameter values in the model's units (pint conversion done once per problem)."""
        return self.model.parameter_vector(self.parameters)

    @cached_property
    def scenario_vectors(self) -> np.ndarray:
        """Parameter vectors the objective is taken over, shape (n_scenarios, n_parameters):
        the scenarios of a robust problem, otherwise the parameter set alone."""
        sets = self.scenarios or (self.parameters,)
        self.parameter_vector  # noqa: B018 - the nominal set must be valid too
        return np.array([self.model.parameter_vector(s) for s in sets])

    @property
    def n_scenarios(self) -> int:
        return len(self.scenario_vectors)

    @property
    def goal(self) -> ScenarioMean | WorstCase:
        """The objective over the scenarios (the mean of one scenario is its value)."""
        return SCENARIO_WRAPPERS[self.scenario_mode](self.objective)

    def combine(self, values: Sequence[float]) -> float:
        """The objective over scenarios from one value per scenario."""
        return self.goal.combine(values)

    @property
    def parameter_digest(self) -> str:
        """Hash of every parameter value the objective depends on (nominal and scenarios)."""
        digests = [self.parameters.digest, *(s.digest for s in self.scenarios)]
        if not self.scenarios:
            return digests[0]
        text = self.scenario_mode + "".join(digests)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def lineages(self) -> bool:
        """Whether the transcription carries the extinction states (``models.branching``): for
        the ``Cure`` objective or a terminal limit on a lineage output."""
        return bool(getattr(self.objective, "lineages", False)) or any(
            limit.output in LINEAGE_OUTPUTS for limit in self.path_limits)

    @property
    def n_intervals(self) -> int:
        return round(self.horizon / self.grid_step)

    @property
    def linear_constraints(self) -> list[Constraint]:
        """The constraints the rounding MILP carries (dosing-day rules on the on/off days)."""
        return [c for c in self.constraints if c.linear]

    @property
    def relaxed_constraints(self) -> list[Constraint]:
        """The linear constraints the NLP carries on the dose fractions: all of them when every
        dose is on/off (the fractions then relax the dosing days), otherwise only those that
        still relax the rule (``monotone``); the rounding and the checker apply the others."""
        on_off = all(set(c.levels) <= {self.model.control(c.drug).upper}
                     for c in self.constraints if isinstance(c, DoseLevels))
        return [c for c in self.linear_constraints
                if on_off or c.monotone or not c.counts_dosing_days]

    def relaxed_rows(self, constraint: Constraint, rows: Mapping) -> Mapping:
        """The rows the NLP gives a constraint: dose fractions, divided by their upper bound
        for a rule on dosing days (``u / upper`` is at most the day's on/off indicator, so
        the rule on it relaxes the rule on days also for doses above the reference)."""
        if not constraint.counts_dosing_days:
            return rows
        uppers = {c.name: c.upper for c in self.model.controls}
        return {name: row if uppers[name] == 1 else row / uppers[name]
                for name, row in rows.items()}

    @property
    def free_names(self) -> list[str]:
        return [c for c in self.model.control_names if c in self.free]

    @property
    def fixed_names(self) -> list[str]:
        return [c for c in self.model.control_names if c not in self.free]

    @property
    def interval_starts(self) -> np.ndarray:
        return np.arange(self.n_intervals) * self.grid_step

    def window_mask(self, name: str) -> np.ndarray:
        """True on the grid intervals where ``name`` may be given."""
        start, stop = self.free[name]
        starts = self.interval_starts
        return (starts >= start - 1e-9) & (starts + self.grid_step <= stop + 1e-9)

    @cached_property
    def drug_free_from(self) -> int:
        """The first control interval from which no control can be on (free windows and fixed
        doses); the dynamics after it are the same for every schedule."""
        on = self.fixed_profile().any(axis=0)
        for name in self.free:
            on |= self.window_mask(name)
        return int(np.flatnonzero(on)[-1]) + 1 if on.any() else 0

    @cached_property
    def controlled_intervals(self) -> int:
        """How many leading control intervals the NLP keeps as they are: up to ``tail_step``
        days past ``drug_free_from``, or all of them where longer steps would not save any."""
        n = self.n_intervals
        if self.tail_step is None:
            return n
        head = min(n, self.drug_free_from + math.ceil(self.tail_step / self.grid_step - 1e-9))
        return head if self._tail_steps(head) < n - head else n

    def _tail_steps(self, head: int) -> int:
        return math.ceil((self.horizon - head * self.grid_step) / self.tail_step - 1e-9)

    @cached_property
    def nlp_steps(self) -> np.ndarray:
        """Interval lengths (days) of the NLP grid: the controlled intervals, then the
        drug-free rest in equal steps of at most ``tail_step``; the NLP has no controls there."""
        head = self.controlled_intervals
        steps = np.full(head, self.grid_step)
        if head == self.n_intervals:
            return steps
        tail = self._tail_steps(head)
        return np.append(steps, np.full(tail, (self.horizon - head * self.grid_step) / tail))

    def fixed_profile(self) -> np.ndarray:
        """Dose fractions of the non-free controls, shape (n_fixed, N)."""
        return np.array([np.asarray(self.fixed.get(name, np.zeros(self.n_intervals)), float)
                         for name in self.fixed_names]).reshape(-1, self.n_intervals)

    def schedule(self, free_values: Mapping[str, np.ndarray], **provenance) -> Schedule:
        """The schedule with the fixed controls and the given free-control fractions."""
        fractions = dict(zip(self.fixed_names, self.fixed_profile(), strict=True))
        fractions.update(free_values)
        fractions = {k: v for k, v in fractions.items() if np.any(np.asarray(v) > 0)}
        return Schedule.from_fractions(self.model, fractions, self.grid_step, self.horizon,
                                       provenance)

    def structure_key(self) -> tuple:
        """What the compiled solver depends on; values (parameters, budgets) are not part of it."""
        return (self.model.structure_key, self.objective.structure, tuple(self.free_names),
                self.n_intervals, self.grid_step, self.drug_free_from, self.tail_step,
                tuple(self.substeps),
                tuple(c.structure for c in self.relaxed_constraints),
                tuple(limit.structure for limit in self.path_limits),
                self.n_scenarios, self.scenario_mode if self.scenarios else "")

    def robust(self, samples: int, mode: str = "mean", seed: int = 0,
               ensemble: Ensemble | None = None) -> ControlProblem:
        """A copy whose objective is taken over ``samples`` parameter sets drawn around
        ``parameters`` from ``ensemble`` (default: the problem's own)."""
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise ProblemError(f"a robust problem needs at least 2 parameter samples, got "
                               f"{samples!r}; give --robust 2 or more")
        if samples > MAX_SCENARIOS:
            raise ProblemError(f"--robust {samples}: at most {MAX_SCENARIOS} parameter samples "
                               "(each one copies the whole problem into the NLP); give fewer")
        ensemble = ensemble or self.ensemble
        if ensemble is None:
            raise ProblemError(f"model {self.model.name!r} comes with no parameter ensemble to "
                               "draw robust scenarios from; give ensemble=Ensemble.from_toml("
                               "FILE) (spreads with reasons)")
        draws = ensemble.sample(self.parameters, samples, seed)
        return replace(self, scenarios=tuple(draws), scenario_mode=mode)

    def with_limits(self, **limits: float) -> ControlProblem:
        """A copy with constraint and path limits replaced by name (same structure)."""
        def updated(items):
            return [replace(c, limit=limits[c.name]) if c.name in limits and hasattr(
                c, "limit") and not isinstance(c, TerminalLimit) else c for c in items]
        return replace(self, constraints=updated(self.constraints),
                       path_limits=updated(self.path_limits))
