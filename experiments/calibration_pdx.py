"""What do real xenograft growth curves say about the model? Model v1 (``persister_v1``, with
the tumour-volume observation model) fitted to the vendored NSCLC PDX panel under EGFR TKIs
(``experiments/data/pdx_egfr_tki``: Ortmann et al. 2021, doi:10.1126/scitranslmed.abf4969):

* **per model**: each PDX model's control and TKI arms in one fit of the growth rate ``r_S``,
  the TKI kill rate ``k_S`` and the tolerance (S -> P switching) rate ``alpha``, with each
  mouse's V0 and the measurement error sigma;
* **pooled per drug**: every fitted model treated with that drug (where there are two or
  more), with its controls, in one fit (one parameter set for all those patients' tumours);
* the identifiability of each parameter from each fit (95 % profile likelihood);
* the schedule ``optimise --budget 10d`` returns on each pooled fit's parameters against the
  default ones.

Each TKI stands in for the model's ``osimertinib`` drug at its reference dose (the source gives
no doses). Measurements up to day ``WINDOW_DAYS`` of treatment are used (the model's
osimertinib course is 40 days), and the fitted ranges are widened for patient tumours
(``experiments/data/calibration_pdx.toml``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.framework import (
    Experiment,
    ExperimentOutput,
    ExperimentSettings,
    Step,
)
from models.days import compact_days
from models.observations import Observations, Subject, read_observations
from models.persister import IGF1R_INHIBITOR
from models.registry import get_preset
from optimiser.calibration.figure import draw_fit
from optimiser.calibration.fit import (
    FitOptions,
    FitResult,
    GroupFit,
    fit_observations,
    with_ranges,
)
from optimiser.calibration.outputs import fitted_parameters
from optimiser.pipeline import optimise

PRESET = "persister_v1"
DATA = Path(str(files("experiments") / "data" / "pdx_egfr_tki"))
RANGES = Path(str(files("experiments") / "data" / "calibration_pdx.toml"))
FREE = ("r_S", "k_S", "alpha")
DRUGS = ("erlotinib", "gefitinib", "afatinib", "dacomitinib")
WINDOW_DAYS = 21
# The full run fits these six models (every drug, 2 models each where the panel has them), not
# all 21: a fit with profiles takes 1-4 min on the 2-core machine.
MODELS = ("p12", "p33", "p35", "p40", "p46", "p49")
REDUCED_MODELS = ("p11",)
REDUCED_WINDOW_DAYS = 14
STARTS = 1  # the default set's values: Latin-hypercube starts far from them cost minutes each
BUDGET_DAYS = 10
DAY = pd.Timestamp("2026-12-03").date()  # the fitted sets' source date: reruns stay identical


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    preset = get_preset(PRESET)
    window = REDUCED_WINDOW_DAYS if settings.reduced else WINDOW_DAYS
    observations = read_observations(DATA / "observations.csv", DATA / "schedules").until(
        window)
    parameters = with_ranges(preset.parameters, RANGES)
    models = pdx_models(observations)
    models = {name: models[name] for name in (REDUCED_MODELS if settings.reduced else MODELS)}
    # a drug of one model only would repeat that model's fit
    pooled = {} if settings.reduced else {
        drug: members for drug in DRUGS
        if len(members := [m for m, arms in models.items() if drug in arms]) > 1}
    options = FitOptions(free=FREE, starts=STARTS, seed=settings.seed)
    total = len(models) + len(pooled) + 1 + len(pooled or models)
    done, fits = 0, {}
    for name, arms in models.items():
        names = {s.name for arm in arms.values() for s in arm}
        fits[name] = fit_observations(preset.model, parameters, observations.select(names),
                                      options)
        done += 1
        step(done, total, f"{name}: {_brief(fits[name].groups[0])}")
    for drug, members in pooled.items():
        names = {s.name for m in members for arm in ("control", drug)
                 for s in models[m].get(arm, [])}
        fits[f"pooled {drug}"] = fit_observations(preset.model, parameters,
                                                  observations.select(names), options)
        done += 1
        step(done, total, f"pooled {drug}: {_brief(fits[f'pooled {drug}'].groups[0])}")
    table = identifiability(fits, models)
    schedules = []
    for label, fitted in [("default", None), *[(k, v) for k, v in fits.items()
                                               if k.startswith("pooled") or settings.reduced]]:
        schedules.append(_schedule_row(preset, label, fitted))
        done += 1
        step(done, total, f"schedule on {label}: {schedules[-1]['igf1r_days']}")
    schedule_table = pd.DataFrame(schedules)
    figure = draw_fit(_combined(fits, observations, models),
                      title=f"PDX panel, days 0-{window}: per-model fits of "
                            f"{', '.join(FREE)} (model v1); dots data, lines fit")
    return ExperimentOutput(
        data=table, table=_short(table), figure=figure,
        findings=_findings(table, schedule_table, window),
        settings={"preset": PRESET, "free": list(FREE), "window_days": window,
                  "starts": options.starts, "models": list(models),
                  "pooled": {d: m for d, m in pooled.items()} or "none",
                  "ranges": str(RANGES.name), "budget_days": BUDGET_DAYS,
                  "detection_limit_mm3": options.detection_limit},
        formats={"estimate": ".4g", "lower": ".4g", "upper": ".4g"})


def pdx_models(observations: Observations) -> dict[str, dict[str, list[Subject]]]:
    """PDX model -> arm kind (control or a drug) -> its subjects; models without a TKI arm
    left in the window are left out."""
    models: dict[str, dict[str, list[Subject]]] = {}
    for subject in observations.subjects:
        model, _, kind = subject.arm.partition("_")
        models.setdefault(model, {}).setdefault(kind, []).append(subject)
    return {m: arms for m, arms in sorted(models.items(), key=lambda item: int(item[0][1:]))
            if any(kind in DRUGS for kind in arms)}


def identifiability(fits: dict[str, FitResult], models: dict) -> pd.DataFrame:
    rows = []
    for label, result in fits.items():
        group = result.groups[0]
        drugs = ([label.split()[1]] if label.startswith("pooled") else
                 [kind for kind in models[label] if kind in DRUGS])
        for interval in group.intervals:
            rows.append({"fit": label, "drugs": "+".join(drugs),
                         "subjects": len(group.subjects), "parameter": interval.name,
                         "estimate": interval.estimate, "lower": interval.lower.value,
                         "upper": interval.upper.value, "verdict": interval.verdict,
                         "sigma": group.sigma, "aic": group.aic,
                         "check_ln_difference": group.check_difference})
    return pd.DataFrame(rows)


def _schedule_row(preset, label: str, fitted: FitResult | None) -> dict:
    parameters = (preset.parameters if fitted is None else
                  fitted_parameters(fitted, fitted.groups[0], DAY))
    result = optimise(preset.problem(parameters=parameters, budget_days=BUDGET_DAYS))
    values = {} if fitted is None else fitted.groups[0].values()
    return {"parameters": label, **{n: values.get(n, parameters.values[n].value) for n in FREE},
            "igf1r_days": compact_days(result.schedule.dosing_days(IGF1R_INHIBITOR)),
            "log10_total_cells": result.objective, "bound": result.lower_bound,
            "check_passed": result.check.passed}


def _combined(fits: dict[str, FitResult], observations: Observations,
              models: dict) -> FitResult:
    """The per-model fits as one result, for one figure of every arm."""
    per_model = [fits[m] for m in models]
    groups: list[GroupFit] = [replace(g, name=m) for m, result in zip(models, per_model,
                                                                       strict=True)
                              for g in result.groups]
    arms = {s.arm for g in groups for s in g.subjects}
    return replace(per_model[0], groups=groups, observations=replace(
        observations, subjects=tuple(s for s in observations.subjects if s.arm in arms)))


def _brief(group: GroupFit) -> str:
    return ", ".join(f"{i.name} {i.estimate:.3g} ({i.verdict})" for i in group.intervals)


def _short(table: pd.DataFrame) -> pd.DataFrame:
    """The Markdown table (80 columns): fit, parameter, estimate, interval, verdict."""
    def interval(row) -> str:
        low = "open" if _missing(row["lower"]) else f"{row['lower']:.3g}"
        high = "open" if _missing(row["upper"]) else f"{row['upper']:.3g}"
        return f"{low} - {high}"
    return pd.DataFrame({"fit": table["fit"], "n": table["subjects"],
                         "parameter": table["parameter"], "estimate": table["estimate"],
                         "95 % interval": table.apply(interval, axis=1),
                         "verdict": table["verdict"]})


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _findings(table: pd.DataFrame, schedules: pd.DataFrame, window: float) -> str:
    from experiments.framework import markdown_table

    counts = table.groupby("parameter")["verdict"].value_counts().unstack(fill_value=0)
    lines = [f"{name}: " + ", ".join(f"{int(n)} {verdict}" for verdict, n in row.items() if n)
             for name, row in counts.iterrows()]
    worst = float(np.nanmax(table["check_ln_difference"]))
    return (
        f"Each fit uses the measurements of days 0-{window:g} of treatment; the 95 % intervals "
        "are profile-likelihood intervals (F-based threshold), 'open' where the profile stays "
        "under the threshold up to the end of the documented range (then the data do not bound the "
        "parameter on that side). Verdicts over all fits: " + "; ".join(lines) + ". The "
        f"fitted curves match an independent scipy re-simulation to {worst:.1e} in ln volume "
        "at every measurement. The schedules optimise returns (budget "
        f"{BUDGET_DAYS} d, model v1) on the default parameters and on the fitted ones:\n\n"
        + markdown_table(schedules[["parameters", *FREE, "igf1r_days", "log10_total_cells"]],
                         {"log10_total_cells": ".3f", "alpha": ".3g", "r_S": ".3g",
                          "k_S": ".3g"}))


EXPERIMENT = Experiment("calibration_pdx", "Model v1 fitted to NSCLC PDX volumes under EGFR TKIs",
                        run, preset=PRESET)
