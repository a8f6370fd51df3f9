"""The human preset (``persister_human``): clinical doses on a half-day grid, human parameters
with their sources, and time to progression from the mean tumour and the branching process."""

from __future__ import annotations

import numpy as np
import pytest

from models.persister import IGF1R_INHIBITOR, OSIMERTINIB
from models.persister.outcome import (
    CLINICAL_DETECTION_LIMIT_CELLS,
    detectable_probability,
    progression_summary,
)
from models.persister.v2 import FOXA1_INHIBITOR
from models.registry import get_preset
from models.schedule import DAYS_PER_MONTH
from optimiser.problem import ProblemError
from optimiser.simulate import simulate

PRESET = get_preset("persister_human")
COURSE_DAYS = 28  # the preset's osimertinib course


def _schedule(igf1r_days: range = range(0)):
    """Osimertinib once daily for the course, linsitinib twice daily on ``igf1r_days``."""
    problem = PRESET.problem()
    linsitinib = np.zeros(problem.n_intervals)
    for day in igf1r_days:
        linsitinib[2 * day:2 * day + 2] = 1.0
    return problem.schedule({IGF1R_INHIBITOR: linsitinib})


@pytest.fixture(scope="module")
def arms():
    model = PRESET.model
    vector = model.parameter_vector(PRESET.parameters)
    runs = {}
    for name, days in (("osimertinib", range(0)), ("combination", range(10))):
        schedule = _schedule(days)
        trajectory = simulate(model, vector, schedule)
        runs[name] = (schedule, trajectory, PRESET.outcome(trajectory, schedule,
                                                          PRESET.detection_limit))
    return runs


def test_clinical_doses_on_a_half_day_grid():
    problem = PRESET.problem()
    assert problem.grid_step == 0.5 and problem.horizon == 365.0
    osimertinib = dict(zip(problem.fixed_names, problem.fixed_profile(), strict=True))[OSIMERTINIB]
    assert osimertinib[:4].tolist() == [1, 0, 1, 0]  # once daily: every other half day
    assert osimertinib.sum() == COURSE_DAYS and not osimertinib[2 * COURSE_DAYS:].any()
    assert PRESET.model.control(OSIMERTINIB).reference_dose == 80.0
    assert PRESET.model.control(IGF1R_INHIBITOR).reference_dose == 150.0  # each of two doses
    assert problem.window_mask(IGF1R_INHIBITOR).sum() == 2 * COURSE_DAYS
    schedule = _schedule(range(3))
    assert schedule.dosing_days(IGF1R_INHIBITOR) == [0, 0.5, 1, 1.5, 2, 2.5]
    assert schedule.dosing_days(OSIMERTINIB)[:3] == [0, 1, 2]


def test_a_dosing_period_off_the_grid_is_refused():
    with pytest.raises(ProblemError, match=r"osimertinib is given every 1 d, which is not a "
                                           r"whole number of grid steps of 0.8 d"):
        PRESET.problem(grid_step=0.8, horizon=364.0)


def test_every_human_parameter_has_a_source_and_a_range():
    parameters = PRESET.parameters
    for name in PRESET.model_with(("glucose",)).parameter_names:
        entry = parameters.values[name]
        assert any(mark in entry.source for mark in ("doi:", "assumption:", "PMC", "PMID")), name
        assert entry.lower <= entry.value <= entry.upper, name
    # the population-PK values of osimertinib (Brown et al. 2017): 48 h from CL/F and V/F
    half_life = np.log(2) * parameters.values["V_osi"].value / 14.2
    assert half_life == pytest.approx(parameters.values["t_half_osi"].value, rel=0.01)


def test_time_to_progression_is_the_return_to_the_detection_limit(arms):
    for _, trajectory, summary in arms.values():
        total = trajectory.output("total_cells")
        nadir = int(np.argmin(total))
        assert total[0] > CLINICAL_DETECTION_LIMIT_CELLS > total[nadir]  # a response
        day = summary["time_to_progression"]
        assert day is not None and day > trajectory.times[nadir]
        before = (trajectory.times > trajectory.times[nadir]) & (trajectory.times < day)
        assert np.all(total[before] < CLINICAL_DETECTION_LIMIT_CELLS)
        assert np.interp(day, trajectory.times, total) >= CLINICAL_DETECTION_LIMIT_CELLS
    progression = {name: summary["time_to_progression"]
                   for name, (_, _, summary) in arms.items()}
    # ten days of linsitinib delay progression
    assert progression["combination"] > progression["osimertinib"] + 30


def test_no_progression_by_month_is_the_branching_process_at_each_month_end(arms):
    _, trajectory, summary = arms["combination"]
    assert summary == progression_summary(trajectory) | {
        key: summary[key] for key in ("treatment_end_day", "max_cells_after_treatment",
                                      "detection_limit_cells", "no_regrowth")}
    by_month = summary["no_progression_by_month"]
    months = np.array(by_month["months"])
    assert months[0] >= 1 and np.all(np.diff(months) == 1) and months[-1] == 11
    ends = months * DAYS_PER_MONTH
    lineages = trajectory.lineages_at(ends)
    mean = np.interp(ends, trajectory.times, trajectory.output("total_cells"))
    expected = [1 - detectable_probability(a, m, CLINICAL_DETECTION_LIMIT_CELLS)
                for a, m in zip(lineages.expected, mean, strict=True)]
    assert by_month["no_progression_probability"] == pytest.approx(expected)
    # months before the mean tumour first falls below the limit are not reported
    first = np.interp(months[0] * DAYS_PER_MONTH, trajectory.times,
                      trajectory.output("total_cells"))
    assert first < CLINICAL_DETECTION_LIMIT_CELLS
    # a large tumour is nearly deterministic: P(no progression) is 1 before the mean's return
    # to the limit and 0 after it
    day = summary["time_to_progression"]
    probability = dict(zip(months, by_month["no_progression_probability"], strict=True))
    assert all(probability[m] > 0.99 for m in months if m * DAYS_PER_MONTH < day - 10)
    assert all(probability[m] < 0.01 for m in months if m * DAYS_PER_MONTH > day + 10)


def test_the_foxa1_inhibitor_is_dosed_twice_daily_too():
    control = PRESET.model.control(FOXA1_INHIBITOR)
    assert control.dose_unit == "mg" and control.bolus_into == "A_fox"
