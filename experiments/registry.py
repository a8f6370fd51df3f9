"""Which experiments exist, in the order ``all`` runs them, and running them by name."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from experiments import (
    budget_sweep,
    calibration_pdx,
    cure_curve,
    foxa1_vs_igf1r,
    method_comparison,
    paper_arms,
    robustness,
    sensitivity,
    timing_map,
)
from experiments.framework import Experiment, ExperimentSettings, Progress, write_outputs
from models.errors import InputError

# The one place an experiment is registered, in the order ``all`` runs them.
EXPERIMENTS: dict[str, Experiment] = {experiment.name: experiment for experiment in (
    paper_arms.EXPERIMENT,
    budget_sweep.EXPERIMENT,
    cure_curve.EXPERIMENT,
    timing_map.EXPERIMENT,
    robustness.EXPERIMENT,
    method_comparison.EXPERIMENT,
    sensitivity.EXPERIMENT,
    foxa1_vs_igf1r.EXPERIMENT,
    calibration_pdx.EXPERIMENT,
)}


class UnknownExperimentError(InputError):
    """An experiment name that is not registered; the message lists the known ones."""


def select(names: Sequence[str] | Literal["all"]) -> list[Experiment]:
    """The experiments named (all of them for ``"all"``), in registry order, each once."""
    if names == "all":
        return list(EXPERIMENTS.values())
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown or not names:
        raise UnknownExperimentError(
            f"unknown experiment {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"known: {', '.join(EXPERIMENTS)} (or all)")
    return [experiment for name, experiment in EXPERIMENTS.items() if name in names]


def run_experiments(names: Sequence[str] | Literal["all"], settings: ExperimentSettings,
                    progress: Progress | None = None) -> list[Path]:
    """Run the experiments named and write their outputs; names are checked before anything
    runs. Returns the paths written (CSV, Markdown, PNG per experiment)."""
    report = progress or (lambda _experiment, _done, _total, _message: None)
    paths = []
    for experiment in select(names):
        last = [0, 1]

        def step(done: int, total: int, message: str, name: str = experiment.name,
                 last: list[int] = last) -> None:
            last[:] = [done, total]
            report(name, done, total, message)

        report(experiment.name, 0, 1, "starting")
        started = time.perf_counter()
        output = experiment.run(settings, step)
        seconds = time.perf_counter() - started
        written = write_outputs(experiment, settings, output, seconds)
        report(experiment.name, last[1], last[1],
               f"done in {seconds:.0f} s: {', '.join(p.name for p in written)}")
        paths.extend(written)
    return paths
