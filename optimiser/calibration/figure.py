"""The figure of a fit: one panel per arm, each subject's measurements and its fitted curve."""

from __future__ import annotations

import math
from pathlib import Path

from optimiser.calibration.fit import FitResult
from optimiser.plots import new_figure, save_figure

PANEL_INCHES = (3.2, 2.4)
MAX_COLUMNS = 5


def fit_figure(result: FitResult, path: Path) -> Path:
    """``draw_fit`` saved as PNG, with the data's digest and the model as text chunks."""
    return save_figure(draw_fit(result), path, {"data sha256": result.observations.digest,
                                                "model": result.model.name})


def draw_fit(result: FitResult, arms: list[str] | None = None, title: str | None = None):
    """Volumes (log axis) against day per arm: dots for the data (open below the detection
    limit), lines for the fit, one colour per subject; the panel title gives the arm and the
    fitted values of its group."""
    arms = arms or result.observations.arms
    columns = min(MAX_COLUMNS, len(arms))
    rows = math.ceil(len(arms) / columns)
    figure = new_figure(PANEL_INCHES[0] * columns, PANEL_INCHES[1] * rows + 0.4)
    axes = figure.subplots(rows, columns, squeeze=False)
    colours = [f"C{k}" for k in range(10)]
    limit = result.options.detection_limit
    for ax, arm in zip(axes.flat, arms, strict=False):
        shown, covering = 0, set()
        for group in result.groups:
            for subject, (days, volume) in zip(group.subjects, group.curves, strict=True):
                if subject.arm != arm:
                    continue
                colour = colours[shown % len(colours)]
                ax.plot(days, volume, color=colour, linewidth=1.0)
                ax.plot(subject.days, [max(v, limit) for v in subject.volumes], "o",
                        color=colour, markersize=2.5,
                        markerfacecolor="none" if min(subject.volumes) < limit else colour)
                shown += 1
                covering.add(group.name)
        groups = [g for g in result.groups if g.name in covering]
        values = (", ".join(f"{name} {value:.3g}" for name, value in groups[0].values().items())
                  if len(groups) == 1 else "fitted per subject")
        ax.set_title(f"{arm} (n={shown})\n{values}", fontsize=7)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
        ax.set_xlabel("day of treatment", fontsize=7)
        ax.set_ylabel("volume (mm$^3$)", fontsize=7)
    for ax in list(axes.flat)[len(arms):]:
        ax.set_visible(False)
    figure.suptitle(title or f"{Path(result.observations.source).name}: fit of "
                    f"{', '.join(result.options.free)} ({result.options.by}); dots data, "
                    "lines fit", fontsize=9)
    return figure
