"""The Schedule: the value object the optimiser produces and the checker, CLI and exporters read.

A schedule gives, per drug, a daily dose on every interval of a uniform time grid. On disk it is
JSON with compressed blocks, easy to write by hand::

    {"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": 100,
     "drugs": {"osimertinib": {"unit": "mg/kg", "blocks": [{"start": 0, "stop": 40, "dose": 5}]}}}

A block gives ``dose`` (per day) on every grid interval in ``[start, stop)``.

One definition, two readers: ``ScheduleDocument`` below generates the committed JSON Schema
(``optimiser/export/schemas/schedule-v1.schema.json``) and is what ``Schedule.from_json``
validates with, in strict mode, so a document passes the reader's structure check exactly when it
is valid under the schema (``tests/test_schedule_json.py`` checks this on generated documents).
Two layers come on top, each refused with a one-line ``ScheduleError`` naming the field:

* the text must be I-JSON (RFC 7493): no name twice in one object and every number a finite
  double (``NaN``/``Infinity`` are not JSON; ``1e400`` overflows). JSON Schema validates a
  parsed value and cannot see either;
* the grid rules no JSON Schema can state: the horizon a whole number of grid steps (at most
  4000 of them and 3650 days), every block edge on the grid, ``stop`` after ``start`` and by the
  horizon, and the blocks of one drug disjoint.

Drugs are keyed by name so each has exactly one unit and a drug may be listed with no blocks. As
a long table (one row per block, the form of a dosing record), pandas reads them in one line:

>>> import json, pandas as pd
>>> doc = json.loads('''{"schema_version": 1, "grid_step": 1, "horizon": 100, "drugs": {
...     "osimertinib": {"unit": "mg/kg", "blocks": [{"start": 0, "stop": 40, "dose": 5}]},
...     "igf1r_inhibitor": {"unit": "mg/kg", "blocks": [{"start": 0, "stop": 10, "dose": 25}]}}}''')
>>> pd.json_normalize([{"drug": d, **v} for d, v in doc["drugs"].items()],
...                   "blocks", ["drug", "unit"])
   start  stop  dose             drug   unit
0      0    40     5      osimertinib  mg/kg
1      0    10    25  igf1r_inhibitor  mg/kg
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.errors import InputError
from models.parameters import ParameterError, convert

if TYPE_CHECKING:  # pragma: no cover
    from models.model import Model

SCHEDULE_SCHEMA_VERSION = 1
DAYS_PER_MONTH = 365.25 / 12  # a mean calendar month, for clinical horizons
_GRID_TOLERANCE = 1e-9
# Strict: a number is a JSON number (not "25", not true), as the schema's "type" says.
_DOCUMENT = ConfigDict(extra="forbid", strict=True)


class ScheduleError(InputError):
    """A schedule is malformed or does not fit the model; the message says what to fix."""


class DoseBlock(BaseModel):
    """Doses on the grid intervals in [start, stop): the edges on the grid, stop after start."""

    model_config = _DOCUMENT
    start: float = Field(ge=0, description="first day of the block (inclusive)",
                         allow_inf_nan=False)
    stop: float = Field(gt=0, description="end of the block (exclusive), days; at most the "
                                          "horizon", allow_inf_nan=False)
    dose: float = Field(ge=0, description="dose per day, in the drug's unit", allow_inf_nan=False)


class DrugDoses(BaseModel):
    """One drug's unit and its dosing blocks; the blocks may not overlap."""

    model_config = _DOCUMENT
    unit: str = Field(min_length=1, description="dose unit, e.g. mg/kg (per day)")
    blocks: list[DoseBlock]


class ScheduleDocument(BaseModel):
    """A persister-opt schedule: per drug, a daily dose on blocks [start, stop) of a uniform day
    grid. Besides this schema: the text is I-JSON (RFC 7493: unique names, finite doubles), the
    horizon is a whole number of grid steps (at most 4000 of them and 3650 days), block edges
    lie on the grid and blocks of one drug are disjoint."""

    model_config = _DOCUMENT
    schema_version: Literal[1] = Field(description="the version of this format")
    time_unit: Literal["day"] = "day"
    grid_step: float = Field(gt=0, allow_inf_nan=False, description="grid interval, days")
    horizon: float = Field(gt=0, allow_inf_nan=False, description="end of the schedule, days")
    drugs: dict[Annotated[str, Field(min_length=1)], DrugDoses] = Field(
        description="per drug name, its unit and blocks; a drug not named gets no dose")
    provenance: dict[str, Any] | None = Field(
        default=None, description="free-form record of how the schedule was made")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        """A Literal takes ``true`` for 1 (True == 1 in Python); the schema does not."""
        if isinstance(value, bool) or value != SCHEDULE_SCHEMA_VERSION:
            raise ValueError(f"this reader reads schema_version {SCHEDULE_SCHEMA_VERSION}, "
                             f"got {value!r}")
        return value


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
    @property
    def treatment_end(self) -> float:
        """Last day any drug is given (0 untreated): what follows treatment (the detection-limit
        rule, regrowth) is judged from then on."""
        return max((stop for drug in self.doses for _, stop, _ in self.blocks(drug)),
                   default=0.0)

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
                DoseBlock(start=float(a), stop=float(b), dose=float(d))
                for a, b, d in self.blocks(drug)])
            for drug in self.doses
        }
        return ScheduleDocument(schema_version=SCHEDULE_SCHEMA_VERSION,
                                grid_step=float(self.grid_step), horizon=float(self.horizon),
                                drugs=drugs, provenance=dict(self.provenance) or None)

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
            values, covered = np.zeros(n), np.zeros(n, dtype=bool)
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
                if np.any(covered[first:last]):  # a zero-dose block overlaps too
                    raise ScheduleError(f"drug {drug!r}: block {block.start:g}-{block.stop:g} d "
                                        "overlaps another block; merge them")
                values[first:last], covered[first:last] = block.dose, True
            doses[drug] = values
        units = {drug: entry.unit for drug, entry in document.drugs.items()}
        return cls(document.grid_step, document.horizon, doses, units,
                   dict(document.provenance or {}))

    @classmethod
    def from_json(cls, text: str, origin: str = "schedule") -> Schedule:
        """Checked in three layers (module docstring): the schema, I-JSON, the grid rules."""
        try:
            document = ScheduleDocument.model_validate_json(text)
        except ValidationError as error:
            first = error.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            if first["loc"] == ("schema_version",) and first["type"] == "missing":
                message += (" (files written before it was required: add "
                            f'"schema_version": {SCHEDULE_SCHEMA_VERSION})')
            raise ScheduleError(f"{origin}: {_field(first['loc'])}: {message}; see the schedule "
                                "JSON format in the README") from None
        _refuse_non_i_json(text, origin)  # what parsing hid from the schema (the typed fields
        # already refused NaN and Infinity)
        try:
            return cls.from_document(document)
        except ScheduleError as error:  # the grid rules: say which file broke them
            raise ScheduleError(f"{origin}: {error}") from None

    @classmethod
    def read(cls, path: str | Path) -> Schedule:
        from models.inputs import read_text

        text = read_text(path, "schedule file", "JSON file", ScheduleError)
        return cls.from_json(text, origin=str(path))


def _refuse_non_i_json(text: str, origin: str) -> None:
    """Refuse what the schema cannot see because parsing loses it (I-JSON, RFC 7493 2.2-2.3).
    A key twice in one object: readers keep the last, so a drug (or a block's dose) named twice
    would silently lose one. A number that is no finite double (in provenance, which has no
    types): NaN and Infinity are not JSON and 1e400 overflows, so other tools read it
    differently or not at all."""
    def pairs(items: list[tuple[str, Any]]) -> dict:
        keys = [key for key, _ in items]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ScheduleError(f"{origin}: key(s) {twice} given twice in one object; give "
                                "each once (a drug's blocks together under one key)")
        return dict(items)

    try:
        where = _non_finite(json.loads(text, object_pairs_hook=pairs), ())
    except ScheduleError:
        raise
    except (ValueError, RecursionError):  # ValueError: also more digits than Python converts
        return
    if where is not None:
        raise ScheduleError(f"{origin}: {_field(where)}: not a finite number (NaN, Infinity or "
                            "beyond the range of a double); give a finite number")


def _non_finite(value: Any, loc: tuple) -> tuple | None:
    """Where the first number that is no finite double sits in a parsed JSON value."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            found = _non_finite(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, int | float) and not abs(value) <= sys.float_info.max:  # NaN too
        return loc
    return None


def _field(loc: tuple) -> str:
    """A document location as the README writes it: drugs.osimertinib.blocks.0.dose."""
    if loc and loc[-1] == "[key]":  # pydantic's mark for a refused object key
        return f"{_field(loc[:-2])} key {loc[-2]!r}"
    return ".".join(str(part) for part in loc) or "document"


def grid_steps(duration: float, step: float) -> int | None:
    """How many grid steps ``duration`` spans, or None if it is not a whole number of them.

    Every day-valued setting that must sit on the grid (horizon, treatment, block edges, rule
    lengths) is tested here, each caller raising its own error. A duration above zero that
    rounds to no step at all (1e-10 d) is not on the grid either: read as 0 it would silently
    drop a treatment or a rule. A ratio that overflows (a step of 5e-324 d) is on no grid."""
    steps = duration / step
    if not math.isfinite(steps):
        return None
    if abs(steps - round(steps)) > _GRID_TOLERANCE * max(1.0, abs(steps)):
        return None
    if duration != 0 and round(steps) == 0:
        return None
    return round(steps)


def _interval_count(horizon: float, grid_step: float) -> int:
    if not (grid_step > 0 and horizon > 0):
        raise ScheduleError("grid_step and horizon must be positive numbers of days; give "
                            "e.g. grid_step 1 and horizon 100")
    size_problem = grid_size_problem(horizon, grid_step)  # first: it bounds the ratio
    if size_problem:
        raise ScheduleError(f"{size_problem}; give a shorter horizon or a coarser grid_step")
    n = grid_steps(horizon, grid_step)
    if n is None:
        raise ScheduleError(f"horizon {horizon:g} d is not a whole number of grid steps of "
                            f"{grid_step:g} d; change one of them")
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
