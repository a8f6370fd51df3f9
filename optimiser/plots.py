"""Figures: a schedule's cell trajectories over its dosing timeline, and the Pareto front.

matplotlib is the optional ``plot`` extra, so it is imported inside the functions and the rest of
the package works without it. Every figure gets an Agg canvas of its own (forced Agg for our
figures, no pyplot and no global backend or figure registry to leak), a fixed size and
resolution, and is saved without matplotlib's "Software" entry: the same data give the same bytes,
so committed figures only change when their content does. Provenance goes into PNG text chunks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.errors import InputError
from optimiser.files import atomic_output

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from models.schedule import Schedule
    from optimiser.pareto import FrontPoint
    from optimiser.simulate import Trajectory

PLOT_EXTRA = "pip install -e '.[plot]'"
DPI = 100
CELL_FLOOR = 1e-3  # y-axis floor in cells: smaller counts are far below one cell
FAILURE_FLOOR = 1e-8  # failure probabilities below it are drawn on it
COLOURS = {"S": "tab:blue", "P": "tab:orange", "R": "tab:red", "total": "black"}


class PlotExtraMissing(InputError, ImportError):
    """matplotlib (or tabulate, for tables) is not installed; the message names the extra."""


def require(module: str) -> None:
    """Raise PlotExtraMissing, naming the ``plot`` extra, if ``module`` cannot be imported."""
    try:
        __import__(module)
    except ImportError:
        raise PlotExtraMissing(f"{module} is not installed; figures and tables need the plot "
                               f"extra: {PLOT_EXTRA}") from None


def new_figure(width_in: float, height_in: float) -> Figure:
    """An empty figure on its own Agg canvas, ``width_in`` x ``height_in`` inches at DPI."""
    require("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``figure`` as PNG atomically, ``metadata`` as text chunks (values as strings)."""
    chunks = {"Software": None, **{key: str(value) for key, value in (metadata or {}).items()}}
    with atomic_output(Path(path)) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI, metadata=chunks)
    return Path(path)


def cell_series(trajectory: Trajectory) -> dict[str, np.ndarray]:
    """Every cell compartment (the model's log-scaled states) and the total, if the model has
    a ``total_cells`` output."""
    series = {s.name: trajectory.states[s.name] for s in trajectory.model.states if s.log}
    if "total_cells" in trajectory.model.output_names:
        series["total"] = trajectory.output("total_cells")
    return series


def cell_axis_top(trajectories: Sequence[Trajectory]) -> float:
    """A power of ten above every cell count of ``trajectories``: one y-range for many panels."""
    highest = max(float(np.max(v)) for t in trajectories for v in cell_series(t).values())
    return float(10 ** np.ceil(np.log10(max(highest, 10.0))))


def draw_cells(ax: Axes, trajectory: Trajectory, detection_limit: float | None = None,
               top: float | None = None) -> None:
    """The cell compartments and the total on a log axis from CELL_FLOOR to ``top`` (default:
    this trajectory's), with the one-cell line (eradication) and the detection limit."""
    series = cell_series(trajectory)
    for name, values in series.items():
        ax.plot(trajectory.times, values, label=name, color=COLOURS.get(name),
                linewidth=2.0 if name == "total" else 1.2)
    ax.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="one cell")
    if detection_limit is not None:
        ax.axhline(detection_limit, color="grey", linestyle="--", linewidth=1,
                   label="detection limit")
    ax.set_yscale("log")
    ax.set_ylim(CELL_FLOOR, top or cell_axis_top([trajectory]))
    ax.set_xlim(0, trajectory.times[-1])
    ax.set_ylabel("cells")
    ax.grid(True, which="major", alpha=0.3)


def draw_doses(ax: Axes, schedule: Schedule, drugs: Sequence[str] | None = None) -> None:
    """One row per drug, a bar on each dosing block, bar height proportional to the daily dose
    (full row height = that drug's highest dose, given in the row label)."""
    drugs = list(drugs if drugs is not None else schedule.doses)
    labels = []
    for row, drug in enumerate(drugs):
        blocks = schedule.blocks(drug)
        highest = max((dose for _, _, dose in blocks), default=0.0)
        for start, stop, dose in blocks:
            ax.bar(start, 0.8 * dose / highest, width=stop - start, bottom=row - 0.4,
                   align="edge", color=f"C{row}", edgecolor="none")
        unit = schedule.dose_units.get(drug, "")
        labels.append(drug.replace("_", " ") + (f"\n{highest:g} {unit}/day" if blocks else
                                                "\nnot given"))
    ax.set_yticks(range(len(drugs)), labels, fontsize=8)
    ax.set_ylim(-0.5, max(len(drugs), 1) - 0.5)
    ax.set_xlim(0, schedule.horizon)
    ax.set_xlabel("day")


def draw_no_regrowth(ax: Axes, curve: Mapping[str, Sequence[float]]) -> None:
    """The branching process's chance of no detectable tumour and of no cell left, by day,
    as failure probabilities on a log axis (the survival curve's complement shows the small
    numbers that matter)."""
    days = np.asarray(curve["days"])
    for key, label, style in (("no_regrowth_probability", "detectable tumour by then", "-"),
                              ("cure_probability", "any cell left then", "--")):
        failure = np.maximum(1.0 - np.asarray(curve[key]), FAILURE_FLOOR)
        ax.plot(days, failure, style, color="black", label=label)
    ax.set_yscale("log")
    ax.set_ylim(FAILURE_FLOOR / 2, 1.5)
    ax.set_ylabel("P(failure)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", title=f"branching process (floor "
              f"{FAILURE_FLOOR:g})", title_fontsize=8)


def schedule_figure(trajectory: Trajectory, schedule: Schedule, title: str = "",
                    detection_limit: float | None = None,
                    drugs: Sequence[str] | None = None,
                    curve: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Cells above the dosing timeline; with ``curve`` (a preset's ``no_regrowth_curve``), a
    panel of failure probabilities by day between them."""
    figure = new_figure(8.0, 7.5 if curve else 6.0)
    rows = (3, 1.6, 1) if curve else (3, 1)
    axes = figure.subplots(len(rows), 1, sharex=True, height_ratios=list(rows))
    draw_cells(axes[0], trajectory, detection_limit)
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title(title)
    if curve:
        draw_no_regrowth(axes[1], curve)
    draw_doses(axes[-1], schedule, drugs)
    return figure


def plot_schedule(trajectory: Trajectory, schedule: Schedule, path: Path, title: str = "",
                  detection_limit: float | None = None,
                  metadata: Mapping[str, Any] | None = None,
                  curve: Mapping[str, Sequence[float]] | None = None) -> Path:
    """PNG (800 x 600 px, 800 x 750 with ``curve``) of the cell trajectories above the dosing
    timeline of ``schedule``."""
    drugs = trajectory.model.control_names
    return save_figure(schedule_figure(trajectory, schedule, title, detection_limit, drugs,
                                       curve), path, metadata)


def pareto_figure(points: Sequence[FrontPoint], title: str = "") -> Figure:
    figure = new_figure(7.0, 5.0)
    ax = figure.subplots()
    exposure = [p.exposure_days for p in points]
    ax.plot(exposure, [p.objective for p in points], "o-", color="C0",
            label="schedule on the front")
    bounded = [p for p in points if p.lower_bound is not None]
    if bounded:
        ax.plot([p.exposure_days for p in bounded], [p.lower_bound for p in bounded], "s--",
                color="grey", markersize=4, label="relaxed lower bound at that exposure")
    failed = [p for p in points if not p.check.passed]
    if failed:
        ax.plot([p.exposure_days for p in failed], [p.objective for p in failed], "x",
                color="red", markersize=10, label="failed the independent check")
    ax.set_xlabel("IGF-1R inhibitor exposure (reference-dose days)")
    ax.set_ylabel("log10 residual cells at the horizon")
    ax.set_title(title or "residual tumour against exposure (Pareto front)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def plot_pareto(points: Sequence[FrontPoint], path: Path, title: str = "",
                metadata: Mapping[str, Any] | None = None) -> Path:
    """PNG (700 x 500 px) of the front: residual against exposure, with the relaxed bounds."""
    return save_figure(pareto_figure(points, title), path, metadata)
