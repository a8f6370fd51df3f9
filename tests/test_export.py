"""Exports other simulators read: schedule JSON + schema, NONMEM event table, SBML, PhysiPKPD.

Each format is read back by an independent reader (jsonschema, pandas, libsbml + libroadrunner,
xml.etree) and compared with the schedule or with the project's own scipy simulation.
"""

import json
import re
import sys
import xml.etree.ElementTree as ET

import casadi as ca
import numpy as np
import pandas as pd
import pytest

from models import Control, Model, Parameter, ParameterSet, Schedule, State
from models.persister import default_parameters, persister_model
from optimiser.export import FORMATS, ExportError, default_name, export_schedule
from optimiser.export.schedule_json import SCHEMA_PATH, schema_text
from optimiser.simulate import simulate

from .conftest import ARMS

MG = "mg/kg"
COLUMNS = ["ID", "TIME", "EVID", "CMT", "AMT", "RATE", "II", "ADDL", "SS", "DV", "MDV"]


def _schedule(step=1.0, horizon=100.0, unit=MG, provenance=None, **blocks):
    """Daily doses from ``drug=[(start day, stop day, dose), ...]``."""
    n = round(horizon / step)
    doses = {}
    for drug, runs in blocks.items():
        doses[drug] = np.zeros(n)
        for start, stop, dose in runs:
            doses[drug][round(start / step):round(stop / step)] = dose
    return Schedule(step, horizon, doses, dict.fromkeys(blocks, unit), provenance or {})


OSI = [(0, 40, 5)]
ARM = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
PULSES = _schedule(osimertinib=OSI, igf1r_inhibitor=[(0, 5, 25)] + [
    (d, d + 1, 25) for d in (8, 22, 28, 33, 38)])
SPACED = _schedule(osimertinib=OSI, igf1r_inhibitor=[(d, d + 1, 25) for d in (1, 3, 5, 7, 9, 11)])
LEVELS = _schedule(  # several dose levels, adjacent runs of different dose, a half-day grid
    step=0.5, horizon=60.0, provenance={"command": "optimise --budget 10d", "seed": 0},
    osimertinib=[(0, 40, 5)],
    igf1r_inhibitor=[(0, 2.5, 25), (2.5, 6, 12.5), (10, 10.5, 6.25), (20, 30, 2.5)])
GRAMS = _schedule(horizon=20.0, unit="g/kg", igf1r_inhibitor=[(0, 3, 0.0125), (5, 6, 0.025)])
SCHEDULES = {"arm_days_0_9": ARM, "pulses": PULSES, "spaced": SPACED, "levels": LEVELS,
             "grams": GRAMS}


@pytest.fixture(scope="module")
def parameters():
    return default_parameters()


def _mg_per_kg(schedule, drug):
    factor = 1000.0 if schedule.dose_units[drug] == "g/kg" else 1.0
    return schedule.doses[drug] * factor


# -- entry point -------------------------------------------------------------------------------
def test_unknown_format_names_the_known_ones(model, parameters, tmp_path):
    with pytest.raises(ExportError, match=r"unknown export format 'csv'; choose one of "
                                          r"json, nonmem, sbml, physicell"):
        export_schedule(ARM, model, parameters, "csv", tmp_path / "x.csv")
    with pytest.raises(ExportError, match="unknown export format"):
        default_name("xlsx")


def test_default_names_are_distinct_and_not_the_cli_schedule_file():
    names = [default_name(fmt) for fmt in FORMATS]
    assert len(set(names)) == len(FORMATS)
    assert "schedule.json" not in names


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_drug_the_model_lacks_is_refused_and_nothing_written(model, parameters, tmp_path,
                                                               fmt):
    aspirin = _schedule(horizon=10.0, aspirin=[(0, 5, 1)])
    with pytest.raises(ExportError, match=r"drug\(s\) \['aspirin'\].*its drugs are"):
        export_schedule(aspirin, model, parameters, fmt, tmp_path / default_name(fmt))
    assert list(tmp_path.iterdir()) == []


def test_a_dose_above_the_maximum_is_refused(model, parameters, tmp_path):
    overdose = _schedule(horizon=10.0, osimertinib=[(2, 3, 50)])
    with pytest.raises(ExportError, match="day 2 exceeds the model's maximum of 5 mg/kg/day"):
        export_schedule(overdose, model, parameters, "nonmem", tmp_path / "events.csv")


def test_an_unwritable_path_is_refused_in_one_line(model, parameters, tmp_path):
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(ExportError, match=r"cannot write .*not_a_directory.*choose a writable "
                                          r"--out") as error:
        export_schedule(ARM, model, parameters, "json", blocker / "schedule.v1.json")
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_directory"]


def test_an_export_is_written_whole_or_not_at_all(model, parameters, tmp_path):
    """The sidecar's place is taken by a directory: the CSV must not appear either."""
    (tmp_path / "events.json").mkdir()
    with pytest.raises(ExportError, match=r"events\.json.*is a directory"):
        export_schedule(ARM, model, parameters, "nonmem", tmp_path / "events.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.json"]


def test_a_file_format_refuses_a_directory_and_physicell_a_file(model, parameters, tmp_path):
    with pytest.raises(ExportError, match=r"is a directory; give a file name for sbml, e\.g\. "):
        export_schedule(ARM, model, parameters, "sbml", tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(ExportError, match="is a file; physicell writes a directory"):
        export_schedule(ARM, model, parameters, "physicell", tmp_path / "file")


def test_an_existing_export_is_replaced(model, parameters, tmp_path):
    out = tmp_path / "schedule.v1.json"
    out.write_text("old")
    assert export_schedule(PULSES, model, parameters, "json", out) == [out]
    assert Schedule.read(out).digest == PULSES.digest
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_a_missing_parameter_is_an_export_error(model, tmp_path):
    partial = ParameterSet.from_mapping({"parameters": {
        "N0": {"value": 1e8, "unit": "cell", "source": "test"}}})
    with pytest.raises(ExportError, match=r"lacks .*'K'"):
        export_schedule(ARM, model, partial, "sbml", tmp_path / "m.xml")


# -- schedule JSON and its schema -----------------------------------------------------------------
@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_the_generated_one():
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "the committed schema is stale: run python -m optimiser.export.schedule_json")
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(":v1") and "version" not in schema  # no private keyword
    assert schema["properties"]["schema_version"]["const"] == 1
    assert "schema_version" in schema["required"]


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_json_export_validates_and_reads_back_unchanged(model, parameters, validator, tmp_path,
                                                        name):
    schedule = SCHEDULES[name]
    out = tmp_path / "schedule.v1.json"
    export_schedule(schedule, model, parameters, "json", out)
    validator.validate(json.loads(out.read_text()))
    again = Schedule.read(out)
    assert again.digest == schedule.digest
    assert (again.grid_step, again.horizon) == (schedule.grid_step, schedule.horizon)
    assert dict(again.dose_units) == dict(schedule.dose_units)
    assert again.doses.keys() == schedule.doses.keys()
    for drug, doses in schedule.doses.items():
        np.testing.assert_array_equal(again.doses[drug], doses)
    export = again.provenance.pop("export")
    assert again.provenance == dict(schedule.provenance)
    assert export["format"] == "json" and export["schedule_digest"] == schedule.digest
    assert export["model"] == "persister" and export["parameter_set"] == parameters.name


@pytest.mark.parametrize(("change", "complaint"), [
    ({"grid_step": 0}, "less than or equal to the minimum of 0"),
    ({"time_unit": "hour"}, "'day' was expected"),
    ({"schema_version": 2}, "1 was expected"),
    ({"colour": "red"}, "Additional properties are not allowed"),
    ({"drugs": {"osimertinib": {"unit": MG, "blocks": [{"start": 0, "stop": 4, "dose": -5}]}}},
     "less than the minimum of 0"),
    ({"drugs": {"osimertinib": {"blocks": []}}}, "'unit' is a required property"),
    ({"drugs": {"osimertinib": {"unit": MG, "blocks": [{"start": 0, "stop": 4, "dose": "25"}]}}},
     "'25' is not of type 'number'"),
    ({"schema_version": True}, "True is not of type 'integer'"),
])
def test_schema_rejects_invalid_documents(validator, change, complaint):
    document = json.loads(ARM.to_json()) | change
    messages = [error.message for error in validator.iter_errors(document)]
    assert any(complaint in message for message in messages), messages


# -- NONMEM / mrgsolve event table ---------------------------------------------------------------
def _event_table(model, parameters, tmp_path, schedule):
    out = tmp_path / "events.csv"
    written = export_schedule(schedule, model, parameters, "nonmem", out)
    assert written == [out, tmp_path / "events.json"]
    return (pd.read_csv(out, na_values=".", keep_default_na=False),
            json.loads((tmp_path / "events.json").read_text()))


def _expand(doses, cmt, n, step):
    """Per-interval daily dose from II/ADDL rows: every infusion spread over the intervals it
    overlaps (an independent reading of the NONMEM conventions, not the exporter's runs)."""
    daily = np.zeros(n)
    for row in doses[doses.CMT.eq(cmt)].itertuples():
        duration = row.AMT / row.RATE
        for extra in range(int(row.ADDL) + 1):
            start = row.TIME + extra * row.II
            for k in range(n):
                overlap = min(start + duration, (k + 1) * step) - max(start, k * step)
                daily[k] += row.RATE * max(overlap, 0.0) / step
    return daily


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_event_table_columns_flags_and_totals(model, parameters, tmp_path, name):
    schedule = SCHEDULES[name]
    table, sidecar = _event_table(model, parameters, tmp_path, schedule)
    assert list(table.columns) == COLUMNS
    doses, observations = table[table.EVID == 1], table[table.EVID == 0]
    assert set(table.EVID) <= {0, 1} and (table.ID == 1).all()
    assert (doses.MDV == 1).all() and (observations.MDV == 0).all()
    assert table.DV.isna().all() and (observations.CMT == 0).all()
    np.testing.assert_allclose(observations.TIME, schedule.times, rtol=0, atol=1e-12)
    assert table.TIME.is_monotonic_increasing and (table.SS == 0).all()
    np.testing.assert_allclose(doses.AMT / doses.RATE, schedule.grid_step, rtol=1e-12)
    for cmt, entry in sidecar["compartments"].items():
        drug = entry["drug"]
        given = doses[doses.CMT.eq(int(cmt))]
        total = float((given.AMT * (given.ADDL + 1)).sum())
        expected = _mg_per_kg(schedule, drug).sum() * schedule.grid_step if (
            drug in schedule.doses) else 0.0
        assert total == pytest.approx(expected, rel=1e-12), drug


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_event_table_expands_back_to_the_schedule(model, parameters, tmp_path, name):
    schedule = SCHEDULES[name]
    table, sidecar = _event_table(model, parameters, tmp_path, schedule)
    for cmt, entry in sidecar["compartments"].items():
        expanded = _expand(table[table.EVID == 1], int(cmt), schedule.n_intervals,
                           schedule.grid_step)
        expected = (_mg_per_kg(schedule, entry["drug"]) if entry["drug"] in schedule.doses
                    else np.zeros(schedule.n_intervals))
        np.testing.assert_allclose(expanded, expected, rtol=1e-12, atol=1e-12)


def test_equal_doses_at_a_constant_spacing_share_one_row(model, parameters, tmp_path):
    table, _ = _event_table(model, parameters, tmp_path, PULSES)
    rows = table[(table.EVID == 1) & (table.CMT == 2)]
    assert rows[["TIME", "II", "ADDL"]].values.tolist() == [
        [0, 1, 4], [8, 0, 0], [22, 0, 0], [28, 5, 2]]
    assert (rows.AMT == 25).all() and (rows.RATE == 25).all()
    spaced, _ = _event_table(model, parameters, tmp_path, SPACED)
    rows = spaced[(spaced.EVID == 1) & (spaced.CMT == 2)]
    assert rows[["TIME", "II", "ADDL"]].values.tolist() == [[1, 2, 5]]


def test_event_table_on_a_half_day_grid_has_half_day_amounts(model, parameters, tmp_path):
    table, _ = _event_table(model, parameters, tmp_path, LEVELS)
    first = table[(table.EVID == 1) & (table.CMT == 2)].iloc[0]
    assert (first.TIME, first.AMT, first.RATE, first.II, first.ADDL) == (0, 12.5, 25, 0.5, 4)


def test_an_oral_dose_is_a_bolus_of_the_whole_dose_into_the_gut(tmp_path):
    """The human preset (model v2, half-day grid) doses by mouth: the model adds the whole dose
    to the gut at the start of the interval (Control.bolus_into), so AMT is that dose, not
    dose x grid step, RATE 0, in the gut compartment."""
    from models.registry import get_preset

    preset = get_preset("persister_human")
    schedule = _schedule(step=0.5, horizon=10.0, unit="mg",
                         osimertinib=[(0, 0.5, 80), (1, 1.5, 80), (2, 2.5, 80)],
                         igf1r_inhibitor=[(0.5, 1, 150)])
    table, sidecar = _event_table(preset.model, preset.parameters, tmp_path, schedule)
    doses = table[table.EVID == 1]
    assert doses[["TIME", "CMT", "AMT", "RATE", "II", "ADDL"]].values.tolist() == [
        [0, 1, 80, 0, 1, 2], [0.5, 2, 150, 0, 0, 0]]
    assert sidecar["compartments"]["1"]["control_value"] == "a bolus of AMT into A_osi (RATE 0)"
    # what the model does with it: the gut holds the whole dose just after the event
    vector = preset.model.parameter_vector(preset.parameters)
    x0 = np.asarray(preset.model.x0_internal(vector)).ravel()
    after = np.asarray(preset.model.bolus_internal(x0, [1.0, 0.0, 0.0])).ravel()
    gut = preset.model.state_names.index("A_osi")
    assert after[gut] - x0[gut] == pytest.approx(80)


def test_event_table_sidecar_maps_compartments_and_units(model, parameters, tmp_path):
    _, sidecar = _event_table(model, parameters, tmp_path, GRAMS)
    assert sidecar["data_file"] == "events.csv" and sidecar["time_unit"] == "day"
    assert set(sidecar["columns"]) == set(COLUMNS)
    osimertinib, inhibitor = sidecar["compartments"]["1"], sidecar["compartments"]["2"]
    assert (osimertinib["drug"], osimertinib["driven_states"], osimertinib["reference_dose"],
            osimertinib["given"]) == ("osimertinib", ["C_osi"], 5.0, False)
    assert (inhibitor["drug"], inhibitor["driven_states"], inhibitor["reference_dose"],
            inhibitor["given"]) == ("igf1r_inhibitor", ["C_igf"], 25.0, True)
    assert (inhibitor["AMT_unit"], inhibitor["RATE_unit"]) == ("mg/kg", "mg/kg/day")
    assert sidecar["provenance"]["export"]["schedule_digest"] == GRAMS.digest


def test_event_table_refuses_a_json_name(model, parameters, tmp_path):
    with pytest.raises(ExportError, match=r"ends in \.json, the name of its sidecar; give "
                                          r"it a \.csv name"):
        export_schedule(ARM, model, parameters, "nonmem", tmp_path / "events.json")


# -- SBML ------------------------------------------------------------------------------------------
libsbml = pytest.importorskip("libsbml")


def _sbml(schedule, model, parameters, tmp_path):
    out = tmp_path / "model.sbml.xml"
    export_schedule(schedule, model, parameters, "sbml", out)
    return out.read_text()


def _sbml_errors(text):
    document = libsbml.readSBMLFromString(text)
    document.checkConsistency()
    errors = [document.getError(i) for i in range(document.getNumErrors())]
    return document, [e.getMessage() for e in errors
                      if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR]


@pytest.mark.parametrize("glucose", [False, True])
def test_sbml_is_consistent_level_3_version_2(parameters, tmp_path, glucose):
    model = persister_model(glucose=glucose)
    document, errors = _sbml_errors(_sbml(PULSES, model, parameters, tmp_path))
    assert errors == []
    assert (document.getLevel(), document.getVersion()) == (3, 2)
    sbml = document.getModel()
    rate_rules = {r.getVariable() for r in sbml.getListOfRules() if r.isRate()}
    assert rate_rules == {f"ln_{s.name}" if s.log else s.name for s in model.states}
    assignments = {r.getVariable() for r in sbml.getListOfRules() if r.isAssignment()}
    assert assignments == {"S", "P", "R", *model.output_names}
    values = model.parameter_vector(parameters)  # libsbml writes 15 significant digits
    for name, value in zip(model.parameter_names, values, strict=True):
        assert sbml.getParameter(name).getConstant()
        assert sbml.getParameter(name).getValue() == pytest.approx(value, rel=1e-14)
    assert sbml.getParameter("t_half_osi").getUnits() != ""  # declared units are carried
    time_unit = sbml.getUnitDefinition(sbml.getTimeUnits()).getUnit(0)
    assert time_unit.getKind() == libsbml.UNIT_KIND_SECOND
    assert time_unit.getMultiplier() == pytest.approx(86400)
    rate = sbml.getUnitDefinition(sbml.getParameter("r_S").getUnits()).getUnit(0)
    assert (rate.getKind(), rate.getExponent()) == (libsbml.UNIT_KIND_SECOND, -1)
    assert rate.getMultiplier() == pytest.approx(86400)  # 1/day = (86400 s)^-1
    provenance = ET.fromstring(sbml.getAnnotationString()).find(
        "{urn:persister-opt:provenance}provenance")
    assert json.loads(provenance.text)["export"]["schedule_digest"] == PULSES.digest


def test_sbml_dose_events_follow_the_schedule(model, parameters, tmp_path):
    sbml = libsbml.readSBMLFromString(_sbml(LEVELS, model, parameters, tmp_path)).getModel()
    assert sbml.getParameter("igf1r_inhibitor").getValue() == 1.0  # 25 mg/kg on day 0
    changes = {}
    for event in sbml.getListOfEvents():
        assert event.getTrigger().getPersistent() and not event.isSetDelay()
        trigger = event.getTrigger().getMath()  # time >= t_k, t_k in the model's time unit
        assert (trigger.getType(), trigger.getChild(0).getType()) == (
            libsbml.AST_RELATIONAL_GEQ, libsbml.AST_NAME_TIME)
        assert trigger.getChild(1).getUnits() == sbml.getTimeUnits() == "day"
        time = trigger.getChild(1).getValue()
        for assignment in event.getListOfEventAssignments():
            value = assignment.getMath()
            assert value.getUnits() == "dimensionless"
            changes[(assignment.getVariable(), time)] = value.getValue()
    inhibitor = {t: u for (name, t), u in changes.items() if name == "igf1r_inhibitor"}
    assert inhibitor == {2.5: 0.5, 6.0: 0.0, 10.0: 0.25, 10.5: 0.0, 20.0: 0.1, 30.0: 0.0}
    assert {t: u for (name, t), u in changes.items() if name == "osimertinib"} == {40.0: 0.0}


# The reference's absolute tolerance bounds every comparison: at simulate's ATOL 1e-10, F and G
# (which start at 0) differ by 2e-8 relative from a solution at rtol 1e-13 and atol 1e-15; at
# 1e-13 by 5e-11 (pulses), so other simulators can be held to far less than 1e-8.
REFERENCE_ATOL = 1e-13
# the schedules and models simulated by other simulators (test_export_sbml.py reuses them)
SIMULATED = [("arm_days_0_9", False), ("pulses", False), ("levels", False), ("spaced", True)]


def _compare_with(simulator, model, parameter_vector, schedule, sbml_text):
    """Max relative deviation per variable between ``simulator(sbml_text, times, names)`` (the
    values of ``names`` at ``times``) and optimiser.simulate at the grid nodes and 3 points
    between.

    Log-scaled states and total_cells: purely relative. Natural-scale states (O(1), integrated
    by the reference with an absolute tolerance): relative to max(|value|, 1e-3), so absolute
    once they have decayed towards zero, where a relative figure says nothing about either
    integrator."""
    reference = simulate(model, parameter_vector, schedule, atol=REFERENCE_ATOL)
    names = [*model.state_names, "total_cells"]
    got = simulator(sbml_text, reference.times, names)
    expected = {**reference.states, "total_cells": reference.output("total_cells")}
    log_scaled = {s.name for s in model.states if s.log} | {"total_cells"}
    return {name: float(np.max(np.abs(np.asarray(got[name]) - expected[name]) / np.maximum(
        np.abs(expected[name]), 0.0 if name in log_scaled else 1e-3))) for name in names}


def _roadrunner(sbml_text, times, names):
    roadrunner = pytest.importorskip("roadrunner")
    rr = roadrunner.RoadRunner(sbml_text)
    rr.integrator.relative_tolerance = 1e-12
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.maximum_num_steps = 200_000
    result = rr.simulate(times=list(times), selections=["time", *names])
    np.testing.assert_allclose(result["time"], times, rtol=0, atol=1e-12)
    return {name: result[name] for name in names}


@pytest.mark.parametrize(("case", "glucose"), SIMULATED)
def test_sbml_simulated_by_roadrunner_matches_the_project_simulation(parameters, tmp_path, case,
                                                                      glucose):
    model = persister_model(glucose=glucose)
    schedule = SCHEDULES[case]
    deviations = _compare_with(_roadrunner, model, model.parameter_vector(parameters), schedule,
                               _sbml(schedule, model, parameters, tmp_path))
    print(f"{case} (glucose={glucose}): max relative deviation {max(deviations.values()):.2e}",
          {k: f"{v:.1e}" for k, v in deviations.items()})
    assert max(deviations.values()) < 1e-8, deviations


# The README's second model: other names, its own log states, a log10 output.
TWO_POPULATION = Model(
    name="two_population",
    states=(State("S", "cell", log=True), State("T", "cell", log=True), State("C", "1")),
    controls=(Control("drug", dose_unit=MG, reference_dose=10.0),),
    parameters=(Parameter("growth", "1/day"), Parameter("kill", "1/day"),
                Parameter("switch", "1/day"), Parameter("t_half", "day")),
    rhs=lambda x, u, p: {
        "S": (p.growth - p.kill * x.C - p.switch) * x.S + p.switch * x.T,
        "T": 0.2 * p.growth * x.T + p.switch * x.S - p.switch * x.T,
        "C": ca.log(2) / p.t_half * (u.drug - x.C),
    },
    initial=lambda p: {"S": 1e8, "T": 1e6, "C": 0.0},
    outputs=lambda x, p: {"log10_cells": ca.log10(x.S + x.T), "total_cells": x.S + x.T},
)
TWO_POPULATION_PARAMETERS = ParameterSet.from_mapping({"parameters": {
    "growth": {"value": 0.2, "unit": "1/day", "source": "assumption"},
    "kill": {"value": 1.0, "unit": "1/day", "source": "assumption"},
    "switch": {"value": 0.05, "unit": "1/day", "source": "assumption"},
    "t_half": {"value": 12, "unit": "hour", "source": "assumption"},
}})


def test_sbml_works_for_any_model(tmp_path):
    schedule = _schedule(horizon=30.0, drug=[(0, 4, 10), (6, 9, 5), (9, 10, 10)])
    text = _sbml(schedule, TWO_POPULATION, TWO_POPULATION_PARAMETERS, tmp_path)
    assert _sbml_errors(text)[1] == []
    parameter_vector = TWO_POPULATION.parameter_vector(TWO_POPULATION_PARAMETERS)
    assert parameter_vector[3] == 0.5  # 12 hour in the model's unit, day
    deviations = _compare_with(_roadrunner, TWO_POPULATION, parameter_vector, schedule, text)
    assert max(deviations.values()) < 1e-8, deviations


def _variant(rhs=None, parameters=None, states=None):
    base = TWO_POPULATION
    return Model(name="variant", states=states or base.states, controls=base.controls,
                 parameters=parameters or base.parameters, rhs=rhs or base.rhs,
                 initial=base.initial, outputs=base.outputs)


def test_sbml_refuses_an_operation_it_cannot_write(tmp_path):
    def rhs(x, u, p):
        return {**TWO_POPULATION.rhs(x, u, p), "C": ca.erf(u.drug) - x.C}

    schedule = _schedule(horizon=10.0, drug=[(0, 2, 10)])
    with pytest.raises(ExportError, match=r"CasADi operation OP_ERF in .* has no SBML "
                                          r"equivalent here; rewrite the model without it"):
        export_schedule(schedule, _variant(rhs=rhs), TWO_POPULATION_PARAMETERS, "sbml",
                        tmp_path / "m.xml")
    assert list(tmp_path.iterdir()) == []


def test_sbml_refuses_ids_that_collide(tmp_path):
    clash = _variant(parameters=(*TWO_POPULATION.parameters, Parameter("ln_S", "1")))
    with pytest.raises(ExportError, match=r"SBML ids \['ln_S'\] are used twice"):
        export_schedule(_schedule(horizon=10.0, drug=[(0, 2, 10)]), clash, ParameterSet(
            "clash", {**TWO_POPULATION_PARAMETERS.values, "ln_S": TWO_POPULATION_PARAMETERS
                      .values["kill"]}), "sbml", tmp_path / "m.xml")


def test_sbml_refuses_a_unit_pint_cannot_read(tmp_path):
    states = (State("S", "cell/", log=True), *TWO_POPULATION.states[1:])
    with pytest.raises(ExportError, match=r"unit 'cell/' in model declaration is not one pint "
                                          r"understands; fix it"):
        export_schedule(_schedule(horizon=10.0, drug=[(0, 2, 10)]), _variant(states=states),
                        TWO_POPULATION_PARAMETERS, "sbml", tmp_path / "m.xml")


def test_sbml_without_libsbml_names_the_extra(model, parameters, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "libsbml", None)  # what an environment without it shows
    with pytest.raises(ExportError, match=r"needs python-libsbml; install the sbml extra: "
                                          r"pip install -e '\.\[sbml\]'"):
        export_schedule(ARM, model, parameters, "sbml", tmp_path / "m.xml")
    assert list(tmp_path.iterdir()) == []


# -- PhysiCell / PhysiPKPD -----------------------------------------------------------------------
def _physicell(model, parameters, tmp_path, schedule):
    out = tmp_path / "physicell"
    written = export_schedule(schedule, model, parameters, "physicell", out)
    assert sorted(written) == sorted(out.iterdir())
    return out


# model v1's effect compartment dC/dt = ln 2 / t_half (u - C): a dosed interval puts
# ln 2 / t_half[day] x u x step into C, written as one bolus every 30 min of the interval
V1_INPUT = {"osimertinib": np.log(2) / 2 / 5.0, "igf1r_inhibitor": np.log(2) / 0.25 / 25.0}


@pytest.mark.parametrize("name", ["pulses", "levels", "grams"])
def test_physicell_dose_files_are_minutes_and_amounts(model, parameters, tmp_path, name):
    schedule = SCHEDULES[name]
    out = _physicell(model, parameters, tmp_path, schedule)
    pieces = round(schedule.grid_step * 1440 / 30)
    for drug in schedule.doses:
        text = (out / f"{drug}_dose_schedule.csv").read_text()
        assert all(re.fullmatch(r"\d+(\.\d+)?,\d+(\.\d+)?", line) for line in text.splitlines())
        rows = np.loadtxt(out / f"{drug}_dose_schedule.csv", delimiter=",", ndmin=2)
        daily = _mg_per_kg(schedule, drug)
        dosed = np.flatnonzero(daily > 0)
        starts = np.repeat(dosed * schedule.grid_step * 24 * 60, pieces)
        np.testing.assert_allclose(rows[:, 0], starts + np.tile(np.arange(pieces) * 30,
                                                                len(dosed)), rtol=1e-12)
        np.testing.assert_allclose(rows[:, 1].reshape(-1, pieces).sum(axis=1),
                                   V1_INPUT[drug] * daily[dosed] * schedule.grid_step,
                                   rtol=1e-10)


def test_physicell_day_8_is_minute_11520(model, parameters, tmp_path):
    out = _physicell(model, parameters, tmp_path, PULSES)
    lines = (out / "igf1r_inhibitor_dose_schedule.csv").read_text().splitlines()
    starts = [line.split(",")[0] for line in lines[::48]]
    assert starts == [str(day * 1440) for day in (0, 1, 2, 3, 4, 8, 22, 28, 33, 38)]
    assert "11520" in starts


def test_physicell_snippet_points_to_every_dose_file(model, parameters, tmp_path):
    out = _physicell(model, parameters, tmp_path, ARM)
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring((out / "physipkpd_dosing.xml").read_text(), parser=parser)
    schedules = root.findall("./microenvironment_setup/variable/PK[@enabled='true']/"
                             "schedule[@format='csv']")
    named = {s.findtext("filename") for s in schedules}
    csvs = {p.name for p in out.glob("*.csv")}
    assert named == csvs == {"osimertinib_dose_schedule.csv", "igf1r_inhibitor_dose_schedule.csv"}
    assert {s.findtext("folder") for s in schedules} == {"./config"}
    for variable in root.iter("variable"):
        drug = variable.get("name")
        assert variable.find("PK/schedule/filename").text == f"{drug}_dose_schedule.csv"
    # provenance rides in the leading comment, as JSON; v1's circulating states are exposures
    # relative to the reference dose's steady state
    comment = (out / "physipkpd_dosing.xml").read_text().split("<!--", 1)[1].split("-->", 1)[0]
    header = json.loads(comment[comment.index("{"):])
    assert header["units"] == {"time": "min", "amount": {"osimertinib": "dimensionless",
                                                         "igf1r_inhibitor": "dimensionless"}}
    assert header["dose_units"] == {"osimertinib": MG, "igf1r_inhibitor": MG}
    assert header["provenance"]["export"]["schedule_digest"] == ARM.digest


def test_physicell_comment_survives_dashes_in_provenance(model, parameters, tmp_path):
    schedule = _schedule(horizon=10.0, provenance={"command": "optimise --budget 10d --- x"},
                         osimertinib=[(0, 2, 5)])
    out = _physicell(model, parameters, tmp_path, schedule)
    text = (out / "physipkpd_dosing.xml").read_text()
    ET.fromstring(text)  # an XML comment may not contain "--"
    comment = text.split("<!--", 1)[1].split("-->", 1)[0]
    assert "--" not in comment
    header = json.loads(comment[comment.index("{"):])
    assert header["provenance"]["command"] == "optimise --budget 10d --- x"
