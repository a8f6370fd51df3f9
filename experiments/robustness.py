"""How much the schedule's benefit depends on the parameter values: an ensemble of parameter sets
drawn around the defaults (spreads and reasons in ``models/persister/data/ensemble.toml``), and,
for each schedule, the distribution of the residual tumour and of the cure probability (the
branching process's extinction probability) over it.

Schedules compared: the schedule optimised for the nominal parameters, the paper's days 0-9,
continuous combination (four times the budget, a reference), and the robust optimisation
(``--robust N``) in both modes. The robust schedules are optimised on N draws of one seed and
evaluated on the ensemble drawn with another, so their figures are out of sample.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from experiments.framework import (
    Experiment,
    ExperimentOutput,
    ExperimentSettings,
    Step,
    block_profile,
    free_profile,
)
from models.days import compact_days
from models.persister import IGF1R_INHIBITOR, default_ensemble, persister_problem
from models.persister.outcome import DETECTION_LIMIT_CELLS
from optimiser.objectives import Cure
from optimiser.pipeline import optimise, solver_for
from optimiser.plots import new_figure

BUDGET_DAYS = 10
FULL = {"ensemble": 200, "robust_samples": 8}
REDUCED = {"ensemble": 12, "robust_samples": 2}
INTEGRATOR = "CasADi CVODES (BDF, rtol/atol 1e-7), states read daily"
LINEAGES = ("backward extinction equations solved on the CVODES states in the daily "
            "collocation discretisation")
QUANTILES = (0.05, 0.5, 0.95)


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    sizes = REDUCED if settings.reduced else FULL
    nominal = persister_problem(budget_days=BUDGET_DAYS, parameters=settings.parameters)
    ensemble = default_ensemble()
    # Optimisation draws use the seed, evaluation draws the next one: out of sample.
    draws = ensemble.sample(settings.parameters, sizes["ensemble"], settings.seed + 1)
    total_steps = 3 + sizes["ensemble"] // 10
    schedules = {"paper days 0-9": block_profile(nominal, 0, BUDGET_DAYS),
                 "continuous days 0-39": block_profile(nominal, 0, 40)}
    step(0, total_steps, "optimising for the nominal parameters")
    schedules["optimised (nominal)"] = free_profile(nominal, optimise(nominal).schedule)
    robust_values = {}
    for k, mode in enumerate(("mean", "worst")):
        step(1 + k, total_steps, f"robust optimisation ({mode} over "
                                 f"{sizes['robust_samples']} draws)")
        problem = nominal.robust(sizes["robust_samples"], mode, settings.seed, ensemble)
        result = optimise(problem, seed=settings.seed)
        label = f"robust {mode} (N={sizes['robust_samples']})"
        schedules[label] = free_profile(problem, result.schedule)
        robust_values[label] = (result.objective, result.lower_bound, result.check.passed)

    # Daily nodes through the follow-up too (no longer NLP steps over the drug-free tail): the
    # minimum and the regrowth after treatment are read off them.
    daily = replace(nominal, tail_step=None)
    solver = solver_for(daily)
    # The same simulation with the extinction states: log10 expected surviving lineages.
    cure = replace(daily, objective=Cure())
    lineages = solver_for(cure)
    output = nominal.model.output_function("total_cells").map(nominal.n_intervals + 1)
    resistant = nominal.model.state_names.index("R")
    ends = {label: round(nominal.schedule({IGF1R_INHIBITOR: w}).treatment_end
                         / nominal.grid_step) for label, w in schedules.items()}
    rows = []
    for j, draw in enumerate(draws):
        problem = replace(daily, parameters=draw)
        for label, w in schedules.items():
            X, _ = solver.simulate(problem, w[None, :])
            cells = np.asarray(output(X, problem.parameter_vector)).ravel()
            expected = 10 ** lineages.objective_of(replace(cure, parameters=draw), w[None, :])
            rows.append({"schedule": label, "draw": j, "parameter_hash": draw.digest,
                         "log10_residual_cells": float(np.log10(cells[-1])),
                         "resistant_fraction_final": float(np.exp(X[resistant, -1]) / cells[-1]),
                         "minimum_cells": float(cells.min()),
                         "max_cells_after_treatment": float(cells[ends[label]:].max()),
                         "expected_surviving_lineages": expected,
                         "cure_probability": float(np.exp(-expected))})
        if (j + 1) % 10 == 0:
            step(3 + (j + 1) // 10, total_steps, f"{j + 1} of {len(draws)} parameter sets")
    data = pd.DataFrame(rows)
    table = summarise(data, schedules, robust_values)
    return ExperimentOutput(
        data=data, table=table, figure=_figure(data, list(schedules)),
        findings=_findings(table, len(draws), sizes["robust_samples"]),
        settings={"ensemble": ensemble.name, "ensemble_draws": len(draws),
                  "ensemble_seed": settings.seed + 1, "robust_samples": sizes["robust_samples"],
                  "robust_seed": settings.seed, "budget_days": BUDGET_DAYS,
                  "integrator": INTEGRATOR, "lineages": LINEAGES,
                  "detection_limit_cells": DETECTION_LIMIT_CELLS},
        formats={"median_log10_residual_cells": ".3f", "p05_log10_residual_cells": ".3f",
                 "p95_log10_residual_cells": ".3f", "in_sample_objective": ".3f",
                 "in_sample_lower_bound": ".3f",
                 **{f"{name}_cure_probability": ".3f" for name in ("mean", "p05", "p95")},
                 "fraction_eradicated": ".2f", "fraction_no_regrowth": ".2f",
                 "median_resistant_fraction": ".2f"})


def summarise(data: pd.DataFrame, schedules: dict[str, np.ndarray],
              robust_values: dict[str, tuple[float, float, bool]]) -> pd.DataFrame:
    """Per schedule: quantiles of the log10 residual, the mean and 5-95 % range of the cure
    probability, and the fractions of parameter sets in which the tumour fell below one cell
    and stayed below detection."""
    rows = []
    for label, w in schedules.items():
        group = data[data["schedule"] == label]
        values = group["log10_residual_cells"]
        objective, bound, passed = robust_values.get(label, (np.nan, np.nan, None))
        rows.append({
            "schedule": label,
            "igf1r_days": compact_days(np.flatnonzero(w > 0)),
            **{f"{name}_log10_residual_cells": values.quantile(q)
               for name, q in zip(("p05", "median", "p95"), QUANTILES, strict=True)},
            "mean_cure_probability": group["cure_probability"].mean(),
            **{f"{name}_cure_probability": group["cure_probability"].quantile(q)
               for name, q in (("p05", QUANTILES[0]), ("p95", QUANTILES[-1]))},
            "median_resistant_fraction": group["resistant_fraction_final"].median(),
            "fraction_eradicated": float((group["minimum_cells"] < 1.0).mean()),
            "fraction_no_regrowth": float((group["max_cells_after_treatment"]
                                           < DETECTION_LIMIT_CELLS).mean()),
            "in_sample_objective": objective,
            "in_sample_lower_bound": bound,
            "in_sample_check": "" if passed is None else ("passed" if passed else "FAILED"),
        })
    return pd.DataFrame(rows)


def _findings(table: pd.DataFrame, draws: int, samples: int) -> str:
    row = table.set_index("schedule")
    nominal, paper = row.loc["optimised (nominal)"], row.loc["paper days 0-9"]
    mean = row.loc[f"robust mean (N={samples})"]
    worst = row.loc[f"robust worst (N={samples})"]
    better = table.loc[table["median_log10_residual_cells"].idxmin(), "schedule"]
    cured = row.loc[row["mean_cure_probability"].idxmax()]
    return (
        f"Over {draws} parameter sets drawn around the defaults ({INTEGRATOR}), the schedule "
        f"optimised for the nominal parameters ({nominal['igf1r_days']}) leaves a median log10 "
        f"residual of {nominal['median_log10_residual_cells']:.2f} at day 100 (5-95 %: "
        f"{nominal['p05_log10_residual_cells']:.2f} to {nominal['p95_log10_residual_cells']:.2f}"
        f"), against {paper['median_log10_residual_cells']:.2f} for the paper's days 0-9 "
        f"({paper['p05_log10_residual_cells']:.2f} to {paper['p95_log10_residual_cells']:.2f}). "
        f"Out of sample, the robust mean schedule ({mean['igf1r_days']}) has a median of "
        f"{mean['median_log10_residual_cells']:.2f} and the worst-case schedule "
        f"({worst['igf1r_days']}) {worst['median_log10_residual_cells']:.2f}; the lowest median "
        f"of all is {better}. The tumour falls below one cell in "
        f"{nominal['fraction_eradicated']:.0%} of parameter sets with the nominal optimum and "
        f"{paper['fraction_eradicated']:.0%} with the paper's schedule. The cure probability "
        f"(the branching process's, {LINEAGES}) averages, over the parameter sets (5th to 95th "
        f"percentile in brackets), {_cure(nominal)} with the nominal "
        f"optimum and {_cure(paper)} with the paper's schedule; the highest mean is "
        f"{cured['mean_cure_probability']:.3f}, for {cured.name}. With the nominal "
        f"optimum, resistant cells make up a median {nominal['median_resistant_fraction']:.0%} "
        "of what remains at day 100: neither drug kills them, so a schedule lowers them only "
        "by clearing, early, the persisters that seed them.")


def _cure(row: pd.Series) -> str:
    return (f"{row['mean_cure_probability']:.3f} ({row['p05_cure_probability']:.3f} to "
            f"{row['p95_cure_probability']:.3f})")


def _figure(data: pd.DataFrame, labels: list[str]):
    figure = new_figure(13.0, 5.0)
    cells, failure = figure.subplots(1, 2, sharey=True)
    for k, label in enumerate(labels):
        group = data[data["schedule"] == label]
        fraction = np.arange(1, len(group) + 1) / len(group)
        cells.step(np.sort(group["log10_residual_cells"]), fraction, where="post",
                   color=f"C{k}", label=label)
        failure.step(np.sort(-np.expm1(-group["expected_surviving_lineages"])), fraction,
                     where="post", color=f"C{k}", label=label)
    cells.set_xlabel("log10 residual cells at day 100")
    cells.set_ylabel("fraction of parameter sets at or below")
    cells.set_title("residual tumour (empirical CDF)")
    failure.set_xscale("log")
    failure.set_xlabel("failure probability, 1 - P(cure), at day 100")
    failure.set_title("failure probability (empirical CDF)")
    for ax in (cells, failure):
        ax.grid(True, alpha=0.3)
    cells.legend(fontsize=8, loc="lower right")
    figure.suptitle("over the parameter ensemble")
    return figure


EXPERIMENT = Experiment("robustness", "Robustness over a parameter ensemble", run)
