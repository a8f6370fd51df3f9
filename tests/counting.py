"""Counting dosing runs without the rule code, so tests check the rules independently."""

import numpy as np


def dosing_runs(on: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of consecutive dosing intervals."""
    runs, start = [], None
    for k, value in enumerate([*on, 0]):
        if value and start is None:
            start = k
        if not value and start is not None:
            runs.append((start, k - start))
            start = None
    return runs
