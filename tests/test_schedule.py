import json

import numpy as np
import pytest

from models.schedule import Schedule, ScheduleError

from .conftest import ARMS


def test_json_round_trip_preserves_doses():
    schedule = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
    again = Schedule.from_json(schedule.to_json())
    assert again.digest == schedule.digest
    for drug, doses in schedule.doses.items():
        np.testing.assert_array_equal(again.doses[drug], doses)
    assert schedule.dosing_days("igf1r_inhibitor") == [float(d) for d in range(10)]


def test_units_are_converted(model):
    grams = json.dumps({"grid_step": 1, "horizon": 10, "drugs": {
        "igf1r_inhibitor": {"unit": "g/kg", "blocks": [{"start": 0, "stop": 2, "dose": 0.0125}]}}})
    fractions = Schedule.from_json(grams).fractions(model)
    assert fractions[1, :2] == pytest.approx([0.5, 0.5])


def _document(**changes):
    document = {"grid_step": 1, "horizon": 100, "drugs": {"osimertinib": {
        "unit": "mg/kg", "blocks": [{"start": 0, "stop": 40, "dose": 5}]}}}
    document.update(changes)
    return json.dumps(document)


def _blocks(*blocks, drug="osimertinib", unit="mg/kg"):
    return {drug: {"unit": unit, "blocks": [dict(zip(("start", "stop", "dose"), b,
                                                     strict=True)) for b in blocks]}}


@pytest.mark.parametrize(("text", "expected"), [
    ("{", "Invalid JSON"),
    (_document(drugs=_blocks((0, 10, 5), (5, 15, 5))), "overlaps"),
    (_document(drugs=_blocks((90, 110, 5))), "past the horizon"),
    (_document(drugs=_blocks((0.5, 10, 5))), "not on the grid"),
    (_document(drugs=_blocks((10, 5, 5))), "must stop after it starts"),
    (_document(drugs=_blocks((0, 10, -5))), "greater than or equal to 0"),
    (_document(grid_step=0), "greater than 0"),
    (_document(horizon=99.5), "whole number of grid steps"),
    (_document(extra=1), "Extra inputs"),
])
def test_bad_schedules_are_rejected_with_a_reason(text, expected):
    with pytest.raises(ScheduleError, match=expected):
        Schedule.from_json(text)


def test_unknown_drug_and_overdose_are_rejected(model):
    unknown = Schedule.from_json(_document(drugs=_blocks((0, 5, 1), drug="aspirin")))
    with pytest.raises(ScheduleError, match="aspirin"):
        unknown.fractions(model)
    overdose = Schedule.from_json(_document(drugs=_blocks((0, 5, 50))))
    with pytest.raises(ScheduleError, match="exceeds the model's maximum"):
        overdose.fractions(model)
    wrong_unit = Schedule.from_json(_document(drugs=_blocks((0, 5, 5), unit="hour")))
    with pytest.raises(ScheduleError, match="cannot be converted"):
        wrong_unit.fractions(model)
