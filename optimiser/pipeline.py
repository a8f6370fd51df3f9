"""One path for the data: problem -> relaxed bound -> integer schedule -> independent check."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import casadi as ca
import numpy as np

from constraints.rules import DoseLevels
from models.schedule import Schedule
from optimiser.check import CheckReport, check_schedule
from optimiser.collocation import CollocationSolver, Solution
from optimiser.problem import ControlProblem, ProblemError
from optimiser.rounding import (
    LinearRules,
    combinatorial_rounding,
    contiguous_blocks,
    shift_search,
)

if TYPE_CHECKING:
    from optimiser.search import SearchSettings, StudyOutcome

Progress = Callable[[str], None]
_SOLVERS: dict[tuple, CollocationSolver] = {}


@dataclass
class Result:
    schedule: Schedule
    objective: float  # integer schedule, in the NLP discretisation
    lower_bound: float  # relaxed optimum on the same grid
    relaxed: Solution
    check: CheckReport
    evaluations: int
    timings: dict[str, float]
    provenance: dict = field(default_factory=dict)
    study: StudyOutcome | None = None

    @property
    def gap(self) -> float:
        """Objective minus lower bound (>= 0 up to solver tolerance)."""
        return self.objective - self.lower_bound

    @property
    def budget_used(self) -> dict[str, float]:
        """Each constraint's usage on the reported schedule, as the checker measured it."""
        return {r.name: r.used for r in self.check.constraints}

    @property
    def relative_gap(self) -> float:
        return self.gap / max(abs(self.lower_bound), 1e-12)

    @property
    def ok(self) -> bool:
        return (self.check.passed and math.isfinite(self.gap)
                and (self.study is None or self.study.complete))


def solver_for(problem: ControlProblem) -> CollocationSolver:
    """The compiled solver for this problem's structure (built once per process)."""
    key = problem.structure_key()
    if key not in _SOLVERS:
        _SOLVERS[key] = CollocationSolver(problem)
    return _SOLVERS[key]


def linear_rules(problem: ControlProblem, drug: str) -> LinearRules:
    """The rows of every linear constraint on ``drug`` alone, from the same usage expressions
    the NLP and the checker use: amounts (budgets) on the dose fractions, dosing-day rules on
    the on/off indicator."""
    w = ca.MX.sym("w", 1, problem.n_intervals)
    parts: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    for constraint in problem.linear_constraints:
        if constraint.drugs != (drug,):
            continue
        usage = constraint.usage({drug: w}, problem.grid_step)
        function = ca.Function("rule", [w], [usage, ca.jacobian(usage, w)])
        offset, matrix = function(np.zeros(problem.n_intervals))
        matrices, bounds = parts[constraint.counts_dosing_days]
        matrices.append(np.asarray(ca.densify(matrix)))
        bounds.append(constraint.limit - np.asarray(offset).ravel())

    def stacked(matrices: list, bounds: list) -> tuple[np.ndarray, np.ndarray]:
        if not matrices:
            return np.zeros((0, problem.n_intervals)), np.zeros(0)
        return np.vstack(matrices), np.concatenate(bounds)

    return LinearRules(*stacked(*parts[False]), *stacked(*parts[True]))


def rule_excess(problem: ControlProblem, drug: str,
                rules: LinearRules) -> Callable[[np.ndarray], float]:
    """By how much a dose profile of ``drug`` breaks its rules (<= 0: kept): the linear rows,
    and the non-linear rules evaluated as the checker does."""
    others = [c for c in problem.constraints if not c.linear and c.drugs == (drug,)]

    def excess(w: np.ndarray) -> float:
        rows = {True: {drug: ca.DM((w > 0).astype(float)).T}, False: {drug: ca.DM(w).T}}
        return max([rules.excess(w),
                    *(float(ca.mmax(c.usage(rows[c.counts_dosing_days], problem.grid_step)))
                      - c.limit for c in others)])

    return excess


def max_on(problem: ControlProblem, drug: str, rules: LinearRules, level: float) -> int:
    """Most dosing intervals at ``level`` any budget allows: amount rows that charge every
    allowed interval the same (days-on and AUC budgets)."""
    allowed = problem.window_mask(drug)
    caps = [int(allowed.sum())]
    for row, bound in zip(rules.amount, rules.amount_bound, strict=True):
        charge = row[allowed] * level
        if charge.size and charge.min() > 0 and np.allclose(charge, charge[0]):
            caps.append(math.floor(bound / charge[0] + 1e-9))
    return max(0, min(caps))


def with_dose_levels(problem: ControlProblem,
                     dose_levels: tuple[float, ...] | None) -> tuple[ControlProblem, tuple]:
    """The problem with a ``DoseLevels`` rule on each free control (so the checker checks the
    levels the optimiser uses), and those levels; on/off (1.0) unless given or already set."""
    present = [c for c in problem.constraints if isinstance(c, DoseLevels)]
    given = dose_levels if dose_levels is not None else present[0].levels if present else (1.0,)
    levels = tuple(sorted(set(given)))
    for name in problem.free_names:
        control = problem.model.control(name)
        if not levels or not all(0 < level <= control.upper + 1e-12 for level in levels):
            raise ProblemError(f"dose levels of {name!r} must lie in (0, "
                               f"{control.upper * control.reference_dose:g}] "
                               f"{control.dose_unit}; got "
                               f"{[level * control.reference_dose for level in levels]}; give "
                               "levels within that range")
    if dose_levels is None:
        return problem, levels
    rules = [c for c in problem.constraints if not isinstance(c, DoseLevels)]
    rules += [DoseLevels(name, levels) for name in problem.free_names]
    return replace(problem, constraints=rules), levels


def optimise(problem: ControlProblem, progress: Progress | None = None,
             command: str = "", dose_levels: tuple[float, ...] | None = None,
             search: SearchSettings | None = None, seed: int = 0) -> Result:
    """Relaxed optimum (lower bound), then the best schedule found from it with every dose at
    one of ``dose_levels`` (fractions of the reference dose; on/off by default), checked.
    With ``search``, an Optuna study (seeded with that schedule and the rounded relaxed optimum)
    looks further and its best schedule is taken where it is better. ``seed`` (of the study
    and of a robust problem's draws) goes into the provenance."""
    problem, levels = with_dose_levels(problem, dose_levels)
    say = progress or (lambda _message: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    say("building the CasADi collocation solver")
    solver = solver_for(problem)
    timings["build_s"] = solver.build_seconds
    say("solving the relaxed problem (lower bound)")
    relaxed = solver.solve_reliably(problem, "the relaxed solve (lower bound)")
    timings["relaxed_s"] = relaxed.seconds

    say("rounding and searching on/off schedules")
    t0 = time.perf_counter()
    integer = {}
    evaluations = 0
    for drug in problem.free_names:
        allowed = problem.window_mask(drug)
        rules = linear_rules(problem, drug)
        longest = max_on(problem, drug, rules, max(levels))
        excess = rule_excess(problem, drug, rules)

        def feasible(w: np.ndarray, excess: Callable = excess) -> bool:
            return excess(w) <= 1e-9

        others = {name: values for name, values in relaxed.free.items() if name != drug}

        def evaluate(profiles: list[np.ndarray], drug: str = drug,
                     others: dict = others) -> list[float]:
            return solver.objectives_of(problem, [
                np.array([w if name == drug else np.round(others[name])
                          for name in problem.free_names]) for w in profiles])

        seeds = [combinatorial_rounding(relaxed.free[drug], allowed, rules, levels)]
        seeds += [max(levels) * w for w in contiguous_blocks(allowed, longest)]
        # A seed that breaks a rule or a path limit (value +inf) is dropped; no drug at all
        # keeps every rule and, in the built-in model, every toxicity limit.
        kept = [k for k, w in enumerate(seeds) if feasible(w)]
        values = zip(evaluate([seeds[k] for k in kept]), kept, strict=True)
        finite = [(value, k) for value, k in values if np.isfinite(value)]
        start = seeds[min(finite)[1]] if finite else np.zeros(problem.n_intervals)
        best, best_value, count = shift_search(evaluate, start, allowed, feasible, levels)
        integer[drug] = best
        evaluations += count + len(seeds)
    timings["search_s"] = time.perf_counter() - t0

    study = None
    if search is not None:
        from optimiser.search import run_study

        say("running the discrete search (Optuna)")
        study = run_study(problem, search, levels, seeds=(best, seeds[0]), progress=say)
        found = study.best
        if found is not None and found.values[0] < best_value - 1e-9:
            integer[drug] = np.asarray(found.user_attrs["result"]["doses"])
        evaluations += study.run_now
        timings["study_s"] = study.seconds

    free = np.array([integer[name] for name in problem.free_names])
    say("scoring the schedule in the NLP discretisation")
    fixed = solver.solve_reliably(problem, "the scoring solve of the chosen schedule",
                                  initial_free=free, fix_free=free)
    timings["score_s"] = fixed.seconds
    provenance = provenance_record(problem, command, seed)
    schedule = problem.schedule(integer, **provenance)
    say("re-simulating with scipy Radau (independent check)")
    t0 = time.perf_counter()
    check = check_schedule(problem, schedule, fixed.objective)
    timings["check_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - started
    return Result(schedule, fixed.objective, relaxed.lower_bound, relaxed, check, evaluations,
                  timings, provenance, study)


def provenance_record(problem: ControlProblem, command: str = "", seed: int = 0) -> dict:
    versions = {}
    for package in ("persister-opt", "casadi", "numpy", "scipy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    record = {"versions": versions, "python": platform.python_version(), "seed": seed,
              "command": command, "model": problem.model.name,
              "model_hash": problem.model.structure_key,
              "parameter_set": problem.parameters.name,
              "parameter_hash": problem.parameter_digest}
    if problem.scenarios:
        record["scenarios"] = {"mode": problem.scenario_mode,
                               "parameter_sets": [s.name for s in problem.scenarios]}
    return record
