"""One path for the data: problem -> relaxed bound -> integer schedule -> independent check."""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import numpy as np

from constraints.budget import BUDGET_KINDS
from constraints.path import TerminalLimit
from constraints.rules import DoseLevels
from models.errors import UnreachableError
from models.schedule import Schedule
from optimiser.cache import solver_for
from optimiser.check import CheckReport, check_schedule, judged
from optimiser.integer import (
    combinatorial_rounding,
    contiguous_blocks,
    linear_rules,
    max_on,
    ranked_value,
    rule_excess,
    shift_search,
)
from optimiser.nlp import Solution
from optimiser.objectives import Cure, sign
from optimiser.problem import ControlProblem, ProblemError
from optimiser.simulate import integrator_name
from optimiser.transcription import halved

if TYPE_CHECKING:
    from optimiser.search import SearchSettings, StudyOutcome

Progress = Callable[[str], None]
# Factors by which the relaxed optimum is scaled before rounding when a terminal limit binds.
SCALED_SEEDS = (1.1, 1.25, 1.5, 2.0)
SNAP = 1e-7  # of a control's range: a continuous dose this close to a bound is on it
BOUND_TOLERANCE = 1e-6  # a schedule this far past the relaxed optimum is solver round-off
# Halvings of every Radau step after the check disagrees: on the flagged cases of the property
# test one removed the disagreement (3.8e-3 to 4.9e-4 decades at worst) and two left 3e-5.
MAX_REFINEMENTS = 3


@dataclass
class Result:
    schedule: Schedule
    objective: float  # integer schedule, in the NLP discretisation
    lower_bound: float  # relaxed optimum on the same grid: the bound (upper where maximised)
    relaxed: Solution
    check: CheckReport
    evaluations: int
    timings: dict[str, float]
    provenance: dict = field(default_factory=dict)
    study: StudyOutcome | None = None
    sense: str = "min"
    refinements: int = 0  # times every Radau step was halved because the check disagreed

    @property
    def bound(self) -> float:
        """The relaxed optimum: no schedule on this grid does better."""
        return self.lower_bound

    @property
    def gap(self) -> float:
        """How far the objective lies from the bound, on the worse side (>= 0 up to solver
        tolerance)."""
        difference = self.objective - self.lower_bound
        return difference if self.sense == "min" else -difference

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


def integer_search(problem: ControlProblem, solver, relaxed: Solution,
                   levels: tuple[float, ...], extra_seeds: Sequence[np.ndarray] = ()
                   ) -> tuple[np.ndarray, float, int, list]:
    """The best integer profile (n_free x N) the rounding and the local search find from the
    relaxed optimum and ``extra_seeds`` (a coarser attempt's schedule), its screened cost, the
    number of evaluations and the seeds."""
    names = problem.free_names
    allowed = np.array([problem.window_mask(name) for name in names])
    rules = linear_rules(problem)
    excess = rule_excess(problem, rules)

    def feasible(W: np.ndarray) -> bool:
        return excess(W) <= 1e-9

    factor = sign(problem.objective)

    def evaluate(profiles: list[np.ndarray]) -> list[tuple[float, float]]:
        """(limit violation, signed objective): outside the limits the search first moves
        towards them."""
        return [(excess, factor * objective)
                for objective, excess in solver.screen_many(problem, profiles)]

    relaxed_free = np.array([relaxed.free[name] for name in names])
    seeds = [combinatorial_rounding(relaxed_free, allowed, rules, levels)]
    if any(isinstance(limit, TerminalLimit) for limit in problem.path_limits):
        # The relaxed optimum sits on the terminal limit, and rounding it down breaks the
        # limit about half the time: round more drug too.
        _, upper = solver.free_bounds(problem)
        seeds += [combinatorial_rounding(np.minimum(upper, factor * relaxed_free), allowed,
                                         rules, levels) for factor in SCALED_SEEDS]
    for k, name in enumerate(names):
        longest = max_on(problem, name, rules, max(levels))
        for block in contiguous_blocks(allowed[k], longest):
            W = seeds[0].copy()
            W[k] = max(levels) * block
            seeds.append(W)
    seeds += list(extra_seeds)
    # A seed that breaks a rule or a limit (value +inf) is dropped; no drug at all keeps every
    # rule and, in the built-in model, every toxicity limit.
    kept = [k for k, W in enumerate(seeds) if feasible(W)]
    ranked = [(*ranked_value(value), k)
              for value, k in zip(evaluate([seeds[k] for k in kept]), kept, strict=True)]
    start = seeds[min(ranked)[2]] if ranked else np.zeros_like(relaxed_free)
    best, best_value, count = shift_search(
        evaluate, start, allowed, feasible, levels,
        slope=lambda W: solver.objective_gradient(problem, W))
    if not np.isfinite(best_value):
        # Still above a limit: where every single dose breaks it, no move from the start
        # lowers the violation, so search again from no drug (found by the property test).
        again, again_value, more = shift_search(evaluate, np.zeros_like(start), allowed,
                                                feasible, levels)
        count += more
        if np.isfinite(again_value):
            best, best_value = again, again_value
    return best, best_value, count + len(seeds), seeds


def continuous_profile(problem: ControlProblem, relaxed: Solution) -> np.ndarray:
    """The relaxed optimum as a schedule: dose fractions within a hair of a bound (IPOPT's
    interior point stops 1e-9 short of it) are put on the bound, so a day with no drug is no
    dosing day for the rules that count them."""
    profile = np.array([relaxed.free[name] for name in problem.free_names])
    for k, name in enumerate(problem.free_names):
        control = problem.model.control(name)
        span = control.upper - control.lower
        row = profile[k]
        row[np.abs(row - control.lower) < SNAP * span] = control.lower
        row[np.abs(row - control.upper) < SNAP * span] = control.upper
    return profile


def _require_reachable_cure(problem: ControlProblem, say: Callable[[str], None]) -> None:
    """A lower limit on P(cure) above what any dosing reaches (the relaxed maximum with the
    rules but no budget) is refused with that maximum, before the problem itself is solved
    (IPOPT takes long to prove infeasibility, and may not)."""
    targets = [limit.lower for limit in problem.path_limits
               if isinstance(limit, TerminalLimit) and limit.output == "cure_probability"
               and limit.lower is not None]
    if not targets:
        return
    say("solving for the most reachable P(cure)")
    unbudgeted = replace(problem, objective=Cure(), path_limits=(), constraints=[
        c for c in problem.constraints if not isinstance(c, BUDGET_KINDS)])
    best = solver_for(unbudgeted).solve_reliably(unbudgeted, "the most reachable P(cure)")
    reachable = math.exp(-10 ** best.lower_bound)
    if max(targets) > reachable:
        raise UnreachableError(
            f"P(cure) >= {max(targets):g} cannot be reached: with any dose on every day the "
            f"rules allow and no budget, the relaxed maximum is {reachable:.6f}; ask for at "
            "most that")


def optimise(problem: ControlProblem, progress: Progress | None = None,
             command: str = "", dose_levels: tuple[float, ...] | None = None,
             search: SearchSettings | None = None, seed: int = 0,
             integer: bool = True) -> Result:
    """Relaxed optimum (the bound), then the best schedule found from it with every dose at
    one of ``dose_levels`` (fractions of the reference dose; on/off by default), checked.
    With ``search``, an Optuna study (seeded with that schedule and the rounded relaxed optimum)
    looks further and its best schedule is taken where it is better. With ``integer=False``
    the relaxed optimum itself is the schedule (doses anywhere in their bounds). ``seed`` (of
    the study and of a robust problem's draws) goes into the provenance.

    Where the check disagrees with the objective alone (every rule kept), the NLP's
    discretisation was too coarse for these rates: every Radau step is halved
    (``transcription.halved``, same control grid) and the problem solved again from the
    previous optimum, up to MAX_REFINEMENTS times; ``Result.refinements`` counts them. A
    disagreement that outlasts them stays flagged."""
    if not integer and (dose_levels is not None or search is not None):
        raise ProblemError("a continuous-dose schedule takes neither dose levels nor a "
                           "discrete search; leave out --dose-levels and --trials, or "
                           "--continuous")
    if not integer:
        counted = sorted({c.name for c in problem.constraints if c.counts_dosing_days})
        if counted:
            raise ProblemError(f"rules on dosing days ({', '.join(counted)}) count days, and "
                               "continuous doses give some drug on almost every day; drop the "
                               "rules or leave out --continuous (integer=False)")
    problem, levels = with_dose_levels(problem, dose_levels) if integer else (problem, ())
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    attempt = _Attempt(levels, search, integer, say, provenance_record(problem, command, seed))
    result, free = attempt.run(problem)
    refinements = 0
    while refinements < MAX_REFINEMENTS and result.check.objective_alone_disagrees:
        refinements += 1
        problem = replace(problem, substeps=halved(problem.substeps))
        say(f"the check differs by {result.check.difference:.1e}: halving every Radau step "
            f"({len(problem.substeps)} per interval), refinement {refinements} of at most "
            f"{MAX_REFINEMENTS}")
        result, free = attempt.run(problem, previous=(result, free))
    attempt.timings["total_s"] = time.perf_counter() - started
    return replace(result, refinements=refinements)


@dataclass
class _Attempt:
    """One solve of ``optimise`` on one discretisation: relaxed optimum, schedule, scoring and
    check. The timings and evaluations add up over the attempts of one run."""

    levels: tuple[float, ...]
    search: SearchSettings | None
    integer: bool
    say: Progress
    provenance: dict
    timings: dict[str, float] = field(default_factory=dict)
    evaluations: int = 0

    def _took(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    def run(self, problem: ControlProblem, previous: tuple[Result, np.ndarray] | None = None
            ) -> tuple[Result, np.ndarray]:
        """The result on ``problem``'s discretisation and its free profile. After a coarser
        ``previous`` attempt the relaxed solve starts from its relaxed optimum, and its schedule
        joins the rounding's seeds (the study is not run again: its schedule is that one
        where it was better)."""
        say = self.say
        say("building the CasADi collocation solver")
        solver = solver_for(problem)
        self._took("build_s", solver.build_seconds)
        if previous is None:
            _require_reachable_cure(problem, say)
        say("solving the relaxed problem (bound)")
        start = (None if previous is None else
                 np.array([previous[0].relaxed.free[name] for name in problem.free_names]))
        relaxed = solver.solve_reliably(problem, "the relaxed solve (lower bound)",
                                        initial_free=start)
        self._took("relaxed_s", relaxed.seconds)
        study = None if previous is None else previous[0].study
        if self.integer:
            say("rounding and searching integer schedules")
            t0 = time.perf_counter()
            free, best_value, evaluations, seeds = integer_search(
                problem, solver, relaxed, self.levels,
                extra_seeds=() if previous is None else (previous[1],))
            self._took("search_s", time.perf_counter() - t0)
            self.evaluations += evaluations
            if self.search is not None and previous is None:
                from optimiser.search import run_study

                say("running the discrete search (Optuna)")
                study = run_study(problem, self.search, self.levels, seeds=(free, seeds[0]),
                                  progress=say)
                found = study.best
                if found is not None and found.values[0] < best_value - 1e-9:
                    free = study.doses(found, problem)
                self.evaluations += study.run_now
                self._took("study_s", study.seconds)
        else:
            free = continuous_profile(problem, relaxed)

        say("scoring the schedule in the NLP discretisation")
        fixed = solver.solve_reliably(problem, "the scoring solve of the chosen schedule",
                                      initial_free=free, fix_free=free)
        self._took("score_s", fixed.seconds)
        if sign(problem.objective) * (fixed.objective - relaxed.lower_bound) < -BOUND_TOLERANCE:
            # The schedule beats the relaxed optimum: IPOPT found a local one (a non-convex
            # problem). Started from the schedule, it finds one at least as good.
            say("re-solving the relaxed problem from the schedule (the first was a local "
                "optimum)")
            again = solver.solve_reliably(problem, "the relaxed re-solve from the schedule",
                                          initial_free=free)
            if sign(problem.objective) * (again.lower_bound - relaxed.lower_bound) < 0:
                relaxed = again
            self._took("relaxed_s", again.seconds)
        schedule = problem.schedule(dict(zip(problem.free_names, free, strict=True)),
                                    **self.provenance)
        t0 = time.perf_counter()
        if previous is not None and np.array_equal(free, previous[1]):
            check = judged(previous[0].check, fixed.objective)  # the same schedule
        else:
            say(f"re-simulating with {integrator_name(problem.model)} (independent check)")
            check = check_schedule(problem, schedule, fixed.objective)
        self._took("check_s", time.perf_counter() - t0)
        return Result(schedule, fixed.objective, relaxed.lower_bound, relaxed, check,
                      self.evaluations, self.timings, self.provenance, study,
                      sense=problem.objective.sense), free


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
