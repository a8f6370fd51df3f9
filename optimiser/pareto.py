"""The trade-off between residual tumour and IGF-1R inhibitor exposure (``--pareto``).

A two-objective Optuna study (log residual, reference-dose days) under the problem's budget as the
upper limit on exposure. Each schedule on the front is scored in the NLP discretisation, given
the relaxed lower bound at its own exposure (a warm re-solve with the budget set to it), and
re-simulated by the independent check, as every reported schedule is; each point carries its
P(cure) from the check (with ``--objective cure`` the front is exposure against P(cure)
itself).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from constraints.budget import DaysOnBudget
from optimiser.cache import solver_for
from optimiser.check import CheckReport, check_schedule
from optimiser.integer import combinatorial_rounding, contiguous_blocks, linear_rules, max_on
from optimiser.nlp import Solution
from optimiser.pipeline import Progress, provenance_record
from optimiser.problem import ControlProblem
from optimiser.search import SearchSettings, StudyOutcome, run_study


@dataclass
class FrontPoint:
    exposure_days: float | list[float]  # reference-dose days of the free drug (each drug)
    objective: float  # NLP discretisation
    lower_bound: float | None  # relaxed optimum at this exposure (days-on budgets)
    days: list[float]
    check: CheckReport
    trial: int

    @property
    def gap(self) -> float | None:
        return None if self.lower_bound is None else self.objective - self.lower_bound

    def row(self) -> dict:
        return {"exposure_days": self.exposure_days, "log10_residual_cells": self.objective,
                "lower_bound": self.lower_bound, "gap": self.gap,
                "resimulated": self.check.resimulated_objective,
                "check_passed": self.check.passed, "trial": self.trial,
                "cure_probability": self.check.summary.get("cure_probability"),
                "igf1r_days": " ".join(f"{d:g}" for d in self.days)}


def pareto_front(problem: ControlProblem, settings: SearchSettings,
                 levels: tuple[float, ...] = (1.0,), progress: Progress | None = None,
                 command: str = "") -> tuple[list[FrontPoint], StudyOutcome]:
    """The non-dominated schedules found, by increasing exposure, each checked. With several
    free drugs the study minimises each one's exposure (the point's ``exposure_days`` is then
    a list, one per drug, and its ``days`` those of the first)."""
    say = progress or (lambda _message: None)
    settings = replace(settings, pareto=True)
    names = problem.free_names
    solver = solver_for(problem)
    say("solving the relaxed problem")
    relaxed = solver.solve_reliably(problem, "the relaxed solve (lower bound)")
    allowed = np.array([problem.window_mask(name) for name in names])
    rules = linear_rules(problem)
    budget = next((c for c in problem.constraints if isinstance(c, DaysOnBudget)), None)
    if len(names) > 1:
        budget = None  # the bound at one exposure of several drugs is not one re-solve
    bounds: dict[float, float] = {}

    def bound_at(exposure: float) -> Solution:
        """The relaxed optimum with the days-on budget set to ``exposure`` (warm re-solve)."""
        if exposure not in bounds:
            bounds[exposure] = solver.solve_reliably(
                problem.with_limits(**{budget.name: exposure}),
                f"the relaxed solve at an exposure of {exposure:g} d", warm_start=relaxed)
        return bounds[exposure]

    say("scoring single pulses of every length")
    relaxed_free = np.array([relaxed.free[name] for name in names])
    seeds = [combinatorial_rounding(relaxed_free, allowed, rules, levels)]
    for k, name in enumerate(names):
        for length in range(1, max_on(problem, name, rules, max(levels))):
            # the best single pulse of every shorter length
            blocks = []
            for block in contiguous_blocks(allowed[k], length):
                W = np.zeros_like(relaxed_free)
                W[k] = max(levels) * block
                blocks.append(W)
            values = solver.objectives_of(problem, blocks)
            seeds.append(blocks[int(np.argmin(values))])
    outcome = run_study(problem, settings, levels, seeds=tuple(seeds), progress=say)
    provenance = provenance_record(problem, command, settings.seed)
    points = []
    for trial in outcome.front():
        say(f"checking the front: trial {trial.number}")
        doses = outcome.doses(trial, problem)
        fixed = solver.solve_reliably(problem, f"the scoring solve of trial {trial.number}",
                                      initial_free=doses, fix_free=doses)
        exposures = [float(v) for v in trial.values[1:]]
        bound = None if budget is None else bound_at(exposures[0]).lower_bound
        schedule = problem.schedule(dict(zip(names, doses, strict=True)), **provenance)
        points.append(FrontPoint(exposures[0] if len(names) == 1 else exposures,
                                 fixed.objective, bound, schedule.dosing_days(names[0]),
                                 check_schedule(problem, schedule, fixed.objective),
                                 trial.number))
    return points, outcome
