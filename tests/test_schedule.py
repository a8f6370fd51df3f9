import json
import re

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
    grams = json.dumps({"schema_version": 1, "grid_step": 1, "horizon": 10, "drugs": {
        "igf1r_inhibitor": {"unit": "g/kg", "blocks": [{"start": 0, "stop": 2, "dose": 0.0125}]}}})
    fractions = Schedule.from_json(grams).fractions(model)
    assert fractions[1, :2] == pytest.approx([0.5, 0.5])


def _document(**changes):
    document = {"schema_version": 1, "grid_step": 1, "horizon": 100, "drugs": {"osimertinib": {
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
    (_document(drugs=_blocks((0, 10, "25"))), r"^s\.json: drugs\.osimertinib\.blocks\.0\.dose: "
                                              "Input should be a valid number"),
    (_document(schema_version=None), r"^s\.json: schema_version: this reader reads "
                                     "schema_version 1, got None"),
    (_document(schema_version=True), "this reader reads schema_version 1, got True"),
    (_document(drugs={"": {"unit": "mg/kg", "blocks": []}}), r"^s\.json: drugs key '': String "
                                                             "should have at least 1 character"),
    (_document(horizon=4000, grid_step=2), r"^s\.json: a horizon of 4000 d is longer than the "
                                           "limit of 3650 d"),
    (_document(grid_step=5e-324, horizon=0.25, drugs={}),  # once an OverflowError traceback
     r"^s\.json: 0\.25 d on a grid of 4\.94066e-324 d is inf intervals, more than the limit"),
    (_document(drugs=_blocks((0, 10, 5), (20, 30, 5)), horizon=99.5),
     r"^s\.json: horizon 99\.5 d is not a whole number of grid steps of 1 d"),
])
def test_bad_schedules_are_rejected_with_a_reason(text, expected):
    with pytest.raises(ScheduleError, match=expected) as refused:
        Schedule.from_json(text, origin="s.json")
    assert "\n" not in str(refused.value)


def test_schema_version_is_required():
    document = json.loads(_document())
    del document["schema_version"]
    with pytest.raises(ScheduleError, match=r'^s\.json: schema_version: Field required \(files '
                                            r'written before it was required: add '
                                            r'"schema_version": 1\)'):
        Schedule.from_json(json.dumps(document), origin="s.json")


@pytest.mark.parametrize(("text", "expected"), [
    (_document(drugs=_blocks((0, 10, float("nan")))),
     "drugs.osimertinib.blocks.0.dose: Input should be a finite number"),
    (_document(horizon=float("inf")), "horizon: Input should be a finite number"),
    (_document().replace('"dose": 5', '"dose": 1e400'),
     "drugs.osimertinib.blocks.0.dose: Input should be a finite number"),
    (_document(provenance={"seed": [1, float("-inf")]}), "provenance.seed.1: not a finite number"),
    (_document(provenance={"score": 1}).replace('"score": 1', '"score": 1e400'),
     "provenance.score: not a finite number"),
])
def test_numbers_that_are_no_finite_double_are_refused_by_field(text, expected):
    """NaN and Infinity are not JSON, 1e400 overflows a double: refused even in free-form
    provenance, where the schema has no type to say so."""
    with pytest.raises(ScheduleError, match=f"^s\\.json: {re.escape(expected)}"):
        Schedule.from_json(text, origin="s.json")


@pytest.mark.parametrize("order", [1, -1])
def test_a_zero_dose_block_overlapping_another_is_refused_in_either_order(order):
    """The overlap check once looked for doses above zero, so a zero-dose block written first
    let a later block overlap it and the same two blocks written the other way were refused."""
    blocks = [(0, 10, 0), (5, 8, 5)][::order]
    with pytest.raises(ScheduleError, match=r"block .* overlaps another block"):
        Schedule.from_json(_document(drugs=_blocks(*blocks)))


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
