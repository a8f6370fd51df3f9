"""Synthetic volume data from the model at known parameters: the ground truth a fit must
recover (tests, the recovery validation, the benchmark)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.model import Model
from models.observations import Observations, Subject
from models.schedule import Schedule
from optimiser.calibration.estimator import simulated_log_volume


def synthetic_observations(model: Model, parameters: np.ndarray,
                           schedules: Mapping[str, Schedule], days: Sequence[float],
                           subjects_per_arm: int, sigma: float, seed: int,
                           v0_spread: float = 0.3) -> Observations:
    """Each arm's subjects start from log-normally spread V0 (geometric sd ``exp(v0_spread)``
    around the parameter set's V0) and are measured on ``days`` with log-normal error
    ``sigma``."""
    rng = np.random.default_rng(seed)
    v0_row = model.parameter_names.index("V0")
    days = np.asarray(days, dtype=float)
    subjects = []
    for arm, schedule in schedules.items():
        for k in range(subjects_per_arm):
            values = parameters.copy()
            values[v0_row] = parameters[v0_row] * np.exp(v0_spread * rng.standard_normal())
            volume = np.exp(simulated_log_volume(model, values, schedule, days))
            noisy = volume * np.exp(sigma * rng.standard_normal(days.size))
            subjects.append(Subject(f"{arm}_{k}", arm, days.copy(), noisy))
    return Observations(tuple(subjects), dict(schedules), "synthetic", f"seed{seed}")
