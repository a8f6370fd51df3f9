"""Outcome figures of a simulated schedule, with the shared definitions of the science brief:
eradicated at t means N(t) < 1 cell; no regrowth means N stays below the detection limit from the
end of treatment to the horizon; the cure probability is the extinction probability of the
branching process whose mean is the ODE (``models.branching``), exp(-expected surviving
lineages), not exp(-N), which treats surviving cells as independent."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from models.schedule import DAYS_PER_MONTH, Schedule

if TYPE_CHECKING:  # pragma: no cover - any object with times, output() and lineages will do
    from optimiser.simulate import Trajectory

DETECTION_LIMIT_CELLS = 1e6  # about 1 mm^3: "no regrowth" means staying below it (science brief)
# About 1 cm^3 (1e9 cells per cm^3, doi:10.4161/cc.8.3.7608), a lesion CT measures reliably.
CLINICAL_DETECTION_LIMIT_CELLS = 1e9
FOUNDERS = {"S": "sensitive", "P": "persister", "R": "pre-existing resistant"}


def regrowth_day(trajectory: Trajectory, end: float, limit: float) -> float | None:
    """The first sampled day after ``end`` on which the mean tumour reaches ``limit`` cells
    (None: not before the horizon)."""
    total = trajectory.output("total_cells")
    after = (trajectory.times >= end) & (total >= limit)
    return float(trajectory.times[np.argmax(after)]) if after.any() else None


def cell_summary(trajectory: Trajectory, detection_limit: float = DETECTION_LIMIT_CELLS) -> dict:
    """Minimum and final burden, and the cure probability of the branching process with the
    founding population of the lineages that survive (acquired resistance counts under the
    sensitive or persister founder it came from)."""
    total = trajectory.output("total_cells")
    k = int(np.argmin(total))
    end = trajectory.treatment_end
    curve, lineages = no_regrowth_curve(trajectory, end, detection_limit)
    expected = float(lineages.expected[-1])
    return {
        "initial_cells": float(total[0]),
        "minimum_cells": float(total[k]),
        "day_of_minimum": float(trajectory.times[k]),
        "final_cells": float(total[-1]),
        "log10_final_cells": float(np.log10(total[-1])),
        "eradicated": bool(total[k] < 1.0),
        "cure_probability": float(math.exp(-expected)),
        "failure_probability": float(-math.expm1(-expected)),
        "expected_surviving_lineages": expected,
        "failure_sources": {FOUNDERS.get(name, name): float(share) for name, share in
                            zip(lineages.populations, lineages.shares[:, -1], strict=True)},
        "time_to_regrowth": regrowth_day(trajectory, end, detection_limit),
        "no_regrowth_curve": curve,
    }


def progression_summary(trajectory: Trajectory,
                        detection_limit: float = CLINICAL_DETECTION_LIMIT_CELLS) -> dict:
    """``cell_summary`` at the clinical detection limit, with time to progression: the first
    day after the mean burden's nadir on which it is back at the limit (day 0 if it never falls
    below it: no response; None: not before the horizon), and P(no progression) by each month
    end from the first one at which the mean burden is below the limit (before it the tumour is
    still responding): P(fewer than ``detection_limit`` cells) of the branching process, as in
    ``no_regrowth_curve``. A month-end snapshot stands for "by then": a clone past the limit
    has rarely shrunk back below it under the treatment that let it grow."""
    summary = cell_summary(trajectory, detection_limit)
    times, total = trajectory.times, trajectory.output("total_cells")
    nadir = int(np.argmin(total))
    progression: float | None = 0.0
    if total[nadir] < detection_limit:
        back = (np.arange(times.size) > nadir) & (total >= detection_limit)
        progression = float(times[np.argmax(back)]) if back.any() else None
    months = np.arange(1, int(times[-1] / DAYS_PER_MONTH + 1e-9) + 1)
    ends = months * DAYS_PER_MONTH
    below = np.interp(ends, times, total) < detection_limit
    responding = np.cumsum(below) > 0
    months, ends = months[responding], ends[responding]
    probability: list[float] = []
    if months.size:
        lineages = trajectory.lineages_at(ends)
        mean = np.interp(ends, times, total)
        probability = (1.0 - detectable_probability(lineages.expected, mean, detection_limit)
                       ).tolist()
    return {**summary, "time_to_progression": progression,
            "no_progression_by_month": {"months": months.tolist(),
                                        "no_progression_probability": probability}}


def no_regrowth_curve(trajectory: Trajectory, start: float, limit: float) -> tuple:
    """P(no detectable tumour, fewer than ``limit`` cells) on each day from ``start`` to the
    horizon. With Lambda(t) lineages expected alive at t (a Poisson number) and m(t) mean
    cells, each surviving clone is taken as exponential with mean m / Lambda (a geometric
    clone, exact for one population), so the tumour is a compound Poisson sum
    (``detectable_probability``). Also returns the extinction figures by each day (the horizon
    last), from the same backward sweep."""
    horizon = float(trajectory.times[-1])
    days = np.union1d(np.arange(math.ceil(max(start, 1.0)), horizon, dtype=float), [horizon])
    lineages = trajectory.lineages_at(days)
    mean = np.interp(days, trajectory.times, trajectory.output("total_cells"))
    detectable = detectable_probability(lineages.expected, mean, limit)
    return {"days": days.tolist(), "no_regrowth_probability": (1.0 - detectable).tolist(),
            "cure_probability": lineages.cure_probability.tolist()}, lineages


def detectable_probability(expected, mean, limit: float):
    """P(at least ``limit`` cells) for a Poisson(``expected``) number of clones, each
    exponential with mean ``mean / expected`` (elementwise over arrays). With the limit y in
    clone means, P(Gamma(k) < y) = P(Poisson(y) >= k), so the tumour is below the limit exactly
    when M - K >= 0 for independent M ~ Poisson(y) and K ~ Poisson(expected): a Skellam
    variable, whose distribution scipy evaluates in closed form (noncentral chi-square) at any
    count. (A sum over the Poisson mass took 24 sqrt(expected) terms, 50 ms at the human
    preset's 1e8 lineages, and lost up to 4e-8 to round-off there.)"""
    expected, mean = np.asarray(expected, dtype=float), np.asarray(mean, dtype=float)
    live = (expected > 0) & (mean > 0)
    clones = np.where(live, expected, 1.0)
    scaled_limit = limit * clones / np.where(live, mean, 1.0)  # the limit in clone means
    with np.errstate(invalid="ignore"):  # Skellam needs y > 0; y = 0 leaves extinction
        below = np.where(scaled_limit > 0, stats.skellam.sf(-1, scaled_limit, clones),
                         np.exp(-clones))
    detectable = np.where(live, np.clip(1.0 - below, 0.0, 1.0), 0.0)
    return float(detectable) if detectable.ndim == 0 else detectable


def outcome(trajectory: Trajectory, schedule: Schedule, detection_limit: float,
            summary: Callable[[Trajectory, float], dict] = cell_summary) -> dict:
    total = trajectory.output("total_cells")
    end = schedule.treatment_end
    after = trajectory.times >= end
    return {
        **summary(trajectory, detection_limit),
        "treatment_end_day": end,
        "max_cells_after_treatment": float(total[after].max()),
        "detection_limit_cells": detection_limit,
        "no_regrowth": bool(total[after].max() < detection_limit),
    }
