"""Parameter sets as data: every value carries a unit and a source.

A parameter-set file is TOML::

    [meta]
    name = "persister-default"
    description = "..."

    [parameters.r_S]
    value = 0.15
    unit = "1/day"
    source = "doi:... or 'assumption: reasoning'"

Values are converted with pint to the unit the model declares, so a file may say ``48 hour``
where the model wants days.
"""

from __future__ import annotations

import hashlib
import json
import math
import tokenize
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from models.model import Parameter


class ParameterError(InputError):
    """A parameter-set file or value is unusable; the message names the parameter and the fix."""


@lru_cache(maxsize=1)
def unit_registry():
    import pint

    registry = pint.UnitRegistry()
    registry.define("cell = [cell_count]")
    return registry


def convert(value: float, unit: str, to_unit: str, what: str = "value") -> float:
    """Convert ``value unit`` to ``to_unit`` or raise a ParameterError naming ``what``."""
    import pint

    registry = unit_registry()
    try:
        return float((value * registry(unit)).to(to_unit).magnitude)
    except pint.errors.DimensionalityError:
        raise ParameterError(f"{what}: unit {unit!r} cannot be converted to {to_unit!r}; "
                             f"give it in {to_unit!r} or a compatible unit") from None
    except (pint.errors.UndefinedUnitError, AttributeError, TypeError, ValueError):
        raise ParameterError(f"{what}: unknown unit {unit!r}; use a pint unit such as "
                             f"{to_unit!r}") from None
    # pint parses a unit as an expression: whatever else that raises (an unbalanced
    # parenthesis, a division by zero, any other pint error) is a malformed unit, not a crash
    except (pint.errors.PintError, tokenize.TokenError, SyntaxError, ArithmeticError):
        raise ParameterError(f"{what}: cannot read the unit {unit!r} (check its parentheses "
                             f"and operators); use a pint unit such as {to_unit!r}") from None



def read_toml(path: str | Path, what: str, error: type[InputError] = ParameterError,
              kind: str = "TOML file") -> dict:
    """The TOML document at ``path``; a missing, unreadable or malformed file raises ``error``
    naming ``what`` it should have been and the fix (``kind``: the file to give instead)."""
    from models.inputs import read_text

    text = read_text(path, what, kind, error)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as failure:
        raise error(f"{what} {str(path)!r} is not valid TOML ({failure}); fix the syntax") \
            from None


ENTRY_KEYS = ("value", "unit", "source", "description", "lower", "upper")


@dataclass(frozen=True)
class ParameterValue:
    value: float
    unit: str
    source: str
    description: str = ""
    lower: float | None = None  # documented plausible range (used by robustness work)
    upper: float | None = None


@dataclass(frozen=True)
class ParameterSet:
    name: str
    values: Mapping[str, ParameterValue]
    description: str = ""

    @classmethod
    def from_toml(cls, path: str | Path) -> ParameterSet:
        return cls.from_mapping(read_toml(path, "parameter file"), origin=str(path))

    @classmethod
    def from_mapping(cls, data: Mapping, origin: str = "<mapping>") -> ParameterSet:
        if not isinstance(data, Mapping):
            raise ParameterError(f"{origin}: a parameter set is a table of [parameters.NAME] "
                                 "tables; give value, unit and source for each")
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise ParameterError(f"{origin}: meta must be a table ([meta] with name and "
                                 "description); fix or remove it")
        others = sorted(set(data) - {"meta", "parameters"})
        if others:
            raise ParameterError(f"{origin}: unknown table(s) {others}; a parameter set has "
                                 "[meta] and [parameters.NAME] tables only")
        raw = data.get("parameters")
        if not isinstance(raw, Mapping) or not raw:
            raise ParameterError(f"{origin}: no [parameters.NAME] tables found; each parameter "
                                 "needs value, unit and source")
        values = {}
        for name, entry in raw.items():
            if not isinstance(entry, Mapping):
                raise ParameterError(f"{origin}: parameter {name!r} must be a table with value, "
                                     "unit and source")
            unknown = sorted(set(entry) - set(ENTRY_KEYS))
            if unknown:
                raise ParameterError(f"{origin}: parameter {name!r} has unknown key(s) "
                                     f"{unknown}; its keys are {', '.join(ENTRY_KEYS)}")
            missing = [key for key in ("value", "unit", "source") if key not in entry]
            if missing:
                raise ParameterError(f"{origin}: parameter {name!r} lacks {missing}; every "
                                     "parameter needs value, unit and source")
            values[name] = ParameterValue(
                value=finite_number(entry["value"], f"{origin}: parameter {name!r}"),
                unit=str(entry["unit"]),
                source=str(entry["source"]),
                description=str(entry.get("description", "")),
                lower=_optional_finite(entry.get("lower"), f"{origin}: parameter {name!r} lower"),
                upper=_optional_finite(entry.get("upper"), f"{origin}: parameter {name!r} upper"),
            )
        return cls(name=str(meta.get("name", origin)), values=values,
                   description=str(meta.get("description", "")))

    def with_values(self, **values: float) -> ParameterSet:
        """A copy with some values replaced (in each parameter's own unit)."""
        unknown = sorted(set(values) - set(self.values))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {unknown}; known: {sorted(self.values)}")
        updated = dict(self.values)
        for name, value in values.items():
            updated[name] = replace(updated[name],
                                    value=finite_number(value, f"parameter {name!r}"))
        return replace(self, values=updated)

    def vector(self, declared: Sequence[Parameter]) -> np.ndarray:
        """Values in the declared units and order; every declared name must be present."""
        missing = [p.name for p in declared if p.name not in self.values]
        if missing:
            raise ParameterError(f"parameter set {self.name!r} lacks {missing}; add them with "
                                 "value, unit and source")
        values = np.array([
            convert(self.values[p.name].value, self.values[p.name].unit, p.unit,
                    what=f"parameter {p.name!r}")
            for p in declared
        ])
        for p, value in zip(declared, values, strict=True):
            _require_sign(self.name, p, value)
        return values

    def to_toml(self) -> str:
        """The set as a parameter file (``from_toml`` reads it back unchanged)."""
        lines = ["[meta]", f"name = {toml_value(self.name)}",
                 f"description = {toml_value(self.description)}"]
        for name, entry in self.values.items():
            lines += ["", f"[parameters.{name}]", f"value = {toml_value(entry.value)}",
                      f"unit = {toml_value(entry.unit)}", f"source = {toml_value(entry.source)}"]
            lines += [f"{key} = {toml_value(getattr(entry, key))}"
                      for key in ("description", "lower", "upper") if getattr(entry, key)
                      not in (None, "")]
        return "\n".join(lines) + "\n"

    @property
    def digest(self) -> str:
        """Short content hash, for provenance."""
        canonical = json.dumps({k: [v.value, v.unit] for k, v in sorted(self.values.items())})
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _require_sign(set_name: str, declared: Parameter, value: float) -> None:
    """Refuse a value of the wrong sign here, before any solve: a negative rate or a zero
    half-life would otherwise surface as a solver failure or a NaN far from its cause."""
    if declared.positive and not value > 0:
        need = "positive (> 0)"
    elif not declared.signed and value < 0:
        need = "non-negative (>= 0)"
    else:
        return
    raise ParameterError(f"parameter set {set_name!r}: parameter {declared.name!r} is "
                         f"{value:g} {declared.unit} but must be {need}; give a "
                         f"{need.split()[0]} value")


def finite_number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{what}: value {value!r} is not a number; give a finite number")
    if not math.isfinite(value):
        raise ParameterError(f"{what}: value {value!r} is not finite; give a finite number")
    return float(value)


def _optional_finite(value: object, what: str) -> float | None:
    """A documented range end: absent, or a finite number (the ensemble compares with it)."""
    return None if value is None else finite_number(value, what)


def toml_value(value: object) -> str:
    """A TOML literal of a flat table's value: booleans, numbers, text and lists of them (run
    specs, fitted parameter sets)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):  # a JSON string is a TOML basic string, but for DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"a flat TOML table holds no {type(value).__name__} values")
