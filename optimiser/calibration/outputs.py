"""What a fit writes: per group a parameter set and an ensemble, and for all groups fit.json.

* ``fitted.toml``: the base parameter set with the fitted values (in each entry's own unit),
  their ``source = "fit: <data digest>, <date>"`` and the 95 % interval in the description; the
  other entries are copied with their sources, and every range is kept, so ``optimise
  --parameters fitted.toml`` runs on it directly. ``V0`` is the geometric mean of the subjects'.
* ``ensemble.toml``: the fit's uncertainty as an ensemble (``models.ensemble``) built from the
  profile intervals: a log-normal spread whose 95 % range is the interval (gsd = exp(half-width
  in ln / 1.96)) for a parameter the data bound on both sides, a uniform spread over the
  documented range for one they do not. ``optimise --parameters fitted.toml --ensemble
  ensemble.toml --robust N`` optimises over draws from it.
* ``fit.json``: estimates, intervals and their verdicts, -ln L, AIC, sigma, every subject's V0
  and residuals, the starts, the re-simulation check and the timings.

With ``--by arm`` or ``--by subject`` the two TOML files of each group go into
``groups/<group>/``; with a pooled fit into the output directory itself.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from models.parameters import ParameterSet, convert, toml_value
from optimiser.calibration.fit import FitResult, GroupFit
from optimiser.calibration.profile import LEVEL
from optimiser.files import write_text_atomic


def group_directory(out: Path, result: FitResult, group: GroupFit) -> Path:
    return out if result.options.by == "pooled" else out / "groups" / group.name


def write_fit(result: FitResult, out: Path, today: datetime.date | None = None) -> list[Path]:
    """Every output file of the fit (not the figure); returns their paths."""
    today = today or datetime.date.today()
    written = []
    for group in result.groups:
        directory = group_directory(out, result, group)
        fitted = fitted_parameters(result, group, today)
        written.append(directory / "fitted.toml")
        write_text_atomic(written[-1], fitted.to_toml())
        written.append(directory / "ensemble.toml")
        write_text_atomic(written[-1], ensemble_toml(result, group))
    written.append(out / "fit.json")
    write_text_atomic(written[-1], json.dumps(fit_summary(result), indent=2) + "\n")
    return written


def fitted_parameters(result: FitResult, group: GroupFit, today: datetime.date) -> ParameterSet:
    base, model = result.parameters, result.model
    source = f"fit: {result.observations.digest}, {today.isoformat()}"
    values = dict(base.values)
    for interval in group.intervals:
        entry = values[interval.name]
        unit = model.parameters[model.parameter_names.index(interval.name)].unit
        values[interval.name] = replace(
            entry, value=convert(interval.estimate, unit, entry.unit), source=source,
            description=f"{interval.verdict}; 95 % profile interval "
                        f"{_end_text(interval.lower.value, unit, entry.unit)} to "
                        f"{_end_text(interval.upper.value, unit, entry.unit)} {entry.unit} "
                        f"({group.name}, {len(group.subjects)} subjects); was {entry.value:g} "
                        f"({entry.source})")
    v0 = float(np.exp(np.mean(group.estimate.log_v0)))
    values["V0"] = replace(values["V0"], value=convert(v0, "mm^3", values["V0"].unit),
                           source=source, description=f"geometric mean of the "
                           f"{len(group.subjects)} subjects' fitted initial volumes")
    return ParameterSet(f"{base.name}-fit-{group.name}", values,
                        f"{base.name} with {', '.join(result.options.free)} fitted to "
                        f"{Path(result.observations.source).name} ({group.name})")


def ensemble_toml(result: FitResult, group: GroupFit) -> str:
    lines = ["[meta]", f"name = {toml_value(f'fit-{group.name}')}",
             "description = " + toml_value(
                 f"uncertainty of the fit of {', '.join(result.options.free)} to "
                 f"{Path(result.observations.source).name} ({group.name}), from its "
                 f"{LEVEL:.0%} profile-likelihood intervals")]
    for interval in group.intervals:
        lines += ["", f"[spread.{interval.name}]"]
        if interval.identifiable:
            half = (math.log(interval.upper.value) - math.log(interval.lower.value)) / 2
            lines += [f"gsd = {toml_value(round(math.exp(half / interval.root), 6))}",
                      "reason = " + toml_value(
                          f"log-normal whose 95 % range is the profile interval "
                          f"{interval.lower.value:.4g} to {interval.upper.value:.4g}")]
        else:
            lines += ["uniform = true", "reason = " + toml_value(
                f"{interval.verdict} from these data: uniform over the documented range")]
    return "\n".join(lines) + "\n"


def fit_summary(result: FitResult) -> dict:
    observations, options = result.observations, result.options
    return {
        "data": {"file": observations.source, "sha256_12": observations.digest,
                 "subjects": len(observations.subjects), "arms": observations.arms,
                 "measurements": observations.n_measurements},
        "model": result.model.name,
        "parameter_set": result.parameters.name,
        "options": {"free": list(options.free), "by": options.by,
                    "dead_cells": options.dead_cells,
                    "detection_limit_mm3": options.detection_limit, "starts": options.starts,
                    "seed": options.seed, "max_step_days": options.max_step},
        "level": LEVEL,
        "groups": [_group_summary(result, group) for group in result.groups],
    }


def _group_summary(result: FitResult, group: GroupFit) -> dict:
    model = result.model
    residual = group.subject_residuals()
    return {
        "name": group.name,
        "subjects": len(group.subjects),
        "measurements": group.n_measurements,
        "estimates": {
            interval.name: {
                "value": interval.estimate,
                "unit": model.parameters[model.parameter_names.index(interval.name)].unit,
                "lower": interval.lower.value, "upper": interval.upper.value,
                "verdict": interval.verdict, "identifiable": interval.identifiable,
                "threshold_neg_log_likelihood": interval.threshold,
                "range": group.nlp.bounds[k].tolist(),
                "profile": {"lower": interval.lower.points, "upper": interval.upper.points},
                **({"profile_found_lower_nll_by": interval.better_optimum}
                   if interval.better_optimum is not None else {}),
            } for k, interval in enumerate(group.intervals)},
        "sigma": group.sigma,
        "neg_log_likelihood": group.estimate.nll,
        "log_likelihood": -group.estimate.nll,
        "aic": group.aic,
        "estimated_quantities": group.n_estimated,
        "subjects_fit": [
            {"subject": s.name, "arm": s.arm, "V0_mm3": float(np.exp(group.estimate.log_v0[i])),
             "residuals_ln": [None if math.isnan(r) else r for r in residual[s.name].tolist()],
             "rms_residual_ln": _rms(residual[s.name])}
            for i, s in enumerate(group.subjects)],
        "check": {"max_abs_difference_ln_volume": group.check_difference,
                  "method": "scipy re-simulation (rtol 1e-10) at the estimates"},
        "starts": group.starts,
        "timings_s": group.timings | {"nlp_variables": int(group.estimate.z.size)},
    }


def _rms(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(finite ** 2))) if finite.size else None


def _end_text(value: float | None, unit: str, to_unit: str) -> str:
    return "open (range end)" if value is None else f"{convert(value, unit, to_unit):.4g}"
