"""The Schedule: the value object the optimiser produces and the checker, CLI and exporters read.

A schedule gives, per drug, a daily dose on every interval of a uniform time grid. On disk it is
JSON with compressed blocks, easy to write by hand::

    {"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": 100,
     "drugs": {"osimertinib": {"unit": "mg/kg", "blocks": [{"start": 0, "stop": 40, "dose": 5}]}}}

A block gives ``dose`` (per day) on every grid interval in ``[start, stop)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.errors import InputError
from models.parameters import ParameterError, convert

if TYPE_CHECKING:  # pragma: no cover
    from models.model import Model

SCHEDULE_SCHEMA_VERSION = 1
DAYS_PER_MONTH = 365.25 / 12  # a mean calendar month, for clinical horizons
_GRID_TOLERANCE = 1e-9


class ScheduleError(InputError):
    """A schedule is malformed or does not fit the model; the message says what to fix."""


class DoseBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0, description="first day of the block (inclusive)",
                         allow_inf_nan=False)
    stop: float = Field(description="end of the block (exclusive), days", allow_inf_nan=False)
    dose: float = Field(ge=0, description="dose per day, in the drug's unit", allow_inf_nan=False)


class DrugDoses(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(description="dose unit, e.g. mg/kg (per day)")
    blocks: list[DoseBlock]


class ScheduleDocument(BaseModel):
    """The JSON form of a Schedule (versioned)."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = SCHEDULE_SCHEMA_VERSION
    time_unit: Literal["day"] = "day"
    grid_step: float = Field(gt=0, allow_inf_nan=False)
    horizon: float = Field(gt=0, allow_inf_nan=False)
    drugs: dict[str, DrugDoses]
    provenance: dict[str, Any] | None = None


@dataclass(frozen=True)
class Schedule:
    grid_step: float
    horizon: float
    doses: Mapping[str, np.ndarray]  # per drug: daily dose on each grid interval
    dose_units: Mapping[str, str]
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _interval_count(self.horizon, self.grid_step)
        for drug, values in self.doses.items():
            values = np.asarray(values, dtype=float)
            if values.shape != (self.n_intervals,):
                raise ScheduleError(f"drug {drug!r}: expected {self.n_intervals} interval doses, "
                                    f"got shape {values.shape}; give one dose per grid interval")
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise ScheduleError(f"drug {drug!r}: doses must be finite and non-negative; "
                                    "replace NaN, infinite or negative doses")
            if drug not in self.dose_units:
                raise ScheduleError(f"drug {drug!r}: no dose unit given; add it to dose_units, "
                                    "e.g. 'mg/kg'")

    @property
    def n_intervals(self) -> int:
        return _interval_count(self.horizon, self.grid_step)

    @property
    def times(self) -> np.ndarray:
        """Grid nodes, days (n_intervals + 1 values)."""
        return np.linspace(0.0, self.horizon, self.n_intervals + 1)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_fractions(cls, model: Model, fractions: Mapping[str, np.ndarray], grid_step: float,
                       horizon: float, provenance: Mapping[str, Any] | None = None) -> Schedule:
        """From dose fractions (``u``) per control, in the model's reference-dose units."""
        doses, units = {}, {}
        for name, values in fractions.items():
            control = model.control(name)
            doses[name] = np.asarray(values, dtype=float) * control.reference_dose
            units[name] = control.dose_unit
        return cls(grid_step, horizon, doses, units, dict(provenance or {}))

    def fractions(self, model: Model) -> np.ndarray:
        """Dose fractions, shape (n_controls, n_intervals); drugs not given are zero."""
        unknown = sorted(set(self.doses) - set(model.control_names))
        if unknown:
            raise ScheduleError(f"schedule names drug(s) {unknown} that model {model.name!r} "
                                f"does not have; its drugs are {model.control_names}: rename "
                                "or remove the others")
        out = np.zeros((len(model.controls), self.n_intervals))
        for i, control in enumerate(model.controls):
            if control.name not in self.doses:
                continue
            try:
                per_unit = convert(1.0, self.dose_units[control.name], control.dose_unit,
                                   what=f"drug {control.name!r} dose unit")
            except ParameterError as error:
                raise ScheduleError(str(error)) from None
            out[i] = self.doses[control.name] * per_unit / control.reference_dose
            too_high = out[i] > control.upper + 1e-9
            if np.any(too_high):
                day = self.times[np.argmax(too_high)]
                raise ScheduleError(
                    f"drug {control.name!r}: dose on day {day:g} exceeds the model's maximum of "
                    f"{control.upper * control.reference_dose:g} {control.dose_unit}/day; "
                    "lower the dose")
        return out

    # -- queries ---------------------------------------------------------------------------------
    def blocks(self, drug: str) -> list[tuple[float, float, float]]:
        """Maximal runs of equal non-zero dose: (start day, stop day, dose)."""
        values = np.asarray(self.doses.get(drug, np.zeros(self.n_intervals)))
        runs, start = [], None
        for k in range(self.n_intervals + 1):
            current = values[k] if k < self.n_intervals else 0.0
            if start is not None and current != values[start]:
                runs.append((start * self.grid_step, k * self.grid_step, float(values[start])))
                start = None
            if start is None and current > 0:
                start = k
        return runs

    def dosing_days(self, drug: str) -> list[float]:
        """Start days of the grid intervals on which ``drug`` is given."""
        values = np.asarray(self.doses.get(drug, np.zeros(self.n_intervals)))
        return [float(t) for t in self.times[:-1][values > 0]]

    # -- JSON ------------------------------------------------------------------------------------
    def to_document(self) -> ScheduleDocument:
        drugs = {
            drug: DrugDoses(unit=self.dose_units[drug], blocks=[
                DoseBlock(start=a, stop=b, dose=d) for a, b, d in self.blocks(drug)])
            for drug in self.doses
        }
        return ScheduleDocument(grid_step=self.grid_step, horizon=self.horizon, drugs=drugs,
                                provenance=dict(self.provenance) or None)

    def to_json(self) -> str:
        return self.to_document().model_dump_json(indent=2, exclude_none=True)

    @property
    def digest(self) -> str:
        """Canonical hash of the doses (provenance excluded): equal schedules, equal digests."""
        canonical = {"grid_step": self.grid_step, "horizon": self.horizon,
                     "drugs": {d: [self.dose_units[d], np.round(v, 12).tolist()]
                               for d, v in sorted(self.doses.items())}}
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:16]

    @classmethod
    def from_document(cls, document: ScheduleDocument) -> Schedule:
        n = _interval_count(document.horizon, document.grid_step)
        doses = {}
        for drug, entry in document.drugs.items():
            if len(entry.blocks) > n:
                raise ScheduleError(f"drug {drug!r}: {len(entry.blocks)} blocks, more than the "
                                    f"{n} grid intervals they must fit without overlap; merge "
                                    "adjacent blocks")
            values = np.zeros(n)
            for block in entry.blocks:
                first, last = (_grid_index(t, document.grid_step, drug, what)
                               for t, what in ((block.start, "start"), (block.stop, "stop")))
                if last <= first:
                    raise ScheduleError(f"drug {drug!r}: block {block.start:g}-{block.stop:g} d "
                                        "must stop after it starts; swap or fix start and stop")
                if last > n:
                    raise ScheduleError(f"drug {drug!r}: block {block.start:g}-{block.stop:g} d "
                                        f"runs past the horizon of {document.horizon:g} d; end "
                                        "it by the horizon or raise the horizon")
                if np.any(values[first:last] > 0):
                    raise ScheduleError(f"drug {drug!r}: block {block.start:g}-{block.stop:g} d "
                                        "overlaps another block; merge them")
                values[first:last] = block.dose
            doses[drug] = values
        units = {drug: entry.unit for drug, entry in document.drugs.items()}
        return cls(document.grid_step, document.horizon, doses, units,
                   dict(document.provenance or {}))

    @classmethod
    def from_json(cls, text: str, origin: str = "schedule") -> Schedule:
        _refuse_duplicate_keys(text, origin)
        try:
            document = ScheduleDocument.model_validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "document"
            raise ScheduleError(f"{origin}: {where}: {first['msg']}; see the schedule JSON "
                                "format in the README") from None
        return cls.from_document(document)

    @classmethod
    def read(cls, path: str | Path) -> Schedule:
        from models.inputs import read_text

        text = read_text(path, "schedule file", "JSON file", ScheduleError)
        return cls.from_json(text, origin=str(path))


def _refuse_duplicate_keys(text: str, origin: str) -> None:
    """JSON allows a key twice in one object and readers keep the last: a schedule naming a
    drug (or a block's dose) twice would silently lose one. Malformed JSON is left to the
    schema's own message."""
    def pairs(items: list[tuple[str, Any]]) -> dict:
        keys = [key for key, _ in items]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ScheduleError(f"{origin}: key(s) {twice} given twice in one object; give "
                                "each once (a drug's blocks together under one key)")
        return dict(items)

    with contextlib.suppress(json.JSONDecodeError, RecursionError):
        json.loads(text, object_pairs_hook=pairs)


def grid_steps(duration: float, step: float) -> int | None:
    """How many grid steps ``duration`` spans, or None if it is not a whole number of them.

    Every day-valued setting that must sit on the grid (horizon, treatment, block edges, rule
    lengths) is tested here, each caller raising its own error. A duration above zero that
    rounds to no step at all (1e-10 d) is not on the grid either: read as 0 it would silently
    drop a treatment or a rule."""
    steps = duration / step
    if abs(steps - round(steps)) > _GRID_TOLERANCE * max(1.0, abs(steps)):
        return None
    if duration != 0 and round(steps) == 0:
        return None
    return round(steps)


def _interval_count(horizon: float, grid_step: float) -> int:
    if not (grid_step > 0 and horizon > 0):
        raise ScheduleError("grid_step and horizon must be positive numbers of days; give "
                            "e.g. grid_step 1 and horizon 100")
    n = grid_steps(horizon, grid_step)
    if n is None:
        raise ScheduleError(f"horizon {horizon:g} d is not a whole number of grid steps of "
                            f"{grid_step:g} d; change one of them")
    size_problem = grid_size_problem(horizon, grid_step)
    if size_problem:
        raise ScheduleError(f"{size_problem}; give a shorter horizon or a coarser grid_step")
    return n


# The largest problems accepted, checked before any array is allocated: ten years of follow-up,
# and 4000 grid intervals (ten years on a 1-day grid; a solve's time grows about as the 2.6th
# power of the intervals, bench/README.md, so 4000 is already hours).
MAX_HORIZON_DAYS = 3650.0
MAX_GRID_INTERVALS = 4000


def grid_size_problem(horizon: float, grid_step: float) -> str:
    """What makes a horizon and grid too large ('' when they are not): one limit for
    schedules, problems and exports."""
    if horizon > MAX_HORIZON_DAYS:
        return f"a horizon of {horizon:g} d is longer than the limit of {MAX_HORIZON_DAYS:g} d"
    if horizon / grid_step > MAX_GRID_INTERVALS:
        return (f"{horizon:g} d on a grid of {grid_step:g} d is {horizon / grid_step:.3g} "
                f"intervals, more than the limit of {MAX_GRID_INTERVALS}")
    return ""


def _grid_index(t: float, step: float, drug: str, what: str) -> int:
    k = grid_steps(t, step)
    if k is None:
        raise ScheduleError(f"drug {drug!r}: block {what} {t:g} d is not on the grid of "
                            f"{step:g} d; move it to a multiple of the grid step")
    return k
