"""Would a FOXA1 inhibitor do better? Model v2 in mice (preset ``persister_v2``), osimertinib on
days 0-39, and three strategies: the IGF-1R inhibitor only, the (hypothetical) FOXA1 inhibitor
only, and both. Each at two budgets:

* **equal**: 10 dosing days of each drug, the schedule ``optimise`` returns (both drugs
  optimised jointly, 10 days each); the reduced run takes days 0-9 instead of optimising;
* **shortest**: the shortest course from day 0 (days 0..L-1 of each drug of the strategy) whose
  cure probability reaches 95 %, by the screening simulation; none if 40 days do not.

Every schedule is then re-simulated with the glucose variant by the independent scipy check:
P(cure) from the branching process, P(no regrowth by day 100), persisters at day 14, peak
glucose and the exposure of each drug (mg/kg in all).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from experiments.framework import (
    Experiment,
    ExperimentOutput,
    ExperimentSettings,
    Step,
    block_profile,
)
from models.persister import IGF1R_INHIBITOR, OSIMERTINIB
from models.persister.v2 import FOXA1_INHIBITOR
from models.registry import get_preset
from models.schedule import Schedule
from optimiser.objectives import Cure
from optimiser.pipeline import optimise, solver_for
from optimiser.plots import new_figure
from optimiser.simulate import simulate

PRESET = "persister_v2"
BUDGET_DAYS = 10
TARGET_CURE = 0.95
PERSISTER_DAY = 14.0
FULL_LENGTHS = tuple(range(1, 41))
REDUCED_LENGTHS = (5, 10, 20, 40)
STRATEGIES = {"IGF-1R inhibitor only": (IGF1R_INHIBITOR,),
              "FOXA1 inhibitor only": (FOXA1_INHIBITOR,),
              "both": (IGF1R_INHIBITOR, FOXA1_INHIBITOR)}
# the Markdown table's columns (80 characters wide); the CSV has them all
TABLE = {"strategy": "strategy", "budget": "budget", "igf1r_days": "igf1r d",
         "foxa1_days": "foxa1 d", "cure_probability": "P(cure)",
         "no_regrowth_by_day_100": "P(no regrowth)", "persisters_day_14": "P d14",
         "peak_glucose_mg_dl": "glucose"}
CHECK = "scipy LSODA between dose events (rtol 1e-10), glucose variant"


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    preset = get_preset(PRESET)
    lengths = REDUCED_LENGTHS if settings.reduced else FULL_LENGTHS
    glucose_model = preset.model_with(("glucose",))
    vector = glucose_model.parameter_vector(preset.parameters)
    rows = []
    for k, (label, drugs) in enumerate(STRATEGIES.items()):
        budgets = {drug: float(BUDGET_DAYS) for drug in drugs}
        problem = preset.problem(free=drugs, budgets=budgets)
        if settings.reduced:
            equal = _block_schedule(problem, drugs, BUDGET_DAYS)
        else:
            equal = optimise(problem, command=settings.command).schedule
        length = _shortest_course(preset, drugs, lengths)
        for budget, schedule in (("equal", equal), ("shortest", length and
                                                    _block_schedule(problem, drugs, length))):
            row = {"strategy": label, "budget": budget}
            if schedule is not None:
                trajectory = simulate(glucose_model, vector, schedule)
                row.update(_figures(preset, trajectory, schedule))
            rows.append(row)
        step(k + 1, len(STRATEGIES), f"{label}: shortest course "
                                     f"{'none' if length is None else f'{length} d'}")
    data = pd.DataFrame(rows)
    return ExperimentOutput(
        data=data, table=data[list(TABLE)].rename(columns=TABLE), figure=_figure(data),
        findings=_findings(data),
        settings={"preset": PRESET, "budget_days": BUDGET_DAYS, "target_cure": TARGET_CURE,
                  "lengths_days": list(lengths), "check": CHECK,
                  "equal_schedules": "days 0-9" if settings.reduced else "optimised"},
        formats={"igf1r d": ".0f", "foxa1 d": ".0f", "P(cure)": ".4f",
                 "P(no regrowth)": ".4f", "glucose": ".0f", "P d14": ".3g"})


def _block_schedule(problem, drugs: tuple[str, ...], length: int) -> Schedule:
    """Days 0..length-1 of every drug of the strategy, with the preset's osimertinib."""
    return problem.schedule({drug: block_profile(problem, 0, length) for drug in drugs},
                            source="foxa1_vs_igf1r day-0 course")


def _shortest_course(preset, drugs: tuple[str, ...], lengths) -> int | None:
    """The shortest day-0 course of ``lengths`` whose screened P(cure) reaches the target."""
    problem = preset.problem(free=drugs, objective=Cure(), budget_days=max(lengths))
    solver = solver_for(problem)
    for length in lengths:
        profile = np.array([block_profile(problem, 0, length)] * len(drugs))
        if math.exp(-10 ** solver.objective_of(problem, profile)) >= TARGET_CURE:
            return length
    return None


def _figures(preset, trajectory, schedule: Schedule) -> dict:
    result = preset.outcome(trajectory, schedule, preset.detection_limit)
    persisters = float(np.interp(PERSISTER_DAY, trajectory.times, trajectory.states["P"]))
    return {
        "igf1r_days": len(schedule.dosing_days(IGF1R_INHIBITOR)),
        "foxa1_days": len(schedule.dosing_days(FOXA1_INHIBITOR)),
        "igf1r_mg_per_kg": float(np.sum(schedule.doses.get(IGF1R_INHIBITOR, 0.0))),
        "foxa1_mg_per_kg": float(np.sum(schedule.doses.get(FOXA1_INHIBITOR, 0.0))),
        "cure_probability": result["cure_probability"],
        "no_regrowth_by_day_100": result["no_regrowth_curve"]["no_regrowth_probability"][-1],
        "persisters_day_14": persisters,
        "peak_glucose_mg_dl": float(np.max(trajectory.output("glucose"))),
        "osimertinib_days": len(schedule.dosing_days(OSIMERTINIB)),
    }


def _findings(data: pd.DataFrame) -> str:
    def describe(row) -> str:
        if pd.isna(row.get("cure_probability")):
            return f"{row['strategy']}: no day-0 course of up to 40 days reaches the target"
        return (f"{row['strategy']} ({row['igf1r_days']:.0f} d IGF-1R inhibitor, "
                f"{row['foxa1_days']:.0f} d FOXA1 inhibitor): P(cure) "
                f"{row['cure_probability']:.3f}, peak glucose {row['peak_glucose_mg_dl']:.0f} "
                "mg/dL")

    equal = "; ".join(describe(row) for _, row in data[data.budget == "equal"].iterrows())
    shortest = "; ".join(describe(row) for _, row in data[data.budget == "shortest"].iterrows())
    return (f"Model v2 in mice ({PRESET}), osimertinib on days 0-39. At an equal budget of "
            f"{BUDGET_DAYS} dosing days per drug: {equal}. The shortest course from day 0 "
            f"that cures with {TARGET_CURE:.0%} probability: {shortest}. Glucose rises only "
            "with the IGF-1R inhibitor, which also blocks the insulin receptor; the FOXA1 "
            "inhibitor leaves it at its basal level. Columns: dosing days of each inhibitor, "
            "P(no regrowth) by day 100, P d14 = persisters at day 14 (cells), glucose = peak "
            "blood glucose (mg/dL); the CSV adds the exposures (mg/kg). Each schedule "
            "re-simulated by "
            f"{CHECK}. The FOXA1 inhibitor is hypothetical: its PK and potency are "
            "assumptions (models/persister/data/v2.toml).")


def _figure(data: pd.DataFrame):
    figure = new_figure(10.0, 4.2)
    cure, glucose = figure.subplots(1, 2)
    labels = list(STRATEGIES)
    x = np.arange(len(labels))
    for offset, (budget, colour) in zip((-0.2, 0.2), (("equal", "tab:blue"),
                                                      ("shortest", "tab:orange")), strict=True):
        part = data[data.budget == budget].set_index("strategy").reindex(labels)
        failure = -np.log10(np.clip(1 - part["cure_probability"].to_numpy(float), 1e-12, 1))
        cure.bar(x + offset, failure, width=0.4, color=colour,
                 label=f"{BUDGET_DAYS} d per drug" if budget == "equal" else
                 f"shortest day-0 course to P(cure) {TARGET_CURE:.0%}")
        glucose.bar(x + offset, part["peak_glucose_mg_dl"], width=0.4, color=colour)
        for ax in (cure, glucose):
            for k in np.flatnonzero(part["cure_probability"].isna().to_numpy()):
                ax.text(x[k] + offset, 0.02, "none in\n40 d", ha="center", va="bottom",
                        fontsize=7, color=colour, transform=ax.get_xaxis_transform())
    cure.set_ylabel("-log10 P(failure)  (higher: more likely cured)")
    cure.axhline(-math.log10(1 - TARGET_CURE), color="grey", linestyle=":", linewidth=1)
    glucose.set_ylabel("peak blood glucose (mg/dL)")
    for ax in (cure, glucose):
        ax.set_xticks(x, [label.replace(" only", "\nonly") for label in labels])
    cure.legend(fontsize=8, loc="upper left")
    cure.set_title("cure probability (branching process)", fontsize=10)
    glucose.set_title("peak glucose (Bergman minimal model)", fontsize=10)
    return figure


EXPERIMENT = Experiment("foxa1_vs_igf1r", "FOXA1 inhibitor against IGF-1R inhibitor (model v2)",
                        run, preset=PRESET)
