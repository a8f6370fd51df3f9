"""Dosing rules: one definition serves the NLP (dose fractions) and the checker (dosing days)."""

import itertools

import numpy as np
import pytest

from constraints.rules import DoseLevels, MaxRun, MinHoliday, RuleError
from models.persister import persister_problem
from models.schedule import Schedule
from optimiser.integer import combinatorial_rounding
from optimiser.pipeline import linear_rules, optimise, solver_for
from optimiser.simulate import simulate

from .counting import dosing_runs

DRUG = "igf1r_inhibitor"


def _longest_run(on):
    return max((length for _, length in dosing_runs(on)), default=0)


def _shortest_holiday(on):
    runs = dosing_runs(on)
    gaps = [b[0] - (a[0] + a[1]) for a, b in itertools.pairwise(runs)]
    return min(gaps, default=np.inf)


def _schedule(days: list[int], dose: float = 25.0) -> Schedule:
    doses = np.zeros(100)
    doses[days] = dose
    return Schedule(1.0, 100.0, {DRUG: doses}, {DRUG: "mg/kg"})


@pytest.mark.parametrize(("days", "run_ok", "holiday_ok"), [
    ([*list(range(5)), 8], True, True),
    ([*list(range(6)), 9], False, True),
    ([*list(range(5)), 7], True, False),
    ([0, 2, 4, 6], True, False),
    ([], True, True),
])
def test_checker_applies_rules_to_dosing_days(model, days, run_ok, holiday_ok):
    schedule = _schedule(days)
    assert MaxRun(DRUG, 5.0).check(schedule, model).passed is run_ok
    assert MinHoliday(DRUG, 3.0).check(schedule, model).passed is holiday_ok
    on = np.isin(np.arange(100), days)
    assert run_ok is (_longest_run(on) <= 5)
    assert holiday_ok is (_shortest_holiday(on) >= 3)


def test_half_doses_count_as_dosing_days(model):
    report = MaxRun(DRUG, 5.0).check(_schedule(list(range(8)), dose=12.5), model)
    assert not report.passed and report.used == pytest.approx(6.0)


def test_rules_reject_settings_off_the_grid():
    with pytest.raises(RuleError, match="not a whole number of grid steps"):
        MaxRun(DRUG, 2.5)
    with pytest.raises(RuleError, match="positive number of days"):
        MinHoliday(DRUG, 0.0)


def test_relaxed_problem_obeys_max_run_and_its_bound_rises():
    free = persister_problem(10.0)
    ruled = persister_problem(10.0, max_run=3.0)
    relaxed_free = solver_for(free).solve(free)
    relaxed_ruled = solver_for(ruled).solve(ruled)
    profile = relaxed_ruled.free[DRUG]
    windows = np.convolve(profile, np.ones(4), mode="valid")
    assert windows.max() <= 3.0 + 1e-6  # every 4-day window holds at most 3 days of drug
    assert np.convolve(relaxed_free.free[DRUG], np.ones(4), mode="valid").max() > 3.5
    assert relaxed_ruled.lower_bound > relaxed_free.lower_bound + 1e-3


def test_rounding_respects_rules():
    problem = persister_problem(10.0, max_run=3.0, min_holiday=4.0)
    rules = linear_rules(problem)
    relaxed = np.zeros(100)
    relaxed[:10] = 1.0  # a profile that breaks both rules
    w = combinatorial_rounding(relaxed, problem.window_mask(DRUG), rules)
    assert rules.satisfied(w) and w.sum() <= 10
    assert _longest_run(w) <= 3 and _shortest_holiday(w) >= 4


def test_optimised_schedule_obeys_rules_under_resimulation(model):
    problem = persister_problem(10.0, max_run=3.0, min_holiday=5.0)
    result = optimise(problem)
    assert result.ok, result.check.problems
    on = result.schedule.doses[DRUG] > 0
    assert on.sum() <= 10
    assert _longest_run(on) <= 3 and _shortest_holiday(on) >= 5
    assert np.all(np.flatnonzero(on) < 40)
    trajectory = simulate(model, problem.parameter_vector, result.schedule)
    assert trajectory.final_output("log10_total_cells") == pytest.approx(result.objective, abs=1e-3)
    assert 0 <= result.gap < 0.5


def test_auc_budget_of_ten_reference_days_gives_the_ten_day_schedule():
    """With dose-proportional PK an AUC budget is a scaled days-on budget (AUC_igf_day = 30)."""
    by_days = optimise(persister_problem(10.0))
    by_auc = optimise(persister_problem(auc_budget=300.0))
    assert by_auc.ok and by_auc.check.constraints[0].used <= 300.0 + 1e-6
    assert by_auc.schedule.digest == by_days.schedule.digest
    assert by_auc.lower_bound == pytest.approx(by_days.lower_bound, abs=1e-6)


def test_max_pulses_counts_runs_of_dosing_days(model):
    from constraints.rules import MaxPulses

    rule = MaxPulses(DRUG, 2)
    assert rule.check(_schedule([0, 1, 2, 10, 11]), model).passed
    three = rule.check(_schedule([0, 1, 5, 10, 11]), model)
    assert not three.passed and three.used == pytest.approx(3.0)
    assert rule.check(_schedule([]), model).used == 0.0
    with pytest.raises(RuleError, match="whole number >= 1"):
        MaxPulses(DRUG, 1.5)


def test_one_pulse_finds_the_best_single_block(model):
    """With one pulse allowed the search must return the best of the 31 ten-day blocks,
    found here by re-simulating every block with the independent integrator."""
    problem = persister_problem(10.0, max_pulses=1)
    result = optimise(problem)
    assert result.ok, result.check.problems
    on = result.schedule.doses[DRUG] > 0
    assert len(dosing_runs(on)) == 1 and on.sum() == 10

    def block_value(start):
        w = np.zeros(100)
        w[start:start + 10] = 1.0
        schedule = problem.schedule({DRUG: w})
        return simulate(model, problem.parameter_vector, schedule).final_output(
            "log10_total_cells")

    best_start = min(range(31), key=block_value)
    assert int(np.flatnonzero(on)[0]) == best_start
    assert result.check.resimulated_objective == pytest.approx(block_value(best_start), abs=1e-9)


def test_pulse_rule_with_run_and_holiday_rules(model):
    problem = persister_problem(10.0, max_run=3.0, min_holiday=4.0, max_pulses=3)
    result = optimise(problem)
    assert result.ok, result.check.problems
    on = result.schedule.doses[DRUG] > 0
    assert len(dosing_runs(on)) <= 3 and _longest_run(on) <= 3 and _shortest_holiday(on) >= 4
    assert result.gap >= -1e-7  # the bound ignores the pulse count, so it stays valid


def test_dose_levels_close_most_of_the_gap_at_a_small_budget(model):
    """At 3 days the relaxed optimum spreads low doses; allowing them must beat on/off."""
    problem = persister_problem(3.0)
    on_off = optimise(problem)
    levels = optimise(problem, dose_levels=(0.1, 0.25, 0.5, 1.0))
    assert levels.ok, levels.check.problems
    doses = levels.schedule.doses[DRUG]
    assert set(np.round(doses[doses > 0], 9)) <= {2.5, 6.25, 12.5, 25.0}
    assert levels.check.constraints[0].used <= 3.0 + 1e-9
    assert levels.objective < on_off.objective - 1.0  # measured: 2.94 against 5.03
    assert 0 <= levels.gap < 0.1 * on_off.gap
    resimulated = simulate(model, problem.parameter_vector, levels.schedule)
    assert resimulated.final_output("log10_total_cells") == pytest.approx(levels.objective,
                                                                         abs=1e-3)
    rule = next(c for c in levels.check.constraints if c.name == "dose levels")
    assert rule.passed and rule.used == 0.0


@pytest.mark.parametrize(("doses", "distance"), [
    ([25.0, 12.5, 0.0, 6.25], 0.0),
    ([25.0, 20.0], 5.0 / 25.0),  # 20 mg/kg is 5 mg/kg from the nearest level (25)
    ([3.0], 3.0 / 25.0),  # 3 mg/kg is nearer to no dose than to 6.25
])
def test_checker_catches_doses_off_the_allowed_levels(model, doses, distance):
    rule = DoseLevels(DRUG, (0.25, 0.5, 1.0))
    profile = np.zeros(100)
    profile[:len(doses)] = doses
    schedule = Schedule(1.0, 100.0, {DRUG: profile}, {DRUG: "mg/kg"})
    report = rule.check(schedule, model)
    assert report.used == pytest.approx(distance) and report.passed is (distance == 0.0)


def test_dose_levels_above_the_model_maximum_are_refused():
    from optimiser import ProblemError

    with pytest.raises(ProblemError, match=r"must lie in \(0, 25\] mg/kg"):
        optimise(persister_problem(3.0), dose_levels=(2.0,))
