"""The default parameters reproduce every arm of the science brief's table (Wang et al. 2020)."""

import numpy as np
import pytest

from models.persister.outcome import outcome
from models.schedule import Schedule
from optimiser.simulate import simulate

from .conftest import ARMS

DETECTION = 1e6


@pytest.fixture(scope="module")
def arms(model, parameter_vector):
    results = {}
    for path in sorted(ARMS.glob("*.json")):
        schedule = Schedule.read(path)
        trajectory = simulate(model, parameter_vector, schedule)
        results[path.stem] = (trajectory, outcome(trajectory, schedule, DETECTION))
    return results


def test_all_five_arms_are_shipped(arms):
    assert set(arms) == {"vehicle", "igf1r_inhibitor_alone", "osimertinib_alone",
                         "osimertinib_plus_igf1r_days_0_9", "osimertinib_plus_igf1r_continuous"}


def _cells_at(trajectory, day):
    return float(np.interp(day, trajectory.times, trajectory.output("total_cells")))


def test_vehicle_grows(arms):
    trajectory, result = arms["vehicle"]
    assert result["final_cells"] > 10 * result["initial_cells"]
    assert np.all(np.diff(trajectory.output("total_cells")) > -1e-6 * 4e9)


def test_igf1r_inhibitor_alone_grows_a_little_slower_than_vehicle(arms):
    vehicle, _ = arms["vehicle"]
    alone, result = arms["igf1r_inhibitor_alone"]
    assert result["final_cells"] > 10 * result["initial_cells"]
    for day in (5, 10, 20):
        ratio = _cells_at(alone, day) / _cells_at(vehicle, day)
        assert 0.5 < ratio < 1.0, (day, ratio)


def test_osimertinib_alone_shrinks_leaves_persisters_and_regrows(arms):
    trajectory, result = arms["osimertinib_alone"]
    assert result["minimum_cells"] < 0.05 * result["initial_cells"]
    assert result["minimum_cells"] > 1e3  # persisters remain: not eradicated
    persisters_at_40 = float(np.interp(40, trajectory.times, trajectory.states["P"]))
    assert persisters_at_40 > 1e5
    assert result["final_cells"] > 100 * result["minimum_cells"]
    assert not result["no_regrowth"]


def test_osimertinib_plus_ten_days_igf1r_eradicates_without_regrowth(arms):
    _, result = arms["osimertinib_plus_igf1r_days_0_9"]
    assert result["eradicated"] and result["minimum_cells"] < 1.0
    assert result["no_regrowth"]
    assert result["max_cells_after_treatment"] < DETECTION


def test_continuous_combination_eradicates_at_four_times_the_budget(arms, model):
    _, result = arms["osimertinib_plus_igf1r_continuous"]
    assert result["eradicated"] and result["no_regrowth"]
    from constraints.budget import DaysOnBudget

    continuous = Schedule.read(ARMS / "osimertinib_plus_igf1r_continuous.json")
    paper = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
    budget = DaysOnBudget("igf1r_inhibitor", 10.0)
    paper_days = budget.check(paper, model).used
    assert budget.check(continuous, model).used == pytest.approx(4 * paper_days)
