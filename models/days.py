"""Dosing days as text people read and write: inclusive runs, "0-4,8,22"."""

from __future__ import annotations

import re
from collections.abc import Iterable


def compact_days(days: Iterable[float], step: float = 1.0, separator: str = ",") -> str:
    """Dosing days as runs of consecutive grid intervals, inclusive: [0, 1, 2, 3, 4, 8, 22] ->
    "0-4,8,22" (a run names its first and last interval's start, so "8" is day 8 alone, on
    any grid); none -> "none"."""
    runs: list[list[int]] = []
    for index in sorted(round(float(d) / step) for d in days):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return separator.join(f"{a * step:g}" if a == b else f"{a * step:g}-{b * step:g}"
                          for a, b in runs) or "none"


def expand_days(text: str) -> list[int]:
    """Inverse of ``compact_days``."""
    if text.strip() == "none":
        return []
    days = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\s*", part)
        if match is None:
            raise ValueError(f"cannot read dosing days {text!r}; expected e.g. '0-4,8,22'")
        first, last = int(match[1]), int(match[2] or match[1])
        days.extend(range(first, last + 1))
    return days
