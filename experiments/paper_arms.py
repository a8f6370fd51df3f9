"""The five arms of Wang et al. 2020 (``experiments/arms/*.json``) under the model, simulated with
the independent scipy integrator, beside the outcome the science brief expects for each."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from constraints.budget import DaysOnBudget
from experiments.framework import Experiment, ExperimentOutput, ExperimentSettings, Step
from models.persister import IGF1R_INHIBITOR, OSIMERTINIB, persister_model
from models.persister.outcome import DETECTION_LIMIT_CELLS, outcome
from models.schedule import Schedule
from optimiser.plots import cell_axis_top, draw_cells, draw_doses, new_figure
from optimiser.simulate import RTOL, simulate

ARMS_DIR = Path(__file__).resolve().parent / "arms"
# file stem, label, the brief's expected outcome (its table of arms), in the brief's order
ARMS = (
    ("vehicle", "vehicle", "grows"),
    ("igf1r_inhibitor_alone", "IGF-1R inhibitor alone, days 0-39",
     "grows, little slower than vehicle"),
    ("osimertinib_alone", "osimertinib alone, days 0-39",
     "shrinks, persisters remain, regrows after day 40 (or earlier from R)"),
    ("osimertinib_plus_igf1r_days_0_9", "osimertinib 0-39 + IGF-1R inhibitor days 0-9",
     "eradicated (below one cell), no regrowth"),
    ("osimertinib_plus_igf1r_continuous", "osimertinib 0-39 + IGF-1R inhibitor 0-39",
     "eradicated, but four times the budget"),
)


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    model = persister_model()
    parameters = model.parameter_vector(settings.parameters)
    rows, simulated = [], []
    for k, (stem, label, expected) in enumerate(ARMS):
        schedule = Schedule.read(ARMS_DIR / f"{stem}.json")
        trajectory = simulate(model, parameters, schedule)
        result = outcome(trajectory, schedule, DETECTION_LIMIT_CELLS)
        rows.append({
            "arm": stem, "description": label,
            "osimertinib_days": len(schedule.dosing_days(OSIMERTINIB)),
            "igf1r_inhibitor_days": DaysOnBudget(IGF1R_INHIBITOR, 0.0).check(schedule,
                                                                              model).used,
            **{key: result[key] for key in (
                "initial_cells", "minimum_cells", "day_of_minimum", "final_cells",
                "log10_final_cells", "eradicated", "max_cells_after_treatment", "no_regrowth",
                "cure_probability", "expected_surviving_lineages")},
            "final_resistant_cells": float(trajectory.states["R"][-1]),
            "expected_outcome_science_brief": expected,
        })
        simulated.append((label, schedule, trajectory))
        step(k + 1, len(ARMS), f"{stem}: {result['final_cells']:.3g} cells at day "
                               f"{schedule.horizon:g}")
    data = pd.DataFrame(rows)
    return ExperimentOutput(
        data=data, figure=_figure(simulated, model), findings=_findings(data),
        table=data.drop(columns=["description", "initial_cells", "max_cells_after_treatment",
                                 "expected_surviving_lineages"]),
        settings={"integrator": f"scipy Radau, rtol {RTOL:g}",
                  "detection_limit_cells": DETECTION_LIMIT_CELLS},
        formats={"log10_final_cells": ".3f", "day_of_minimum": ".2f",
                 "igf1r_inhibitor_days": "g", "cure_probability": ".3g"})


def _findings(data: pd.DataFrame) -> str:
    arm = data.set_index("arm")

    def cells(name: str, column: str) -> str:
        return f"{arm.loc[name, column]:.2g}"

    regrows = "regrows" if not arm.loc["osimertinib_alone", "no_regrowth"] else "stays down"
    combined = arm.loc["osimertinib_plus_igf1r_days_0_9"]
    continuous = arm.loc["osimertinib_plus_igf1r_continuous"]
    verdict = ("eradicated (below one cell)" if combined["eradicated"] else "not eradicated")
    return (
        f"Untreated, the tumour grows from {cells('vehicle', 'initial_cells')} to "
        f"{cells('vehicle', 'final_cells')} cells by day 100; the IGF-1R inhibitor alone ends at "
        f"{cells('igf1r_inhibitor_alone', 'final_cells')}. Osimertinib alone shrinks it to "
        f"{cells('osimertinib_alone', 'minimum_cells')} cells on day "
        f"{arm.loc['osimertinib_alone', 'day_of_minimum']:.1f}, but persisters remain and it "
        f"{regrows} to {cells('osimertinib_alone', 'final_cells')}. Adding the inhibitor on days "
        f"0-9 takes the minimum to {combined['minimum_cells']:.2g} cells (day "
        f"{combined['day_of_minimum']:.1f}): {verdict}, and the total "
        f"{'stays' if combined['no_regrowth'] else 'does not stay'} below the detection limit "
        f"of {DETECTION_LIMIT_CELLS:g} cells through follow-up; {combined['final_cells']:.3g} "
        f"cells remain at day 100, {combined['final_resistant_cells']:.3g} of them resistant. "
        f"Giving it on all {continuous['igf1r_inhibitor_days']:g} days "
        f"({continuous['igf1r_inhibitor_days'] / combined['igf1r_inhibitor_days']:g} times the "
        "exposure) reaches "
        f"{continuous['minimum_cells']:.2g} cells and {continuous['final_cells']:.3g} at day 100. "
        f"The chance that no cell is left at day 100 is {combined['cure_probability']:.4f} with "
        f"the inhibitor on days 0-9 and {continuous['cure_probability']:.4f} on all days "
        f"({combined['expected_surviving_lineages']:.3g} and "
        f"{continuous['expected_surviving_lineages']:.3g} expected surviving lineages), although "
        f"{combined['final_cells']:.3g} and {continuous['final_cells']:.3g} cells are expected: "
        "the survivors are rare clones, and most runs of the tumour end with none. "
        "Compare each row with the brief's expected outcome in the last column. Outcomes use the "
        "shared definitions: eradicated = fewer than one expected cell at the minimum; no "
        "regrowth = below the detection limit from the end of treatment to day 100; cure "
        "probability = the extinction probability of the branching process whose mean is the "
        "model, exp(-expected surviving lineages) (not exp(-cells at day 100), which treats "
        "the survivors as independent cells).")


def _figure(simulated: list, model):
    figure = new_figure(16.0, 6.0)
    axes = figure.subplots(2, len(simulated), sharex=True, sharey="row",
                           height_ratios=[3, 1])
    top = cell_axis_top([trajectory for _, _, trajectory in simulated])
    for column, (label, schedule, trajectory) in enumerate(simulated):
        draw_cells(axes[0, column], trajectory, DETECTION_LIMIT_CELLS, top,
                   end=schedule.treatment_end)
        axes[0, column].set_title(label.replace(" + ", "\n+ "), fontsize=9)
        draw_doses(axes[1, column], schedule, model, model.control_names)
    for ax in axes.flat:
        ax.label_outer()
    # the legend of a treated arm: its detection-limit entry names the day treatment ends
    figure.legend(*axes[0, -1].get_legend_handles_labels(), loc="outside right upper",
                  fontsize=7)
    return figure


EXPERIMENT = Experiment("paper_arms", "The paper's five arms under the default model", run)
