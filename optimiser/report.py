"""The report of an ``optimise`` run: the object ``--json`` prints and the table shown otherwise.

``Report.from_result`` builds it from a pipeline ``Result``; ``Report.model_dump(mode="json")``
is the JSON object, and ``table`` renders the rich table. Its JSON Schema is generated from the
pydantic model and committed at ``schemas/report.schema.json`` so that tools without Python can
validate reports; a test fails if the two drift apart. After changing the model, rewrite the
committed file with::

    python -m optimiser.report

Keys that are absent from a report (``study`` without a search, the ``over_scenarios`` of a
non-robust objective, the cell figures of a model without ``total_cells``) are left out, not
given as null. Parts that come from the optimiser core (the check, the solver, the study
summary, the provenance) keep any further keys it adds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_serializer
from rich.table import Table

import constraints
from constraints.budget import BUDGET_KINDS
from models.days import compact_days
from models.schedule import DAYS_PER_MONTH, ScheduleDocument
from optimiser.objectives import Terminal

SCHEMA_ID = "urn:persister-opt:schema:report:v1"
SCHEMA_PATH = Path(__file__).with_name("schemas") / "report.schema.json"
# Non-finite figures print as JSON's Infinity and NaN (as json.dumps always printed them); with
# a model serializer pydantic takes this setting from the outermost model, so every part has it.
_CONFIG = {"ser_json_inf_nan": "constants"}
# A figure the core may give as an int (a pulse count and its limit): kept as it came.
Number = int | float
LOG10_CELLS = "log10_total_cells"  # the objective the cell-count labels are for


class _Part(BaseModel):
    """A part of the report whose optional keys are left out when unset."""

    model_config = ConfigDict(extra="forbid", **_CONFIG)
    optional: ClassVar[tuple[str, ...]] = ()
    # Optional keys whose null means something ("not before the horizon"): left out only when
    # never given.
    nullable: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_unset_optionals(self, handler) -> dict[str, Any]:
        data = handler(self)
        for key in self.optional:
            if data.get(key) is None and not (key in self.nullable
                                              and key in self.model_fields_set):
                data.pop(key, None)
        return data


class _CorePart(_Part):
    """A part the optimiser core fills: further keys are kept as they come."""

    model_config = ConfigDict(extra="allow", **_CONFIG)


class Block(_Part):
    start: float = Field(description="first day (inclusive)")
    stop: float = Field(description="end (exclusive), days")
    dose: float = Field(description="daily dose, in unit")
    unit: str


class DaysOnBudget(_Part):
    kind: Literal["days-on"]
    limit_days: Number
    used_days: Number


class AucBudget(_Part):
    kind: Literal["auc"]
    limit: Number
    used: Number
    unit: str


class AmountBudget(_Part):
    kind: Literal["amount"]
    limit: Number
    used: Number
    unit: str


class Objective(_Part):
    optional = ("log10_residual_cells", "over_scenarios", "scenarios")
    name: str = Field(description="what is optimised (an output, an integral, an exposure)")
    value: float = Field(description="the schedule's objective in the NLP discretisation")
    sense: Literal["min", "max"]
    unit: str
    log10_residual_cells: float | None = Field(
        None, description="the value, where the objective is log10 total cells at the horizon")
    over_scenarios: str | None = Field(None, description="robust: mean or worst")
    scenarios: int | None = Field(None, description="robust: number of parameter sets")


class Bound(_Part):
    optional = ("log10_residual_cells",)
    value: float = Field(description="relaxed optimum on the same grid (a lower bound where "
                                     "the objective is minimised, an upper one where maximised)")
    log10_residual_cells: float | None = None


class FreeDrug(_Part):
    label: str
    days: list[float] = Field(description="start days of the dosing intervals")
    blocks: list[Block]


class ConstraintFigures(_CorePart):
    name: str
    used: Number
    limit: Number
    unit: str
    passed: bool


class NoRegrowthCurve(_CorePart):
    """By each day of follow-up: P(no detectable tumour) and P(no cell left)."""

    days: list[float]
    no_regrowth_probability: list[float]
    cure_probability: list[float]


class NoProgressionByMonth(_CorePart):
    """By each month end from the first response: P(tumour below the detection limit)."""

    months: list[int]
    no_progression_probability: list[float]


class Check(_CorePart):
    optional = ("scenario_objectives", "initial_cells", "minimum_cells", "day_of_minimum",
                "final_cells", "log10_final_cells", "eradicated", "cure_probability",
                "failure_probability", "expected_surviving_lineages", "failure_sources",
                "time_to_regrowth", "no_regrowth_curve", "time_to_progression",
                "no_progression_by_month")
    nullable = ("time_to_regrowth",)
    passed: bool
    integrator: str
    predicted_objective: float
    resimulated_objective: float
    difference: float
    tolerance: Number
    constraints: list[ConstraintFigures] = Field(description="the budget first, then the rules "
                                                             "and limits")
    problems: list[str]
    scenario_objectives: list[float] | None = None
    initial_cells: float | None = None
    minimum_cells: float | None = None
    day_of_minimum: float | None = None
    final_cells: float | None = None
    log10_final_cells: float | None = None
    eradicated: bool | None = None
    cure_probability: float | None = Field(None, description=(
        "P(no cell left at the horizon) under the branching process, exp(-expected surviving "
        "lineages)"))
    failure_probability: float | None = Field(None, description="1 - cure_probability, "
                                                                "computed without cancellation")
    expected_surviving_lineages: float | None = None
    failure_sources: dict[str, float] | None = Field(None, description=(
        "share of the surviving lineages by the population that founded them"))
    time_to_regrowth: float | None = Field(None, description=(
        "first day after treatment the mean tumour reaches the detection limit; null: not "
        "before the horizon"))
    no_regrowth_curve: NoRegrowthCurve | None = None
    time_to_progression: float | None = Field(None, description=(
        "presets with a clinical outcome: first day after its nadir the mean tumour is back at "
        "the detection limit (0: it never fell below)"))
    no_progression_by_month: NoProgressionByMonth | None = None


class Solver(_CorePart):
    status: str
    iterations: int


class Scenarios(_CorePart):
    mode: str
    parameter_sets: list[str]


class Provenance(_CorePart):
    optional = ("scenarios",)
    versions: dict[str, str]
    python: str
    seed: int
    command: str
    model: str
    model_hash: str
    parameter_set: str
    parameter_hash: str
    scenarios: Scenarios | None = None


class Study(_CorePart):
    study: str
    storage: str = Field(description="storage URL, password masked")
    requested_trials: int
    completed_trials: int
    trials_this_run: int
    duplicates_skipped: int
    seconds: float
    best_trial: int | None
    best_objective: float | None
    worker_exit_codes: list[int]


class Report(_Part):
    """What ``optimise --json`` prints."""

    model_config = ConfigDict(
        extra="forbid", title="persister-opt optimise report", **_CONFIG,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "$id": SCHEMA_ID})
    optional = ("study",)
    schedule: ScheduleDocument
    free_drugs: dict[str, FreeDrug] = Field(description="each free drug's dosing")
    igf1r_days: list[float] = Field(description="the first free drug's dosing days")
    igf1r_blocks: list[Block]
    budget: Annotated[DaysOnBudget | AucBudget | AmountBudget, Field(discriminator="kind")] | None
    objective: Objective
    lower_bound: Bound
    gap: float = Field(description="distance of the objective from the bound, on the worse "
                                   "side, in the objective's unit (decades for log10 cells)")
    gap_relative: float
    check: Check = Field(description="the independent re-simulation and rule check")
    solver: Solver
    refinements: int = Field(description=(
        "times every Radau step of the NLP was halved because the check disagreed with the "
        "objective alone "
        "(0: the first discretisation agreed)"))
    timings_s: dict[str, float] = Field(description="seconds per stage; wall: the whole run")
    provenance: Provenance
    study: Study | None = None

    @field_serializer("schedule")
    def _schedule(self, schedule: ScheduleDocument) -> dict[str, Any]:
        return schedule.model_dump(mode="json", exclude_none=True)  # as Schedule.to_json

    @classmethod
    def from_result(cls, result, problem, wall_seconds: float) -> Report:
        """The report of a pipeline ``Result`` of ``problem``, which took ``wall_seconds``.
        The ``igf1r_*`` keys are about the problem's first free drug (the IGF-1R inhibitor of
        the persister preset); ``free_drugs`` has them all."""
        drugs = {}
        for drug in problem.free_names:
            control = problem.model.control(drug)
            drugs[drug] = {"label": control.display_name,
                           "days": result.schedule.dosing_days(drug),
                           "blocks": [{"start": a, "stop": b, "dose": d,
                                       "unit": control.dose_unit}
                                      for a, b, d in result.schedule.blocks(drug)]}
        first = drugs[problem.free_names[0]]
        objective = problem.objective
        cells = isinstance(objective, Terminal) and objective.output == LOG10_CELLS
        return cls.model_validate({
            "schedule": json.loads(result.schedule.to_json()),
            "free_drugs": drugs,
            "igf1r_days": first["days"],
            "igf1r_blocks": first["blocks"],
            "budget": _budget(result, problem),
            "objective": {"name": objective.name, "value": result.objective,
                          "sense": objective.sense, "unit": objective.unit(problem.model),
                          **({"log10_residual_cells": result.objective} if cells else {}),
                          **({"over_scenarios": problem.scenario_mode,
                              "scenarios": problem.n_scenarios} if problem.scenarios else {})},
            "lower_bound": {"value": result.lower_bound,
                            **({"log10_residual_cells": result.lower_bound} if cells else {})},
            "gap": result.gap,
            "gap_relative": result.relative_gap,
            "check": result.check.figures(),
            "solver": {"status": result.relaxed.status, "iterations": result.relaxed.iterations},
            "refinements": result.refinements,
            "timings_s": {**result.timings, "wall": wall_seconds},
            "provenance": result.provenance,
            "study": result.study.summary() if result.study is not None else None,
        })

    def to_json(self) -> str:
        """The JSON text ``--json`` prints."""
        return json.dumps(self.model_dump(mode="json"), indent=2)


def _budget(result, problem) -> dict | None:
    """The first budget's limit and use, as the checker measured them (None without one);
    days-on budgets keep the ``*_days`` keys."""
    index = next((k for k, c in enumerate(problem.constraints)
                  if isinstance(c, BUDGET_KINDS)), None)
    if index is None:
        return None
    figures = result.check.constraints[index]
    if isinstance(problem.constraints[index], constraints.DaysOnBudget):
        return {"kind": "days-on", "limit_days": figures.limit, "used_days": figures.used}
    kind = "auc" if isinstance(problem.constraints[index], constraints.AucBudget) else "amount"
    return {"kind": kind, "limit": figures.limit, "used": figures.used, "unit": figures.unit}


# The table fits an 80-column terminal: each value's lines fit beside the longest label, and
# break only between items (a figure keeps its words).
TABLE_WIDTH = 80
_BORDERS = 7  # "│ " + " │ " + " │"


def table(report: Report) -> Table:
    """The report as the table ``optimise`` prints. Days are inclusive everywhere ("3-12" is
    days 3 to 12, the same as the README and the experiment tables); cell figures are given as
    counts beside their log10."""
    rows = _rows(report)
    width = TABLE_WIDTH - _BORDERS - max(len(label) for label, _, _ in rows)
    drugs = " + ".join(d.label for d in report.free_drugs.values())
    view = Table(title=f"persister-opt: {drugs} schedule", show_header=False)
    view.add_column("quantity", style="bold")
    view.add_column("value")
    for label, items, separator in rows:
        view.add_row(label, _items(items, separator, width))
    return view


def _rows(report: Report) -> list[tuple[str, list[str], str]]:
    """(label, items, separator) per row."""
    check = report.check
    step = report.schedule.grid_step
    rows = []
    for drug in report.free_drugs.values():
        rows.append((f"{drug.label} days",
                     compact_days(drug.days, step, ", ").split(", "), ", "))
        rows.append((f"{drug.label} doses", _doses(drug.blocks, step), "; "))
    objective = report.objective
    cells = objective.log10_residual_cells is not None
    what = "log10 residual cells" if cells else objective.name
    value = [_figure(objective.value, cells, objective.unit)]
    if objective.over_scenarios:
        value.append(f"{objective.over_scenarios} over {objective.scenarios} parameter sets")
    rows.append((f"predicted {what}", value, "; "))
    side = "lower" if objective.sense == "min" else "upper"
    rows.append((f"{side} bound (relaxed)",
                 [_figure(report.lower_bound.value, cells, objective.unit)], ""))
    unit = " decades" if cells else f" {objective.unit}" if objective.unit else ""
    rows.append(("gap", [f"{report.gap:.4f}{unit} ({100 * report.gap_relative:.2f} %)"], ""))
    budget = report.budget
    if isinstance(budget, DaysOnBudget):
        rows.append(("budget used", [f"{budget.used_days:g} of {budget.limit_days:g} days"], ""))
    elif budget is not None:
        name = "AUC budget used" if budget.kind == "auc" else "amount used"
        rows.append((name, [f"{budget.used:.4g} of {budget.limit:.4g} {budget.unit}"], ""))
    for rule in check.constraints:
        if budget is not None and rule is check.constraints[0]:
            continue  # the budget, shown above
        figure = ("" if rule.unit == "1" else f"{rule.used:.4g}, " if not rule.unit
                  else f"{rule.used:.4g} {rule.unit}, ")
        rows.append((rule.name, [figure + ("ok" if rule.passed else "VIOLATED")], ""))
    integrator = check.integrator.split(" (")[0]  # the name, without its tolerances
    rows.append(("independent check", [
        f"{'passed' if check.passed else 'FAILED'}: {integrator}",
        f"re-simulated {check.resimulated_objective:.4f}",
        f"difference {check.difference:.1e}"], ", "))
    if report.refinements:
        outcome = "until the check agreed" if check.passed else "and the check still disagrees"
        rows.append(("discretisation refined",
                     [f"{report.refinements} time(s):", "every Radau step halved", outcome], " "))
    if check.scenario_objectives is not None:
        values = check.scenario_objectives
        rows.append(("range over parameter sets", [
            f"{min(values):.4f} to {max(values):.4f}", f"({integrator}, {len(values)} sets)"],
            " "))
    if check.minimum_cells is not None:
        rows.append(("minimum cells / day",
                     [f"{check.minimum_cells:.3g} on day {check.day_of_minimum:g}"], ""))
    if check.cure_probability is not None:
        rows.append(("cure probability", [f"{check.cure_probability:.4f} (failure "
                                          f"{check.failure_probability:.2e})"], ""))
        rows.append(("failure from", [f"{name} {share:.0%}" for name, share in
                                      (check.failure_sources or {}).items()], ", "))
        regrowth = check.time_to_regrowth
        rows.append(("regrowth (mean tumour)", ["not before the horizon" if regrowth is None
                                                else f"day {regrowth:g}"], ""))
    if check.no_progression_by_month is not None:
        rows.append(("progression (mean tumour)", _progression(check), "; "))
    if report.study is not None:
        study = report.study
        rows.append(("discrete search", [
            f"{study.completed_trials} of {study.requested_trials} trials",
            f"{study.trials_this_run} now", f"{study.duplicates_skipped} duplicates",
            f"best {study.best_objective:.4f}"] if study.best_objective is not None
            else ["no feasible trial"], ", "))
        rows.append(("study", [study.study, f"in {study.storage}"], " "))
    rows.append(("time taken", [f"{report.timings_s['wall']:.1f} s"], ""))
    return rows


def _items(items: list[str], separator: str, width: int) -> str:
    """``items`` joined by ``separator``, with a line break only between two items, so that no
    line is longer than ``width`` (an item longer than that stands on a line of its own)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(separator) + len(item) <= width:
            lines[-1] += separator + item
        elif lines:
            lines[-1] += separator.rstrip()
            lines.append(item)
        else:
            lines.append(item)
    return "\n".join(lines) or "none"


def _doses(blocks: list[Block], step: float) -> list[str]:
    """Each dose with the (inclusive) days it is given on; one dose alone needs no days, the
    row above gives them."""
    days: dict[float, list[float]] = {}
    for block in blocks:
        count = round((block.stop - block.start) / step)
        days.setdefault(block.dose, []).extend(block.start + k * step for k in range(count))
    per = "/day" if step == 1 else f" per {step:g} d"
    unit = blocks[0].unit if blocks else ""
    if len(days) == 1:
        return [f"{next(iter(days)):.4g} {unit}{per}"]
    return [f"{dose:.4g} {unit}{per} on day{'s' if len(on) > 1 else ''} "
            f"{compact_days(on, step, ', ')}" for dose, on in days.items()]


def _figure(value: float, cells: bool, unit: str | None) -> str:
    """An objective's value; a log10 cell count also as the count itself."""
    if cells:
        return f"{value:.4f} ({10.0 ** value:.3g} cells)"
    return f"{value:.4f} {unit}" if unit else f"{value:.4f}"


def _progression(check: Check) -> list[str]:
    """Time to progression in months, then P(no progression) at a few month ends."""
    day = check.time_to_progression
    months = check.no_progression_by_month
    when = ("not before the horizon" if day is None else "no response" if day == 0
            else f"day {day:g} (month {day / DAYS_PER_MONTH:.1f})")
    shown = [(m, p) for m, p in zip(months.months, months.no_progression_probability,
                                    strict=True) if m % 3 == 0]
    return [when, *(f"P(none by month {m}) {p:.2f}" for m, p in shown[:4])]


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the report, generated from pydantic."""
    return Report.model_json_schema()


def schema_text() -> str:
    """The committed file's exact text (stable key order, trailing newline)."""
    return json.dumps(schema(), indent=2) + "\n"


def main() -> None:
    SCHEMA_PATH.parent.mkdir(exist_ok=True)
    SCHEMA_PATH.write_text(schema_text())
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
