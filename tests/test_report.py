"""The report of ``optimise``: its JSON is the object ``--json`` has always printed, a real
report validates against the committed JSON Schema, and the committed schema is the model's
(regenerate it with ``python -m optimiser.report``)."""

import json
import math

import jsonschema
import pytest

from models.persister import IGF1R_INHIBITOR
from optimiser.pipeline import optimise
from optimiser.report import SCHEMA_PATH, Report, schema, schema_text
from optimiser.search import SearchSettings
from optimiser.spec import ProblemSpec, build_problem

from .conftest import table_rows

CHEAP = {"preset": "persister_v1", "budget": "3d", "horizon": 50.0,
         "treatment_days": 20.0}  # about 1.5 s a solve
CASES = {
    "days-on": ProblemSpec(**CHEAP),
    "rules-and-levels": ProblemSpec(**CHEAP, max_run="2d", min_holiday="2d", max_pulses=2,
                                    dose_levels="6.25,12.5,25"),
    "auc": ProblemSpec(**{**CHEAP, "budget": "auc:0.05mM*h"}),
    "robust-glucose-study": ProblemSpec(**CHEAP, robust=2, robust_mode="worst",
                                        max_glucose="164", seed=3),
}


def _legacy_report(result, problem, seconds: float) -> dict:
    """The --json object as optimiser/cli.py built it before the Report model (issue 13)."""
    report = {
        "schedule": json.loads(result.schedule.to_json()),
        "igf1r_days": result.schedule.dosing_days(IGF1R_INHIBITOR),
        "igf1r_blocks": [{"start": a, "stop": b, "dose": d, "unit": problem.model.control(
            IGF1R_INHIBITOR).dose_unit} for a, b, d in result.schedule.blocks(IGF1R_INHIBITOR)],
        "budget": _legacy_budget(result.check.constraints[0]),
        "objective": {"log10_residual_cells": result.objective,
                      **({"over_scenarios": problem.scenario_mode,
                          "scenarios": problem.n_scenarios} if problem.scenarios else {})},
        "lower_bound": {"log10_residual_cells": result.lower_bound},
        "gap": result.gap,
        "gap_relative": result.relative_gap,
        "check": result.check.figures(),
        "solver": {"status": result.relaxed.status, "iterations": result.relaxed.iterations},
        "timings_s": {**result.timings, "wall": seconds},
        "provenance": result.provenance,
    }
    if result.study is not None:
        report["study"] = result.study.summary()
    return report


def _legacy_budget(report) -> dict:
    if report.unit == "day":
        return {"kind": "days-on", "limit_days": report.limit, "used_days": report.used}
    return {"kind": "auc", "limit": report.limit, "used": report.used, "unit": report.unit}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    solved = {}
    for name, spec in CASES.items():
        problem, levels = build_problem(spec)
        search = (SearchSettings(trials=2, runs_dir=runs, seed=spec.seed)
                  if name.endswith("study") else None)
        result = optimise(problem, command="optimise (test)", dose_levels=levels,
                          search=search, seed=spec.seed)
        solved[name] = (result, problem)
    return solved


@pytest.mark.parametrize("name", list(CASES))
def test_the_report_is_the_json_object_the_cli_printed(results, name):
    result, problem = results[name]
    report = Report.from_result(result, problem, 1.25)
    legacy = _legacy_report(result, problem, 1.25)
    dumped = report.model_dump(mode="json")
    _assert_contains(dumped, json.loads(json.dumps(legacy)))  # new keys may be added
    old_keys = [key for key in json.loads(report.to_json()) if key in legacy]
    assert old_keys == list(legacy)  # the old keys in their old order


def _assert_contains(report, legacy, where: str = "report") -> None:
    """Every key of the old report is in the new one with the same value (nested objects may
    have gained keys)."""
    if isinstance(legacy, dict):
        assert isinstance(report, dict), where
        for key, value in legacy.items():
            assert key in report, f"{where}.{key} is missing"
            _assert_contains(report[key], value, f"{where}.{key}")
    elif isinstance(legacy, list):
        assert isinstance(report, list) and len(report) == len(legacy), where
        for k, (new, old) in enumerate(zip(report, legacy, strict=True)):
            _assert_contains(new, old, f"{where}[{k}]")
    else:
        assert report == legacy or (isinstance(legacy, float) and math.isnan(legacy)
                                    and math.isnan(report)), f"{where}: {report} != {legacy}"


def test_the_cases_cover_every_optional_part(results):
    dumps = {name: Report.from_result(*results[name], 1.0).model_dump(mode="json")
             for name in CASES}
    assert "study" in dumps["robust-glucose-study"] and "study" not in dumps["days-on"]
    assert dumps["robust-glucose-study"]["objective"]["over_scenarios"] == "worst"
    assert "over_scenarios" not in dumps["days-on"]["objective"]
    assert "scenario_objectives" in dumps["robust-glucose-study"]["check"]
    assert "scenario_objectives" not in dumps["days-on"]["check"]
    assert dumps["auc"]["budget"]["kind"] == "auc"
    pulses = [c for c in dumps["rules-and-levels"]["check"]["constraints"]
              if c["name"] == "max pulses"]
    assert pulses and isinstance(pulses[0]["limit"], int)  # an int stays an int


def test_the_committed_schema_is_the_models():
    assert SCHEMA_PATH.read_text() == schema_text(), (
        "optimiser/schemas/report.schema.json is stale; regenerate it: python -m optimiser.report")
    assert json.loads(SCHEMA_PATH.read_text()) == Report.model_json_schema() == schema()


@pytest.mark.parametrize("name", list(CASES))
def test_a_real_report_validates_against_the_committed_schema(results, name):
    committed = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(committed)
    report = json.loads(Report.from_result(*results[name], 2.0).to_json())
    jsonschema.validate(report, committed, cls=jsonschema.Draft202012Validator)
    broken = {**report, "budget": {"kind": "days-on", "limit_days": "ten"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, committed, cls=jsonschema.Draft202012Validator)


def test_non_finite_figures_print_as_json_constants(results):
    report = Report.from_result(*results["days-on"], 1.0).model_copy(
        update={"gap": math.inf, "gap_relative": math.nan})
    text = report.to_json()
    assert '"gap": Infinity' in text and '"gap_relative": NaN' in text


@pytest.mark.parametrize("name", list(CASES))
def test_the_table_fits_80_columns_and_breaks_lines_only_between_items(results, name):
    """Each line of a value ends an item: a multi-line value ends every line but the last with
    its separator (',' or ';'), or is one of the phrase rows, and no line is wider than 80."""
    text, rows = table_rows(Report.from_result(*results[name], 1.5))
    assert max(len(line) for line in text.splitlines()) <= 80
    phrases = {"discretisation refined", "range over parameter sets", "study"}
    for label, lines in rows.items():
        if len(lines) > 1 and label not in phrases:
            assert all(line.endswith((",", ";")) for line in lines[:-1]), (label, lines)


def test_the_table_shows_the_report_with_inclusive_days_and_cell_counts(results):
    result, problem = results["rules-and-levels"]
    report = Report.from_result(result, problem, 1.5)
    text, rows = table_rows(report)
    days = report.igf1r_days
    runs = " ".join(rows["IGF-1R inhibitor days"]).split(", ")
    shown = []
    for run in runs:  # inclusive: "3-5" is days 3, 4 and 5
        first, _, last = run.partition("-")
        shown.extend(range(int(first), int(last or first) + 1))
    assert shown == days
    log10 = report.objective.log10_residual_cells
    assert rows["predicted log10 residual cells"] == [f"{log10:.4f} ({10 ** log10:.3g} cells)"]
    for row in ("persister-opt: IGF-1R inhibitor schedule", "max pulses", "dose levels",
                "independent check", "passed: scipy Radau", "time taken", "1.5 s"):
        assert row in text, row


def test_the_dose_row_gives_each_dose_its_inclusive_days(results):
    """Blocks are half-open [start, stop) in the schedule; the table names the days given."""
    from optimiser.report import _doses

    report = Report.from_result(*results["days-on"], 1.0)
    block = type(report.igf1r_blocks[0])
    blocks = [block(start=3, stop=5, dose=12.5, unit="mg/kg"),
              block(start=8, stop=9, dose=25, unit="mg/kg"),
              block(start=9, stop=11, dose=12.5, unit="mg/kg")]
    assert _doses(blocks, 1.0) == ["12.5 mg/kg/day on days 3-4, 9-10",
                                   "25 mg/kg/day on day 8"]
    assert _doses(blocks[1:2], 1.0) == ["25 mg/kg/day"]
    assert _doses([block(start=3, stop=4, dose=5, unit="mg/kg"),
                   block(start=6, stop=6.5, dose=10, unit="mg/kg")], 0.5) == [
        "5 mg/kg per 0.5 d on days 3-3.5", "10 mg/kg per 0.5 d on day 6"]
