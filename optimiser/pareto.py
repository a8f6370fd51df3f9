"""The trade-off between residual tumour and IGF-1R inhibitor exposure (``--pareto``).

A two-objective Optuna study (log residual, reference-dose days) under the problem's budget as the
upper limit on exposure. Each schedule on the front is scored in the NLP discretisation, given
the relaxed lower bound at its own exposure (a warm re-solve with the budget set to it), and
re-simulated by the independent check, as every reported schedule is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from constraints.budget import DaysOnBudget
from optimiser.check import CheckReport, check_schedule
from optimiser.collocation import Solution
from optimiser.pipeline import Progress, linear_rules, max_on, provenance_record, solver_for
from optimiser.problem import ControlProblem
from optimiser.rounding import combinatorial_rounding, contiguous_blocks
from optimiser.search import SearchSettings, StudyOutcome, run_study


@dataclass
class FrontPoint:
    exposure_days: float  # reference-dose days of the free drug
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
                "igf1r_days": " ".join(f"{d:g}" for d in self.days)}


def pareto_front(problem: ControlProblem, settings: SearchSettings,
                 levels: tuple[float, ...] = (1.0,), progress: Progress | None = None,
                 command: str = "") -> tuple[list[FrontPoint], StudyOutcome]:
    """The non-dominated schedules found, by increasing exposure, each checked."""
    say = progress or (lambda _message: None)
    settings = replace(settings, pareto=True)
    (drug,) = problem.free_names
    solver = solver_for(problem)
    say("solving the relaxed problem")
    relaxed = solver.solve_reliably(problem, "the relaxed solve (lower bound)")
    allowed = problem.window_mask(drug)
    rules = linear_rules(problem, drug)
    longest = max_on(problem, drug, rules, max(levels))
    budget = next((c for c in problem.constraints if isinstance(c, DaysOnBudget)), None)
    bounds: dict[float, float] = {}

    def bound_at(exposure: float) -> Solution:
        """The relaxed optimum with the days-on budget set to ``exposure`` (warm re-solve)."""
        if exposure not in bounds:
            bounds[exposure] = solver.solve_reliably(
                problem.with_limits(**{budget.name: exposure}),
                f"the relaxed solve at an exposure of {exposure:g} d", warm_start=relaxed)
        return bounds[exposure]

    say("scoring single pulses of every length")
    seeds = [combinatorial_rounding(relaxed.free[drug], allowed, rules, levels)]
    for length in range(1, longest):  # the best single pulse of every shorter length
        blocks = [max(levels) * block for block in contiguous_blocks(allowed, length)]
        values = solver.objectives_of(problem, [w[None, :] for w in blocks])
        seeds.append(blocks[int(np.argmin(values))])
    outcome = run_study(problem, settings, levels, seeds=tuple(seeds), progress=say)
    provenance = provenance_record(problem, command, settings.seed)
    points = []
    for trial in outcome.front():
        say(f"checking the front: trial {trial.number}")
        doses = np.asarray(trial.user_attrs["result"]["doses"])[None, :]
        fixed = solver.solve_reliably(problem, f"the scoring solve of trial {trial.number}",
                                      initial_free=doses, fix_free=doses)
        bound = None if budget is None else bound_at(float(trial.values[1])).lower_bound
        schedule = problem.schedule({drug: doses[0]}, **provenance)
        points.append(FrontPoint(float(trial.values[1]), fixed.objective, bound,
                                 schedule.dosing_days(drug),
                                 check_schedule(problem, schedule, fixed.objective),
                                 trial.number))
    return points, outcome
