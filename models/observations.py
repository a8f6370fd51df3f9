"""Measured tumour volumes for calibration: a long CSV and one dosing schedule per arm.

The CSV has the columns ``subject,arm,day,volume_mm3`` (others are allowed and ignored); lines
starting with ``#`` are comments, and a comment ``# volume unit: cm^3`` gives the unit of the
volume column (mm^3 by default; ``volume_unit`` overrides both). Day 0 is the first treatment
day, the day the arm's schedule starts. Each arm ``A`` needs ``A.json`` in the schedule
directory (``models.schedule``). Rows are refused, with the line to fix, for a negative or
non-numeric volume, a day before 0, days that do not increase within a subject, a subject in two
arms or an arm without a schedule.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from models.errors import InputError
from models.parameters import ParameterError, convert
from models.schedule import Schedule

VOLUME_UNIT = "mm^3"
REQUIRED_COLUMNS = ("subject", "arm", "day", "volume_mm3")
_UNIT_COMMENT = re.compile(r"#\s*volume unit\s*[:=]\s*(.+?)\s*$", re.IGNORECASE)


class ObservationError(InputError):
    """Observation data are malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Subject:
    """One animal (or patient): its arm, measurement days and volumes (mm^3)."""

    name: str
    arm: str
    days: np.ndarray
    volumes: np.ndarray


@dataclass(frozen=True)
class Observations:
    subjects: tuple[Subject, ...]
    schedules: Mapping[str, Schedule]  # per arm
    source: str  # the data file
    digest: str  # sha256 of the data file's bytes (first 12 hex digits)

    @property
    def arms(self) -> list[str]:
        return list(dict.fromkeys(s.arm for s in self.subjects))

    @property
    def n_measurements(self) -> int:
        return sum(s.days.size for s in self.subjects)

    def select(self, names: set[str]) -> Observations:
        """The subjects named (for a fit by arm or by subject)."""
        return replace(self, subjects=tuple(s for s in self.subjects if s.name in names))

    def of_arms(self, patterns: Sequence[str]) -> Observations:
        """The subjects of the arms matching any of the shell patterns (``p11_*``)."""
        kept = tuple(s for s in self.subjects if any(fnmatchcase(s.arm, p) for p in patterns))
        if not kept:
            raise ObservationError(f"no arm of {self.source} matches {', '.join(patterns)}; "
                                   f"its arms are {', '.join(self.arms)}")
        return replace(self, subjects=kept)

    def until(self, day: float) -> Observations:
        """The measurements up to ``day``; a subject left with fewer than 2 is dropped (it
        would only fit its own V0)."""
        kept = []
        for subject in self.subjects:
            keep = subject.days <= day
            if keep.sum() >= 2:
                kept.append(replace(subject, days=subject.days[keep],
                                    volumes=subject.volumes[keep]))
        if not kept:
            raise ObservationError(f"no subject of {self.source} has 2 measurements up to day "
                                   f"{day:g}; give a later --until")
        return replace(self, subjects=tuple(kept))


def read_observations(data: str | Path, schedules: str | Path,
                      volume_unit: str | None = None) -> Observations:
    data, schedules = Path(data), Path(schedules)
    raw = _read_bytes(data)
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is not data
    except UnicodeDecodeError as error:
        raise ObservationError(f"{data}: byte {error.start} is not UTF-8 text; save the file "
                               "as UTF-8 CSV") from None
    lines = text.splitlines()
    comment_unit = next((m.group(1) for line in lines
                         if (m := _UNIT_COMMENT.match(line.strip()))), None)
    unit = volume_unit or comment_unit or VOLUME_UNIT
    try:
        scale = convert(1.0, unit, VOLUME_UNIT, what=f"{data}: volume unit")
    except ParameterError as error:
        raise ObservationError(str(error)) from None
    numbered = [(n, line) for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise ObservationError(f"{data}: no header and no rows; give the columns "
                               f"{','.join(REQUIRED_COLUMNS)}")
    header = [name.strip() for name in next(csv.reader([numbered[0][1]]))]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ObservationError(f"{data}: missing column(s) {missing}; the header needs "
                               f"{','.join(REQUIRED_COLUMNS)} (found {header})")
    index = {c: header.index(c) for c in REQUIRED_COLUMNS}
    rows: dict[str, dict] = {}
    for line_number, line in numbered[1:]:  # one record per line: no quoted line breaks
        where = f"{data}, line {line_number}"
        fields = next(csv.reader([line]))
        if len(fields) != len(header):
            raise ObservationError(f"{where}: {len(fields)} fields for {len(header)} columns; "
                                   "give one value per column")
        subject, arm = fields[index["subject"]].strip(), fields[index["arm"]].strip()
        if not subject or not arm:
            raise ObservationError(f"{where}: empty subject or arm; name both")
        day = _number(fields[index["day"]], f"{where}: day")
        volume = _number(fields[index["volume_mm3"]], f"{where}: volume")
        if day < 0:
            raise ObservationError(f"{where}: day {day:g} is before the first treatment day "
                                   "(day 0); drop pre-treatment rows or shift the days")
        if volume < 0:
            raise ObservationError(f"{where}: volume {volume:g} is negative; give a volume of "
                                   "0 or more (values below the detection limit are censored)")
        entry = rows.setdefault(subject, {"arm": arm, "days": [], "volumes": []})
        if entry["arm"] != arm:
            raise ObservationError(f"{where}: subject {subject!r} is in arm {arm!r} here and "
                                   f"in {entry['arm']!r} before; give each subject one arm")
        if entry["days"] and day <= entry["days"][-1]:
            raise ObservationError(f"{where}: day {day:g} of subject {subject!r} does not "
                                   f"follow its day {entry['days'][-1]:g}; sort each subject's "
                                   "rows by day, one row per day")
        entry["days"].append(day)
        entry["volumes"].append(volume * scale)
    if not rows:
        raise ObservationError(f"{data}: no data rows under the header")
    arms = list(dict.fromkeys(entry["arm"] for entry in rows.values()))
    plans = {arm: _schedule(schedules, arm) for arm in arms}
    subjects = tuple(Subject(name, entry["arm"], np.array(entry["days"]),
                             np.array(entry["volumes"])) for name, entry in rows.items())
    return Observations(subjects, plans, str(data), hashlib.sha256(raw).hexdigest()[:12])


def _read_bytes(path: Path) -> bytes:
    from models.inputs import read_input

    return read_input(path, "data file", "CSV file", ObservationError)


def _schedule(directory: Path, arm: str) -> Schedule:
    if not directory.is_dir():
        raise ObservationError(f"schedule directory {str(directory)!r} does not exist or is not "
                               "a directory; give the directory holding <arm>.json files")
    path = directory / f"{arm}.json"
    if not path.is_file():
        raise ObservationError(f"arm {arm!r} has no schedule: {str(path)!r} is missing; add it "
                               "(day 0 = first treatment day; no drugs for a control arm)")
    return Schedule.read(path)


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ObservationError(f"{what} {text.strip()!r} is not a number; give a number") \
            from None
    if not math.isfinite(value):
        raise ObservationError(f"{what} {text.strip()!r} is not finite; give a finite number")
    return value
