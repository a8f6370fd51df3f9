"""What every experiment shares: its settings, the record of what it produced, the provenance
stamped on each output, and the one writer of ``<name>.csv``, ``<name>.md`` and ``<name>.png``.

An experiment module defines ``run(settings, step) -> ExperimentOutput`` and an ``EXPERIMENT``
record; it computes and draws, and never writes files itself, so every output carries the same
provenance in the same form: ``# key: value`` lines heading the CSV (``pd.read_csv(path,
comment="#")`` skips them), a footer of the Markdown file and text chunks of the PNG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from models.parameters import ParameterSet
from models.persister import default_parameters, persister_problem
from models.registry import get_preset
from models.schedule import Schedule
from optimiser.files import write_text_atomic
from optimiser.integer import contiguous_blocks
from optimiser.pipeline import provenance_record, solver_for
from optimiser.plots import require, save_figure
from optimiser.problem import ControlProblem

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Versions beyond provenance_record's: the experiments also depend on these.
EXTRA_PACKAGES = ("optuna", "pandas", "matplotlib")


@dataclass(frozen=True)
class ExperimentSettings:
    """``reduced`` runs a small version (for tests); ``command`` is recorded as provenance."""

    reduced: bool = False
    seed: int = 0
    out_dir: Path = RESULTS_DIR
    parameters: ParameterSet = field(default_factory=default_parameters)
    command: str = ""


class Step(Protocol):
    """An experiment's progress: ``done`` of ``total`` units of its work, and what it did."""

    def __call__(self, done: int, total: int, message: str) -> None: ...


class Progress(Protocol):
    """Progress of a whole run, per experiment (the CLI draws one bar per experiment)."""

    def __call__(self, experiment: str, done: int, total: int, message: str) -> None: ...


@dataclass
class ExperimentOutput:
    """What an experiment found. ``data`` is the CSV; ``table`` the Markdown table (default:
    ``data``, when that is too long to read); ``findings`` the "what it shows" paragraph;
    ``settings`` what the run used (budgets, trial counts, integrator), added to provenance;
    ``formats`` format specs of table columns (default ``.4g``)."""

    data: pd.DataFrame
    figure: Figure
    findings: str
    table: pd.DataFrame | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    run: Callable[[ExperimentSettings, Step], ExperimentOutput]
    # the preset whose model and parameters it runs on, when not model v1 with the settings'
    preset: str | None = None


def provenance(experiment: Experiment, settings: ExperimentSettings,
               output: ExperimentOutput) -> dict[str, str]:
    """Flat ``key: value`` strings; no dates or run times, so reruns that compute the same
    numbers write the same provenance."""
    problem = (get_preset(experiment.preset).problem() if experiment.preset else
               persister_problem(parameters=settings.parameters))
    record = provenance_record(problem, settings.command)
    for package in EXTRA_PACKAGES:
        try:
            record["versions"][package] = version(package)
        except PackageNotFoundError:
            record["versions"][package] = "not installed"
    record.update(experiment=experiment.name, seed=settings.seed, reduced=settings.reduced)
    flat = {}
    for key, value in sorted(record.items()):
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": str(v) for k, v in sorted(value.items())})
        else:
            flat[key] = str(value)
    flat.update({f"setting.{k}": _text(v) for k, v in output.settings.items()})
    return flat


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple, range)):
        return ", ".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table(table: pd.DataFrame, formats: Mapping[str, str]) -> str:
    """The table as Markdown (pandas/tabulate), floats formatted per column."""
    require("tabulate")
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            spec = formats.get(column, ".4g")
            shown[column] = [("" if pd.isna(v) else format(v, spec)) for v in shown[column]]
    return shown.to_markdown(index=False, disable_numparse=True)


def write_outputs(experiment: Experiment, settings: ExperimentSettings,
                  output: ExperimentOutput, seconds: float) -> list[Path]:
    """Write ``<name>.csv``, ``<name>.md`` and ``<name>.png`` under ``settings.out_dir``, each
    atomically and with the same provenance; return the three paths."""
    stamp = provenance(experiment, settings, output)
    out = Path(settings.out_dir)
    csv, md, png = (out / f"{experiment.name}.{suffix}" for suffix in ("csv", "md", "png"))
    header = "".join(f"# {key}: {value}\n" for key, value in stamp.items())
    write_text_atomic(csv, header + output.data.to_csv(index=False))
    table = output.table if output.table is not None else output.data
    footer = "\n".join(f"- {key}: `{value}`" for key, value in stamp.items())
    write_text_atomic(md, (
        f"# {experiment.title}\n\n"
        f"{markdown_table(table, output.formats)}\n\n"
        f"## What it shows\n\n{output.findings}\n\n"
        f"![{experiment.title}]({png.name})\n\n"
        f"Data: [{csv.name}]({csv.name}). Wall time of this run: {seconds:.0f} s.\n\n"
        f"## Provenance\n\n{footer}\n"))
    save_figure(output.figure, png, {"Title": experiment.title, **stamp})
    return [csv, md, png]


def read_provenance(csv: Path) -> dict[str, str]:
    """The ``# key: value`` lines heading a CSV written by ``write_outputs``."""
    stamp = {}
    with open(csv) as handle:
        for line in handle:
            if not line.startswith("# "):
                break
            key, _, value = line[2:].rstrip("\n").partition(": ")
            stamp[key] = value
    return stamp


def free_profile(problem: ControlProblem, schedule: Schedule) -> np.ndarray:
    """Dose fractions of the problem's (single) free control in ``schedule``, per interval."""
    (name,) = problem.free_names
    return schedule.fractions(problem.model)[problem.model.control_names.index(name)]


def block_profile(problem: ControlProblem, start: int, length: int) -> np.ndarray:
    """The on/off profile of the problem's free control with one block of ``length`` days
    from ``start`` (the paper-style schedules every experiment compares against)."""
    w = np.zeros(problem.n_intervals)
    w[start:start + length] = 1.0
    return w


def best_block(problem: ControlProblem, length: int) -> tuple[int, np.ndarray]:
    """The single block of ``length`` allowed days with the best objective by the screening
    simulation (CVODES), and its first day; no drug (from day 0) if no block fits."""
    (name,) = problem.free_names
    blocks = contiguous_blocks(problem.window_mask(name), length)
    if not blocks:
        return 0, block_profile(problem, 0, 0)
    values = solver_for(problem).objectives_of(problem, [w[None, :] for w in blocks])
    block = blocks[int(np.argmin(values))]
    return int(np.argmax(block)), block
