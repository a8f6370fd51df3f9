"""What every exporter shares: the error type, dose bookkeeping, provenance and atomic writes.

Doses leave this package in the model's dose unit (``Control.dose_unit``, per day), whatever
unit the schedule file used, so each format states one unit per drug. Times are days on the
schedule's grid unless a format says otherwise (PhysiCell: minutes).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import InputError
from models.model import Model
from models.parameters import ParameterError, ParameterSet, convert
from models.schedule import Schedule, ScheduleError, grid_steps
from optimiser.files import atomic_output


class ExportError(InputError):
    """An export cannot be made as asked; the one-line message names the problem and the fix."""


def model_doses(schedule: Schedule, model: Model) -> Schedule:
    """The schedule with every daily dose in its control's dose unit (mg/kg for the built-in
    model). Refuses drugs the model lacks and doses above a control's maximum, as the optimiser
    and the checker do."""
    try:
        schedule.fractions(model)
        doses = {}
        for drug, values in schedule.doses.items():
            unit, target = schedule.dose_units[drug], model.control(drug).dose_unit
            factor = 1.0 if unit == target else convert(1.0, unit, target, what=f"drug {drug!r}")
            doses[drug] = np.asarray(values, dtype=float) * factor
    except (ScheduleError, ParameterError) as error:
        raise ExportError(f"{error}") from None
    units = {drug: model.control(drug).dose_unit for drug in doses}
    return Schedule(schedule.grid_step, schedule.horizon, doses, units, schedule.provenance)


def administrations(schedule: Schedule, drug: str) -> list[tuple[int, float]]:
    """(grid interval index, daily dose) of every interval on which ``drug`` is given, read off
    the schedule's runs of equal dose (``Schedule.blocks``)."""
    doses = []
    for start, stop, dose in schedule.blocks(drug):
        first, last = (grid_steps(day, schedule.grid_step) for day in (start, stop))
        doses.extend((k, dose) for k in range(first, last))
    return doses


def dose_changes(schedule: Schedule, drug: str) -> dict[int, float]:
    """{grid node index: daily dose from there on} at node 0 and wherever the dose changes,
    from the same runs (a run that ends where the next begins hands over without a zero)."""
    changes = {0: 0.0}
    for start, stop, dose in schedule.blocks(drug):
        first, last = (grid_steps(day, schedule.grid_step) for day in (start, stop))
        changes.setdefault(last, 0.0)
        changes[first] = dose
    changes.pop(schedule.n_intervals, None)  # nothing to change at the horizon
    return dict(sorted(changes.items()))


def provenance(schedule: Schedule, model: Model, parameters: ParameterSet, fmt: str,
               format_version: str) -> dict[str, Any]:
    """The schedule's own provenance plus an ``export`` entry. No timestamp: the same inputs
    give byte-identical files, so an export can be diffed and its digest trusted."""
    try:
        exporter = f"persister-opt {version('persister-opt')}"
    except PackageNotFoundError:
        exporter = "persister-opt (not installed)"
    return {**dict(schedule.provenance), "export": {
        "format": fmt, "format_version": format_version, "exporter": exporter,
        "model": model.name, "model_hash": model.structure_key,
        "parameter_set": parameters.name, "parameter_hash": parameters.digest,
        "schedule_digest": schedule.digest}}


def dumps(document: Mapping[str, Any]) -> str:
    """JSON text for sidecars and annotations (provenance may hold non-JSON values: str them)."""
    return json.dumps(document, indent=2, default=str) + "\n"


def number(value: float) -> str:
    """Shortest exact decimal, never exponent notation (``11520``, ``12.5``, ``0.001``): plain
    digits are what every CSV reader downstream (NONMEM, R, PhysiCell's strtod) agrees on."""
    return np.format_float_positional(float(value), trim="-")


def write_files(files: Mapping[Path, str]) -> list[Path]:
    """Write all files or none: each text goes to a temporary file beside its target
    (``optimiser.files.atomic_output``), and the targets are replaced only once every text is on
    disk; an error removes the temporary files and leaves the targets as they were."""
    for target in files:
        if target.is_dir():
            raise ExportError(f"cannot write {str(target)!r}: it is a directory; remove it or "
                              "choose another --out")
    try:
        with contextlib.ExitStack() as stack:
            for target, text in files.items():
                temporary = stack.enter_context(atomic_output(target))
                temporary.write_text(text, encoding="utf-8", newline="")
    except OSError as error:
        where = error.filename2 or error.filename or "the output"
        reason = error.strerror or str(error)
        if isinstance(error, FileExistsError | NotADirectoryError):
            # a file stands where a directory must be: name that file, not the errno text
            where = next((p for target in files for p in target.parents
                          if p.exists() and not p.is_dir()), where)
            reason = "a file, not a directory"
        raise ExportError(f"cannot write {str(where)!r} ({reason}); choose a writable "
                          "--out") from None
    return list(files)

