"""Property-based tests (hypothesis): every schedule the optimiser returns keeps every rule under
the independent check, and never beats the relaxed lower bound.

Generated problems (``cases()``): every parameter of the built-in model either at its default or
anywhere in the range ``[lower, upper]`` that ``models/persister/data/default.toml`` documents
(log-uniform where both ends are positive, uniform from 0 otherwise); short problems so each case
is cheap (grid 1 d or 0.5 d, horizon from a few fixed values up to 24 d, treatment 2-12 d on the
grid and at most 15 d shorter than the horizon); a budget from 0 to the whole treatment, as days
on (``DaysOnBudget``) or as the same exposure in uM*h (``AucBudget``); and every dosing rule:
``max_run``, ``min_holiday``, ``max_pulses``, discrete ``dose_levels`` and a glucose limit
(``max_glucose``, from basal glucose up to 30 % above it, so no dose at all always keeps it).
Settings the library refuses with one of its user errors (``optimiser.cli.USER_ERRORS``) are
rejected; any other exception fails the test.

Properties of ``optimise(problem, dose_levels=...)`` on every generated problem:

* every constraint report of the independent check (scipy Radau re-simulation) passed, and the
  rules also hold when counted here without the rule code (days used, longest run, shortest
  holiday, pulses, dose levels);
* the IGF-1R inhibitor is given only on treatment days and osimertinib exactly on them;
* the result is either ``ok`` or flagged with a reason in ``check.problems``, never ``ok`` with a
  failed check; an objective that alone disagrees with the re-simulation is flagged only after
  every refinement of the discretisation (``pipeline.MAX_REFINEMENTS``); the statistics count
  how many were flagged (event ``flagged: ...``) and the refinements each case took (event
  ``refinements: n``). Every generated problem can be kept (no drug at all keeps every rule and
  limit), so a ``SolverError`` fails the test;
* the relaxed optimum keeps the problem's own linear rules and budget (so the bound is this
  problem's);
* ``objective >= lower_bound - BOUND_TOLERANCE``.

CI runs the ``ci`` profile registered in ``tests/conftest.py`` (150 derandomised cases, about
60 s). The stress run, at least 10 000 generated problems (measured 2026-12-04: 0.36 s mean
per case, about 60 min on one core):

    HYPOTHESIS_PROFILE=stress python -m pytest -q -n 0 tests/test_properties.py \\
        --hypothesis-show-statistics

or as two shards of 5000 with different seeds, one per core (about 30 min when both are free):

    export HYPOTHESIS_PROFILE=stress HYPOTHESIS_MAX_EXAMPLES=5000 OMP_NUM_THREADS=1
    python -m pytest -q -n 0 tests/test_properties.py --hypothesis-show-statistics \\
        --hypothesis-seed=1 > shard1.txt &
    python -m pytest -q -n 0 tests/test_properties.py --hypothesis-show-statistics \\
        --hypothesis-seed=2 > shard2.txt; wait

``HYPOTHESIS_MAX_EXAMPLES=N`` overrides the number of cases of either profile. The statistics
print, per test and phase, the passing, failing and invalid examples (invalid: rejected by a
user error, or discarded by hypothesis while generating) and the share of each event; ran =
passing + failing of the generate phase, flagged = the ``flagged: ...`` events, refined = the
``refinements: n`` events with n >= 1. Measured 2026-12-07 on a shard of 1000 cases (seed 21):
before the refinement 30 were flagged for the objective alone (one Radau step per day too
coarse for the fastest rates of the parameter ranges); with it 0 are flagged and 30 are
refined, once each. Hypothesis stops generating soon after a failure and shrinks it;
the failure then names the case, a
``persister_problem`` call that rebuilds it and, if it reused a cached solver, the case that
compiled that solver (a failure that needs the cache may not replay on its own).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field

import casadi as ca
import numpy as np
import pytest
from hypothesis import event, example, given, note, reject
from hypothesis import strategies as st

from constraints.budget import AucBudget, DaysOnBudget
from constraints.rules import DoseLevels, MaxPulses, MaxRun, MinHoliday
from models.persister import (
    IGF1R_INHIBITOR,
    OSIMERTINIB,
    default_parameters,
    persister_model,
    persister_problem,
)
from models.schedule import Schedule
from optimiser.cache import SOLVERS
from optimiser.check import OBJECTIVE_TOLERANCE
from optimiser.cli import USER_ERRORS
from optimiser.pipeline import MAX_REFINEMENTS, optimise, solver_for, with_dose_levels

from .counting import dosing_runs

# IPOPT stops at a scaled NLP error of 1e-9 (``IPOPT_OPTIONS["tol"]``), or 1e-7 at its
# "acceptable" level; the objective (log10 cells, O(1-10)) of both the relaxed and the scoring
# solve is then accurate to about 1e-7 decades. 1e-6 decades leaves a factor of ten on top of the
# acceptable level and is still far below any gap that matters (the check's agreement tolerance
# is 1e-3). Measured: the smallest gap over 776 cases was 1.5e-6, the exposure-penalty margin
# (1e-6 decades per unused day of the horizon) and no closer.
BOUND_TOLERANCE = 1e-6
# Constraint violation IPOPT leaves at a solution, in days (of the limit, if above one day):
# measured up to 4e-8 days (an AUC budget of 0); 1e-6 is far below one grid step of any budget.
RELAXED_TOLERANCE = 1e-6
# Compiled solvers cached by pipeline.solver_for (one per problem structure, 0.1-1 s to build,
# a few MB each): the oldest are dropped beyond this many so a 10 000-case run stays bounded.
MAX_CACHED_SOLVERS = 8

DEFAULTS = default_parameters()
RANGED = tuple(name for name, value in DEFAULTS.values.items()
               if value.lower is not None and value.upper is not None)
HORIZONS = (8.0, 4.0, 12.0, 16.0, 20.0, 24.0)  # few values: few compiled structures
LEVELS = (1.0, 0.5, 0.25, 0.1)


def _within_range(name: str, position: float) -> float:
    """The value at ``position`` in [0, 1] of a parameter's documented range."""
    low, high = DEFAULTS.values[name].lower, DEFAULTS.values[name].upper
    if low > 0:
        return float(math.exp(math.log(low) + position * (math.log(high) - math.log(low))))
    return float(low + position * (high - low))


@dataclass(frozen=True)
class Case:
    """One generated problem: the exact arguments of ``persister_problem`` and ``optimise``."""

    treatment: float = 10.0
    horizon: float = 20.0
    grid: float = 1.0
    budget_days: float = 5.0  # days on; an AUC budget is this many reference-dose days
    auc: bool = False
    max_run: float | None = None
    min_holiday: float | None = None
    max_pulses: int | None = None
    dose_levels: tuple[float, ...] | None = None
    glucose_rise: float | None = None  # max glucose = G_b * (1 + rise)
    parameters: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    def parameter_set(self):
        return DEFAULTS.with_values(**dict(self.parameters)) if self.parameters else DEFAULTS

    def arguments(self) -> dict:
        parameters = self.parameter_set()
        arguments = {"budget_days": self.budget_days, "treatment_days": self.treatment,
                     "horizon": self.horizon, "grid_step": self.grid,
                     "max_run": self.max_run, "min_holiday": self.min_holiday,
                     "max_pulses": self.max_pulses}
        if self.auc:
            arguments["auc_budget"] = self.budget_days * parameters.values["AUC_igf_day"].value
        if self.glucose_rise is not None:
            arguments["max_glucose"] = parameters.values["G_b"].value * (1 + self.glucose_rise)
        return arguments

    def problem(self):
        return persister_problem(parameters=self.parameter_set(), **self.arguments())

    def reproduction(self) -> str:
        """Python that rebuilds and solves this case."""
        arguments = ", ".join(f"{k}={v!r}" for k, v in self.arguments().items() if v is not None)
        values = f".with_values(**{dict(self.parameters)!r})" if self.parameters else ""
        return (f"problem = persister_problem({arguments}, parameters=default_parameters()"
                f"{values})\nresult = optimise(problem, dose_levels={self.dose_levels!r})")


@st.composite
def parameter_sets(draw) -> tuple[tuple[str, float], ...]:
    """Each ranged parameter at its default (shrinks there) or anywhere in its range."""
    changed = []
    for name in RANGED:
        position = draw(st.one_of(st.none(), st.floats(0.0, 1.0)), label=name)
        if position is not None:
            changed.append((name, _within_range(name, position)))
    return tuple(changed)


@st.composite
def cases(draw) -> Case:
    grid = draw(st.sampled_from((1.0, 1.0, 0.5)))
    horizon = draw(st.sampled_from(HORIZONS))
    steps = lambda days: round(days / grid)  # noqa: E731
    treatment = grid * draw(st.integers(steps(max(2.0, horizon - 15.0)), steps(min(12.0, horizon))))
    budget = draw(st.one_of(
        st.integers(0, steps(treatment)).map(lambda k: k * grid),  # whole grid steps, 0 .. all
        st.floats(0.0, treatment, allow_subnormal=False)))
    rule_steps = st.integers(1, 6).map(lambda k: k * grid)
    levels = st.lists(st.one_of(st.sampled_from(LEVELS), st.floats(0.05, 1.0)),
                      min_size=1, max_size=3).map(lambda values: tuple(sorted(set(values))))
    return Case(
        treatment=treatment, horizon=horizon, grid=grid, budget_days=budget,
        auc=draw(st.integers(0, 3)) == 3,
        max_run=draw(st.one_of(st.none(), rule_steps)),
        min_holiday=draw(st.one_of(st.none(), rule_steps)),
        max_pulses=draw(st.one_of(st.none(), st.integers(1, 4))),
        dose_levels=draw(st.one_of(st.none(), levels)),
        glucose_rise=draw(st.floats(0.0, 0.3)) if draw(st.integers(0, 4)) == 4 else None,
        parameters=draw(parameter_sets()),
    )


def _holidays(on: np.ndarray) -> list[int]:
    """Lengths of the gaps between consecutive runs, in intervals."""
    return [b[0] - (a[0] + a[1]) for a, b in itertools.pairwise(dosing_runs(on))]


_BUILT_FOR: dict[tuple, str] = {}  # structure key -> the case whose solve compiled it


def _bounded_solver_cache() -> None:
    SOLVERS.evict(MAX_CACHED_SOLVERS)
    for key in set(_BUILT_FOR) - set(SOLVERS):
        del _BUILT_FOR[key]


def _solver_origin(problem, case: Case) -> str:
    """A failure may depend on the cached solver a case reuses (a replay may then pass): which
    case compiled it, to add to the failure."""
    key = with_dose_levels(problem, case.dose_levels)[0].structure_key()
    if key not in SOLVERS:
        _BUILT_FOR[key] = case.reproduction()
        return "compiles its own solver"
    return f"reuses the solver compiled, in this process, for:\n{_BUILT_FOR.get(key, '?')}"


@given(case=cases())
@example(case=Case(budget_days=0.0))
@example(case=Case(budget_days=10.0))  # the whole treatment
@example(case=Case(budget_days=10.0, auc=True, max_run=3.0, min_holiday=2.0, max_pulses=2))
@example(case=Case(budget_days=4.5, grid=0.5, dose_levels=(0.25, 1.0)))
@example(case=Case(budget_days=6.0, glucose_rise=0.0))  # at basal glucose: no dose fits
@example(case=Case(budget_days=6.0, glucose_rise=0.175, max_pulses=3))
def test_optimised_schedules_keep_every_rule_and_the_bound(case: Case):
    note(case.reproduction())
    _bounded_solver_cache()
    started = time.perf_counter()
    try:
        problem = case.problem()
        origin = _solver_origin(problem, case)
    except USER_ERRORS as error:
        event(f"rejected: {type(error).__name__}")
        reject()
    try:
        try:
            result = optimise(problem, dose_levels=case.dose_levels)
        except USER_ERRORS as error:
            event(f"rejected: {type(error).__name__}")
            reject()
        _check_result(case, problem, result, time.perf_counter() - started)
    except Exception as error:  # a replay may pass where the failure needed that solver
        error.add_note(f"this case {origin}")
        raise


def _check_result(case: Case, problem, result, seconds: float) -> None:
    event("seconds per case", f"{seconds:.1f}" if seconds < 2 else ">= 2")
    check = result.check
    note(f"objective {result.objective!r}, bound {result.lower_bound!r}, "
         f"problems {check.problems}, reports {[r.describe() for r in check.constraints]}")

    # Every rule and limit holds on the independent check...
    expected = len(problem.constraints) + len(problem.path_limits) + (case.dose_levels is not None)
    assert len(check.constraints) == expected  # optimise adds the dose-level rule it uses
    failed = [r.describe() for r in check.constraints if not r.passed]
    assert not failed, f"constraint violated: {failed}"

    # ... and counted here, without the rule code.
    fractions = result.schedule.fractions(problem.model)
    names = problem.model.control_names
    igf, osi = fractions[names.index(IGF1R_INHIBITOR)], fractions[names.index(OSIMERTINIB)]
    on = igf > 0
    starts = problem.interval_starts
    treated = starts + case.grid <= case.treatment + 1e-9
    assert not np.any(on & ~treated), "IGF-1R inhibitor outside the treatment days"
    np.testing.assert_array_equal(osi, treated.astype(float))
    levels = case.dose_levels or (1.0,)
    distance = np.min(np.abs(igf[on][:, None] - np.asarray(levels)[None, :]), axis=1,
                      initial=np.inf) if on.any() else np.zeros(0)
    assert np.all(distance <= 1e-9), f"doses {igf[on]} not at levels {levels}"
    used_days = float(igf.sum() * case.grid)
    assert used_days <= case.budget_days * (1 + 1e-9) + 1e-6, (used_days, case.budget_days)
    runs = dosing_runs(on)
    if case.max_run is not None:
        assert max((length for _, length in runs), default=0) * case.grid <= case.max_run + 1e-9
    if case.min_holiday is not None:
        assert min(_holidays(on), default=math.inf) * case.grid >= case.min_holiday - 1e-9
    if case.max_pulses is not None:
        assert len(runs) <= case.max_pulses

    # Either ok, or flagged with a reason: never ok with a failed check.
    if result.ok:
        assert check.passed and not check.problems
        assert check.difference <= OBJECTIVE_TOLERANCE
        event("outcome: ok")
    else:
        assert check.problems, "result not ok but no reason given"
        assert not check.objective_alone_disagrees or result.refinements == MAX_REFINEMENTS, (
            f"flagged after {result.refinements} of {MAX_REFINEMENTS} refinements")
        for problem_text in check.problems:
            reason = ("objective differs from the re-simulation beyond its tolerance"
                      if problem_text.startswith("re-simulated objective")
                      else problem_text.split(":")[0][:60])
            event(f"flagged: {reason}")
    event("objective agreement", "passed" if check.difference <= check.tolerance else "failed")
    event(f"refinements: {result.refinements}")
    event("IGF-1R inhibitor days", "none" if not on.any() else "some")

    # The bound is this problem's: the relaxed optimum keeps the rules the NLP carries on the
    # dose fractions, and its budget counted here.
    assert result.relaxed.success  # optimise raises SolverError rather than use a failed solve
    relaxed = result.relaxed.free[IGF1R_INHIBITOR]
    rows = {name: ca.DM(row).T for name, row in zip(names, fractions, strict=True)}
    rows[IGF1R_INHIBITOR] = ca.DM(relaxed).T
    carried = with_dose_levels(problem, case.dose_levels)[0]
    for constraint in carried.relaxed_constraints:
        used = float(ca.mmax(constraint.usage(rows, case.grid)))
        per_day = getattr(constraint, "auc_per_day", 1.0)  # an AUC budget counts in uM*h
        slack = RELAXED_TOLERANCE * max(1.0, constraint.limit / per_day) * per_day
        assert used <= constraint.limit + slack, (
            f"relaxed optimum breaks {constraint.name}: {used!r} > {constraint.limit!r}")
    relaxed_days = float(relaxed.sum() * case.grid)
    assert relaxed_days <= case.budget_days + RELAXED_TOLERANCE * max(1.0, case.budget_days), (
        f"relaxed optimum uses {relaxed_days!r} of {case.budget_days!r} days")

    # The schedule never beats the relaxed bound (both in the NLP discretisation).
    assert result.objective >= result.lower_bound - BOUND_TOLERANCE, (
        f"objective {result.objective!r} below the bound {result.lower_bound!r}")


def test_auc_budget_bound_is_not_taken_from_another_auc_per_day():
    """Found by the property test: ``AucBudget.usage`` bakes ``auc_per_day`` into the compiled
    NLP, but its structure key left it out, so a solver cached for one ``AUC_igf_day`` was
    reused for another and the relaxed problem carried the wrong budget."""
    SOLVERS.clear()
    results = []
    for auc_per_day in (10.0, 30.0):
        parameters = DEFAULTS.with_values(AUC_igf_day=auc_per_day)
        problem = persister_problem(treatment_days=10.0, horizon=20.0,
                                    auc_budget=3 * auc_per_day, parameters=parameters)
        results.append(optimise(problem))
    for result in results:  # three reference-dose days in both problems
        assert result.ok, result.check.problems
        assert result.relaxed.free[IGF1R_INHIBITOR].sum() <= 3 + 1e-6
    assert results[1].lower_bound == pytest.approx(results[0].lower_bound, abs=1e-6)


def test_a_schedule_the_checker_accepts_can_be_scored():
    """Found by the property test: with dose levels below the reference dose, the NLP applied
    the minimum-holiday rows to the dose fractions, which a single pulse of 25, 12.5, 25 mg/kg
    breaks (1 - 0.5 + 1 > 1) although it keeps the rule on dosing days; the scoring solve of
    such a schedule was infeasible, and the relaxation excluded schedules the rule allows."""
    problem, _ = with_dose_levels(persister_problem(
        budget_days=5.5, treatment_days=10.0, horizon=12.0, min_holiday=2.0), (0.5, 1.0))
    w = np.array([0, 0, 0, 0.5, 0.5, 1, 0.5, 1, 1, 1, 0, 0])[None, :]  # one pulse, days 3-9
    schedule = problem.schedule({IGF1R_INHIBITOR: w[0]})
    assert all(c.check(schedule, problem.model).passed for c in problem.constraints)
    SOLVERS.clear()
    assert solver_for(problem).solve(problem, initial_free=w, fix_free=w).success


# -- the checker alone, on random schedules (no optimiser, no simulation) --------------------------

MODEL = persister_model()


@st.composite
def schedules(draw) -> tuple[Schedule, np.ndarray, float]:
    grid = draw(st.sampled_from((1.0, 0.5, 0.25)))
    n = draw(st.integers(1, 60))
    fractions = np.array(draw(st.lists(st.sampled_from((0.0, 0.0, 1.0, 0.5, 0.1, 0.3)),
                                       min_size=n, max_size=n)))
    osimertinib = np.array(draw(st.lists(st.sampled_from((0.0, 1.0)), min_size=n, max_size=n)))
    schedule = Schedule.from_fractions(
        MODEL, {IGF1R_INHIBITOR: fractions, OSIMERTINIB: osimertinib}, grid, n * grid)
    return schedule, fractions, grid


@given(drawn=schedules(), k=st.integers(1, 8), pulses=st.integers(1, 6),
       auc_per_day=st.floats(1.0, 100.0),
       levels=st.lists(st.sampled_from((1.0, 0.5, 0.1, 0.3)), min_size=1, max_size=3))
def test_checker_counts_what_the_schedule_gives(drawn, k, pulses, auc_per_day, levels):
    schedule, fractions, grid = drawn
    on = fractions > 0
    runs = dosing_runs(on)
    days = float(fractions.sum() * grid)
    report = DaysOnBudget(IGF1R_INHIBITOR, days).check(schedule, MODEL)
    assert report.used == np.float64(days) or abs(report.used - days) <= 1e-12 * max(1, days)
    assert report.passed
    if days > 0:
        assert not DaysOnBudget(IGF1R_INHIBITOR, days * (1 - 1e-3) - 1e-5).check(
            schedule, MODEL).passed
    auc = AucBudget(IGF1R_INHIBITOR, days * auc_per_day, auc_per_day).check(schedule, MODEL)
    assert math.isclose(auc.used, days * auc_per_day, rel_tol=1e-12, abs_tol=1e-9)
    longest = max((length for _, length in runs), default=0)
    assert MaxRun(IGF1R_INHIBITOR, k * grid, grid).check(schedule, MODEL).passed is (longest <= k)
    shortest = min(_holidays(on), default=math.inf)
    assert MinHoliday(IGF1R_INHIBITOR, k * grid, grid).check(schedule, MODEL).passed is (
        shortest >= k)
    count = MaxPulses(IGF1R_INHIBITOR, pulses).check(schedule, MODEL)
    assert count.used == len(runs) and count.passed is (len(runs) <= pulses)
    at_levels = bool(np.all(np.isin(fractions[on], levels)))
    assert DoseLevels(IGF1R_INHIBITOR, tuple(levels)).check(schedule, MODEL).passed is at_levels
