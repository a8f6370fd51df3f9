"""Model v2 in the mouse preset (``persister_v2``): the paper's arms still hold qualitatively
with the new definitions (science brief; issue 15 item 6), simulated by the independent check."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.paper_arms import ARMS_DIR
from models.persister.outcome import DETECTION_LIMIT_CELLS, outcome
from models.persister.v2 import FOXA1_INHIBITOR, persister_v2_model, v2_parameters
from models.registry import get_preset
from models.schedule import Schedule
from optimiser.simulate import simulate

MODEL = persister_v2_model(glucose=True)
VECTOR = MODEL.parameter_vector(v2_parameters())


def _run(schedule: Schedule):
    trajectory = simulate(MODEL, VECTOR, schedule)
    return trajectory, outcome(trajectory, schedule, DETECTION_LIMIT_CELLS)


def _arm(stem: str):
    return _run(Schedule.read(ARMS_DIR / f"{stem}.json"))


def _no_regrowth_by_day_100(result: dict) -> float:
    curve = result["no_regrowth_curve"]
    assert curve["days"][-1] == 100
    return curve["no_regrowth_probability"][-1]


def _osimertinib_with(drug: str | None, days: slice) -> Schedule:
    osimertinib = np.zeros(100)
    osimertinib[:40] = 1
    fractions = {"osimertinib": osimertinib}
    if drug:
        other = np.zeros(100)
        other[days] = 1
        fractions[drug] = other
    return Schedule.from_fractions(MODEL, fractions, 1.0, 100.0, {})


@pytest.fixture(scope="module")
def arms():
    return {stem: _arm(stem) for stem in (
        "vehicle", "igf1r_inhibitor_alone", "osimertinib_alone",
        "osimertinib_plus_igf1r_days_0_9")}


def test_vehicle_and_inhibitor_alone_grow(arms):
    for stem in ("vehicle", "igf1r_inhibitor_alone"):
        _, result = arms[stem]
        assert result["final_cells"] > 10 * result["initial_cells"]
        assert _no_regrowth_by_day_100(result) < 1e-6
    # the inhibitor alone slows growth a little: fewer cells at day 10
    day10 = {stem: np.interp(10.0, arms[stem][0].times, arms[stem][0].output("total_cells"))
             for stem in ("vehicle", "igf1r_inhibitor_alone")}
    assert 0.5 * day10["vehicle"] < day10["igf1r_inhibitor_alone"] < day10["vehicle"]


def test_osimertinib_alone_shrinks_then_regrows(arms):
    _, result = arms["osimertinib_alone"]
    assert result["minimum_cells"] < 1e-3 * result["initial_cells"]
    assert not result["no_regrowth"]
    assert _no_regrowth_by_day_100(result) <= 0.05


def test_ten_days_of_inhibitor_with_osimertinib_cure(arms):
    trajectory, result = arms["osimertinib_plus_igf1r_days_0_9"]
    assert _no_regrowth_by_day_100(result) >= 0.8
    assert result["cure_probability"] >= 0.8
    # the inhibitor raises glucose (insulin-receptor cross-inhibition), at its peaks
    assert trajectory.output("glucose").max() > 1.2 * v2_parameters().values["G_b"].value


def test_foxa1_inhibitor_leaves_fewer_persisters_and_spares_glucose(arms):
    alone, _ = arms["osimertinib_alone"]
    with_foxa1, result = _run(_osimertinib_with(FOXA1_INHIBITOR, slice(0, 40)))

    def persisters_at_day_14(trajectory):
        return np.interp(14.0, trajectory.times, trajectory.states["P"])

    assert persisters_at_day_14(with_foxa1) < 0.1 * persisters_at_day_14(alone)
    basal = v2_parameters().values["G_b"].value
    assert with_foxa1.output("glucose").max() == pytest.approx(basal, rel=1e-6)
    assert result["cure_probability"] > 0.5


def test_every_v2_parameter_has_a_source_and_a_range():
    parameters = get_preset("persister_v2").parameters
    for name in persister_v2_model(glucose=True).parameter_names:
        entry = parameters.values[name]
        assert "doi:" in entry.source or "assumption:" in entry.source, name
        assert entry.lower <= entry.value <= entry.upper, name
