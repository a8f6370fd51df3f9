"""Outcome figures of a simulated schedule, with the shared definitions of the science brief:
eradicated at t means N(t) < 1 cell; no regrowth means N stays below the detection limit from the
end of treatment to the horizon; cure probability is exp(-N(horizon)) (Poisson)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from models.schedule import Schedule

if TYPE_CHECKING:  # pragma: no cover - any object with times and output() will do
    from optimiser.simulate import Trajectory

DETECTION_LIMIT_CELLS = 1e6  # about 1 mm^3: "no regrowth" means staying below it (science brief)


def treatment_end(schedule: Schedule) -> float:
    """Last day any drug is given (0 for an untreated arm)."""
    ends = [block[1] for drug in schedule.doses for block in schedule.blocks(drug)]
    return max(ends, default=0.0)


def cell_summary(trajectory: Trajectory) -> dict:
    """Minimum, final burden and cure probability of a trajectory with a ``total_cells`` output."""
    total = trajectory.output("total_cells")
    k = int(np.argmin(total))
    return {
        "initial_cells": float(total[0]),
        "minimum_cells": float(total[k]),
        "day_of_minimum": float(trajectory.times[k]),
        "final_cells": float(total[-1]),
        "log10_final_cells": float(np.log10(total[-1])),
        "eradicated": bool(total[k] < 1.0),
        "cure_probability": float(math.exp(-total[-1])),
    }


def outcome(trajectory: Trajectory, schedule: Schedule, detection_limit: float) -> dict:
    total = trajectory.output("total_cells")
    end = treatment_end(schedule)
    after = trajectory.times >= end
    return {
        **cell_summary(trajectory),
        "treatment_end_day": end,
        "max_cells_after_treatment": float(total[after].max()),
        "detection_limit_cells": detection_limit,
        "no_regrowth": bool(total[after].max() < detection_limit),
    }
