"""Figures: a schedule's outcome on one time axis (cells, failure probability, doses, exposure,
glucose), and the Pareto front.

A figure must be readable without the README: every panel is titled and lettered, every axis
says its unit, populations and drugs carry the model's own long names (``State.description``,
``Control.display_name``), cells and drugs use separate colour families, the treatment window is
shaded and its end (where the detection-limit rule starts) marked on every panel, legends sit
beside the data rather than on it, and the title gives the result. The layout follows PyBaMM's
``QuickPlot`` (pybamm-team/PyBaMM, packages/pybamm/src/pybamm/plotting/quick_plot.py: the time
axis labelled with its unit, line 533; legends placed outside the axes, lines 639-644) and
do-mpc's ``default_plot`` (do-mpc/do-mpc, do_mpc/graphics.py: one panel per group sharing the
time axis, line 409; aligned y labels, line 442).

matplotlib is the optional ``plot`` extra, so it is imported inside the functions and the rest of
the package works without it. Every figure gets an Agg canvas of its own (forced Agg for our
figures, no pyplot and no global backend or figure registry to leak), a fixed size and
resolution, and is saved without matplotlib's "Software" entry: the same data give the same bytes,
so committed figures only change when their content does. Provenance goes into PNG text chunks,
as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from constraints.path import GLUCOSE_OUTPUT, GLUCOSE_UNIT, OutputLimit
from models.errors import InputError
from optimiser.files import atomic_output
from optimiser.report import LOG10_CELLS

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from models.model import Model, State
    from models.schedule import Schedule
    from optimiser.pareto import FrontPoint
    from optimiser.pipeline import Result
    from optimiser.problem import ControlProblem
    from optimiser.simulate import Trajectory

PLOT_EXTRA = "pip install -e '.[plot]'"
DPI = 100
WIDTH_IN = 10.0  # schedule figures: room for the legends right of the panels
CELL_FLOOR = 1e-3  # y-axis floor in cells: smaller counts are far below one cell
FAILURE_FLOOR = 1e-8  # failure probabilities below it are drawn on it
EXPOSURE_DECADES = 4  # a log exposure axis spans this many decades below the highest peak
# Cells in cool colours, drugs in warm ones, so no colour means a population in one panel and a
# drug in another; each family is taken in the model's declaration order.
CELL_COLOURS = ("#2166ac", "#7b3294", "#1b9e77", "#5e9fd0")
TOTAL_COLOUR = "black"
DRUG_COLOURS = ("#e66101", "#b2182b", "#c79a00", "#8c510a")
REFERENCE_COLOUR = "0.35"  # one-cell line, detection limit, glucose limit, end of treatment
WINDOW_COLOUR = "0.92"
WINDOW_GID = "treatment window"
END_GID = "end of treatment"
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8,
          "borderaxespad": 0.0, "frameon": False}


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
    """Write ``figure`` as PNG atomically, ``metadata`` as text chunks: strings as they are,
    anything else as JSON (a reader gets the provenance back with ``json.loads``)."""
    chunks = {"Software": None, **{key: value if isinstance(value, str) else
                                   json.dumps(value, sort_keys=True)
                                   for key, value in (metadata or {}).items()}}
    with atomic_output(Path(path)) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI, metadata=chunks)
    return Path(path)


# -- names -------------------------------------------------------------------------------------

def population_label(state: State) -> str:
    """The model's long name of a cell population with its symbol: 'resistant cells (R)'."""
    return f"{state.description} ({state.name})" if state.description else state.name


def drug_label(model: Model, drug: str) -> str:
    """A drug as the model names it (``Control.display_name``, e.g. 'IGF-1R inhibitor')."""
    return model.control(drug).display_name


def exposure_states(model: Model) -> dict[str, State]:
    """{drug: the state holding its plasma concentration or exposure}, for the drugs that have
    one. The model does not link states to controls, so a state counts when its description
    begins with the drug's name or display name and speaks of a concentration or an exposure
    ('igf1r_inhibitor plasma concentration', 'IGF-1R inhibitor exposure rel. to reference
    dose'); a gut compartment ('... in the gut') is not an exposure."""
    found = {}
    for control in model.controls:
        names = (control.name.lower(), control.display_name.lower())
        for state in model.states:
            text = state.description.lower()
            if (not state.log and text.startswith(names)
                    and ("concentration" in text or "exposure" in text)):
                found[control.name] = state
                break
    return found


# -- panels ------------------------------------------------------------------------------------

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
               top: float | None = None, end: float | None = None) -> None:
    """The cell populations (the model's names) and the total on a log axis from CELL_FLOOR to
    ``top`` (default: this trajectory's), with the one-cell line (eradication) and the
    detection limit, drawn from ``end`` (the end of treatment, where its rule starts) on when
    given."""
    states = {s.name: s for s in trajectory.model.states}
    for k, (name, values) in enumerate(cell_series(trajectory).items()):
        total = name == "total"
        ax.plot(trajectory.times, values, linewidth=2.0 if total else 1.3,
                label="total cells" if total else population_label(states[name]),
                color=TOTAL_COLOUR if total else CELL_COLOURS[k % len(CELL_COLOURS)])
    horizon = float(trajectory.times[-1])
    ax.axhline(1.0, color=REFERENCE_COLOUR, linestyle=":", linewidth=1,
               label="1 cell (below: eradicated)")
    if detection_limit is not None:
        rule = f"\n(to stay below from day {end:g})" if end is not None else ""
        ax.hlines(detection_limit, end or 0.0, horizon, color=REFERENCE_COLOUR, linestyle="--",
                  linewidth=1, label=f"detection limit, {detection_limit:.0e} cells{rule}")
    ax.set_yscale("log")
    ax.set_ylim(CELL_FLOOR, top or cell_axis_top([trajectory]))
    ax.set_xlim(0, horizon)
    ax.set_ylabel("cells (number)")
    ax.grid(True, which="major", alpha=0.3)


def draw_doses(ax: Axes, schedule: Schedule, model: Model,
               drugs: Sequence[str] | None = None) -> None:
    """One row per drug (its name from ``model``), a bar on each dosing block, bar height
    proportional to the daily dose (full row height = that drug's highest dose, given in the
    row label); drugs in the warm colour family, in the order given."""
    drugs = list(drugs if drugs is not None else schedule.doses)
    labels = []
    for row, drug in enumerate(drugs):
        blocks = schedule.blocks(drug)
        highest = max((dose for _, _, dose in blocks), default=0.0)
        for start, stop, dose in blocks:
            ax.bar(start, 0.8 * dose / highest, width=stop - start, bottom=row - 0.4,
                   align="edge", color=DRUG_COLOURS[row % len(DRUG_COLOURS)],
                   edgecolor="none")
        unit = schedule.dose_units.get(drug, "")
        labels.append(drug_label(model, drug)
                      + (f"\n{highest:g} {unit}/day" if blocks else "\nnot given"))
    ax.set_yticks(range(len(drugs)), labels, fontsize=8)
    ax.set_ylim(-0.5, max(len(drugs), 1) - 0.5)
    ax.set_xlim(0, schedule.horizon)
    ax.set_xlabel("time (days)")


def draw_no_regrowth(ax: Axes, curve: Mapping[str, Sequence[float]],
                     detection_limit: float | None = None) -> None:
    """The branching process's chance of a detectable tumour and of any cell left, by day,
    as failure probabilities on a log axis (the survival curve's complement shows the small
    numbers that matter)."""
    days = np.asarray(curve["days"])
    limit = f" (≥ {detection_limit:.0e} cells)" if detection_limit is not None else ""
    for key, label, style in (("no_regrowth_probability", f"tumour detectable{limit}", "-"),
                              ("cure_probability", "any cell left (not cured)", "--")):
        failure = np.maximum(1.0 - np.asarray(curve[key]), FAILURE_FLOOR)
        ax.plot(days, failure, style, color=TOTAL_COLOUR, label=label)
    ax.set_yscale("log")
    ax.set_ylim(FAILURE_FLOOR / 2, 1.5)
    ax.set_ylabel("probability")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(**LEGEND, title=f"on each day (values below\n{FAILURE_FLOOR:g} drawn at it)",
              title_fontsize=8, alignment="left")


def draw_exposure(ax: Axes, trajectory: Trajectory, schedule: Schedule,
                  drugs: Sequence[str]) -> str:
    """Each given drug's concentration (or exposure) from the model's PK states; for a model
    without them, its cumulative dose in reference-dose days. A log axis when the drugs' peaks
    differ more than tenfold (linear, the smaller would be a flat line). Returns the panel's
    title."""
    model = trajectory.model
    given = [d for d in drugs if schedule.blocks(d)]
    colours = {d: DRUG_COLOURS[k % len(DRUG_COLOURS)] for k, d in enumerate(drugs)}
    pk = exposure_states(model)
    if given and all(d in pk for d in given):
        states = trajectory.states
        units = {pk[d].unit for d in given}
        for drug in given:
            ax.plot(trajectory.times, states[pk[drug].name], color=colours[drug], linewidth=1.0,
                    label=drug_label(model, drug))
        unit = units.pop() if len(units) == 1 else ""
        relative = unit == "1"
        ax.set_ylabel("exposure\n(ref. dose = 1)" if relative else
                      f"concentration\n({unit})" if unit else "concentration")
        peaks = [float(np.max(states[pk[d].name])) for d in given]
        if max(peaks) > 10 * min(peaks):
            ax.set_yscale("log")
            ax.set_ylim(max(peaks) * 10.0 ** -EXPOSURE_DECADES, 2 * max(peaks))
        else:
            ax.set_ylim(0, 1.1 * max(peaks))
        what = "drug exposure (model state)" if relative else "drug plasma concentration"
    else:
        fractions = schedule.fractions(model)
        for drug in given:
            row = fractions[model.control_names.index(drug)]
            cumulative = np.concatenate([[0.0], np.cumsum(row * schedule.grid_step)])
            ax.plot(schedule.times, cumulative, color=colours[drug],
                    label=drug_label(model, drug))
        ax.set_ylabel("cumulative dose\n(reference-dose days)")
        what = "cumulative drug exposure"
    ax.grid(True, which="major", alpha=0.3)
    if given:
        ax.legend(**LEGEND)
    return what


def draw_glucose(ax: Axes, trajectory: Trajectory, limits: Sequence[OutputLimit] = ()) -> None:
    """Blood glucose (the model's ``glucose`` output) with any limit on it."""
    glucose = trajectory.output(GLUCOSE_OUTPUT)
    ax.plot(trajectory.times, glucose, color=TOTAL_COLOUR, linewidth=1.0, label="blood glucose")
    top = float(np.max(glucose))
    for limit in limits:
        start, stop = limit.window or (0.0, float(trajectory.times[-1]))
        ax.hlines(limit.limit, start, stop, color=REFERENCE_COLOUR, linestyle="--",
                  linewidth=1, label=f"{limit.name}: {limit.limit:g} {limit.unit or GLUCOSE_UNIT}")
        top = max(top, limit.limit)
    bottom = float(np.min(glucose))
    margin = 0.1 * max(top - bottom, 1.0)
    ax.set_ylim(bottom - margin, top + margin)
    ax.set_ylabel(f"glucose\n({GLUCOSE_UNIT})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(**LEGEND)


def mark_treatment(axes: Sequence[Axes], end: float, detection_limit: float | None) -> None:
    """Shade the treatment window [0, ``end``] behind every panel and mark its end, where the
    detection-limit rule starts; the legend entries go to the first panel only."""
    for k, ax in enumerate(axes):
        first = k == 0
        ax.axvspan(0.0, end, color=WINDOW_COLOUR, zorder=0, linewidth=0, gid=WINDOW_GID,
                   label=f"treatment, days 0-{end:g}" if first else None)
        rule = "\n(detection-limit rule starts)" if detection_limit is not None else ""
        ax.axvline(end, color=REFERENCE_COLOUR, linestyle="-.", linewidth=1, gid=END_GID,
                   label=f"end of treatment, day {end:g}{rule}" if first else None)


def result_title(result: Result, problem: ControlProblem) -> str:
    """The figure title of an optimised schedule: what was optimised, then the objective, its
    bound and (where the preset reports it) the cure probability, as the report gives them."""
    objective = problem.objective
    drugs = " + ".join(problem.model.control(d).display_name for d in problem.free_names)
    if getattr(objective, "output", None) == LOG10_CELLS:
        what = f"log10 residual cells at day {problem.horizon:g}"
    else:
        unit = objective.unit(problem.model)
        what = objective.name + (f" ({unit})" if unit else "")
    side = "lower" if result.sense == "min" else "upper"
    cure = result.check.summary.get("cure_probability")
    check = "independent check passed" if result.check.passed else "independent check FAILED"
    return (f"Optimised {drugs} schedule, model {problem.model.name}\n"
            f"{what}: {result.objective:#.3g} ({side} bound {result.lower_bound:#.3g})"
            + (f"; P(cure) {cure:.3f}" if cure is not None else "") + f"; {check}")


# -- figures -----------------------------------------------------------------------------------

def schedule_figure(trajectory: Trajectory, schedule: Schedule, title: str = "",
                    detection_limit: float | None = None,
                    drugs: Sequence[str] | None = None,
                    curve: Mapping[str, Sequence[float]] | None = None,
                    limits: Sequence[OutputLimit] = ()) -> Figure:
    """Panels on one time axis: cells; with ``curve`` (a preset's ``no_regrowth_curve``) the
    failure probabilities by day; the doses of ``drugs`` (default: the model's); their exposure;
    and glucose where the model has it (with ``limits`` on it). The treatment window is shaded
    on every panel."""
    model = trajectory.model
    drugs = list(drugs if drugs is not None else model.control_names)
    panels = ["cells", *(["failure"] if curve else []), "doses", "exposure",
              *(["glucose"] if GLUCOSE_OUTPUT in model.output_names else [])]
    heights = {"cells": 3.0, "failure": 1.5, "doses": 0.4 * len(drugs) + 0.4, "exposure": 1.5,
               "glucose": 1.3}
    rows = [heights[p] for p in panels]
    figure = new_figure(WIDTH_IN, 0.8 * sum(rows) + 1.2)
    axes = dict(zip(panels, figure.subplots(len(rows), 1, sharex=True, height_ratios=rows),
                    strict=True))
    end = schedule.treatment_end
    draw_cells(axes["cells"], trajectory, detection_limit, end=end)
    titles = {"cells": "tumour cells by population (log scale)",
              "failure": "chance the tumour is not controlled (branching process)",
              "doses": "doses (bar height: daily dose relative to the drug's highest)",
              "glucose": "blood glucose"}
    if curve:
        draw_no_regrowth(axes["failure"], curve, detection_limit)
    draw_doses(axes["doses"], schedule, model, drugs)
    titles["exposure"] = draw_exposure(axes["exposure"], trajectory, schedule, drugs)
    glucose_limits = [limit for limit in limits
                      if isinstance(limit, OutputLimit) and limit.output == GLUCOSE_OUTPUT]
    if "glucose" in axes:
        draw_glucose(axes["glucose"], trajectory, glucose_limits)
    mark_treatment(list(axes.values()), end, detection_limit)
    axes["cells"].legend(**LEGEND)
    for k, (panel, ax) in enumerate(axes.items()):
        ax.set_title(f"({chr(ord('a') + k)}) {titles[panel]}", loc="left", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_xlabel("")
    axes[panels[-1]].set_xlabel(f"time ({model.time_unit}s)")
    axes[panels[-1]].set_xlim(0, schedule.horizon)
    # the dose rows name their drugs in the tick labels, wider than the other panels' labels
    figure.align_ylabels([ax for panel, ax in axes.items() if panel != "doses"])
    if title:
        figure.suptitle(title, fontsize=10)
    return figure


def plot_schedule(trajectory: Trajectory, schedule: Schedule, path: Path, title: str = "",
                  detection_limit: float | None = None,
                  metadata: Mapping[str, Any] | None = None,
                  curve: Mapping[str, Sequence[float]] | None = None,
                  limits: Sequence[OutputLimit] = ()) -> Path:
    """PNG (1000 px wide; 80 px per unit of panel height) of ``schedule_figure`` for every drug
    of the model."""
    return save_figure(schedule_figure(trajectory, schedule, title, detection_limit,
                                       trajectory.model.control_names, curve, limits),
                       path, metadata)


def pareto_figure(points: Sequence[FrontPoint], drug: str, title: str = "") -> Figure:
    """Residual against exposure of ``drug`` (its display name) on the front, with the relaxed
    bounds and the schedules that failed the check; the title gives the front's extremes."""
    figure = new_figure(7.0, 5.0)
    ax = figure.subplots()
    exposure = [p.exposure_days for p in points]
    ax.plot(exposure, [p.objective for p in points], "o-", color=DRUG_COLOURS[1],
            label="optimised schedule (one per exposure)")
    bounded = [p for p in points if p.lower_bound is not None]
    if bounded:
        ax.plot([p.exposure_days for p in bounded], [p.lower_bound for p in bounded], "s--",
                color=REFERENCE_COLOUR, markersize=4,
                label="relaxed lower bound at that exposure")
    failed = [p for p in points if not p.check.passed]
    if failed:
        ax.plot([p.exposure_days for p in failed], [p.objective for p in failed], "x",
                color=TOTAL_COLOUR, markersize=10, label="failed the independent check")
    ax.set_xlabel(f"{drug} exposure (reference-dose days)")
    ax.set_ylabel("log10 residual cells at the horizon")
    if not title and points:
        best = min(points, key=lambda p: p.objective)
        title = (f"Residual tumour against {drug} exposure: {len(points)} schedules\n"
                 f"best log10 residual {best.objective:#.3g} at {best.exposure_days:g} days")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return figure


def plot_pareto(points: Sequence[FrontPoint], path: Path, drug: str, title: str = "",
                metadata: Mapping[str, Any] | None = None) -> Path:
    """PNG (700 x 500 px) of the front: residual against exposure, with the relaxed bounds."""
    return save_figure(pareto_figure(points, drug, title), path, metadata)
