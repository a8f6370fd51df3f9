"""Parameter ensembles: how uncertain each parameter is, and draws of whole parameter sets.

An ensemble file states, per parameter, a log-normal spread (geometric standard deviation) around
the value of a base parameter set and the reason for it; draws are truncated to the range the
base set documents (``lower``/``upper``), so no draw leaves what the sources allow; a spread with
``uniform = true`` draws uniformly over that range instead (for a value that may be 0). Values are
multiplied, so the spread applies whatever unit the base set uses. Draws are reproducible from a
seed, which is what the robustness experiment and ``optimise --robust N`` rely on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from models.parameters import ParameterError, ParameterSet, read_toml

_MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Spread:
    name: str
    gsd: float | None  # geometric standard deviation (> 1); None: uniform over the range
    reason: str


@dataclass(frozen=True)
class Ensemble:
    name: str
    spreads: Mapping[str, Spread]
    description: str = ""

    @classmethod
    def from_toml(cls, path: str | Path) -> Ensemble:
        path = Path(path)  # a str is accepted too (its stem names an unnamed ensemble)
        data = read_toml(path, "ensemble file")
        raw = data.get("spread")
        if not isinstance(raw, Mapping) or not raw:
            raise ParameterError(f"{path}: no [spread.NAME] tables; add one per uncertain "
                                 "parameter, each with gsd and reason")
        spreads = {}
        for name, entry in raw.items():
            gsd = entry.get("gsd") if isinstance(entry, Mapping) else None
            uniform = isinstance(entry, Mapping) and entry.get("uniform") is True
            if uniform and gsd is not None:
                raise ParameterError(f"{path}: spread of {name!r} gives both gsd and uniform; "
                                     "keep one")
            if not uniform and (isinstance(gsd, bool) or not isinstance(gsd, (int, float))
                                or not (math.isfinite(gsd) and gsd > 1)):
                raise ParameterError(f"{path}: spread of {name!r} needs gsd, a number above 1 "
                                     f"(got {gsd!r}), or uniform = true; give e.g. gsd = 1.5")
            if not str(entry.get("reason", "")).strip():
                raise ParameterError(f"{path}: spread of {name!r} needs a reason; add "
                                     "reason = '...' saying why it is this uncertain")
            spreads[name] = Spread(name, None if uniform else float(gsd), str(entry["reason"]))
        meta = data.get("meta", {})
        return cls(str(meta.get("name", path.stem)), spreads, str(meta.get("description", "")))

    def sample(self, base: ParameterSet, n: int, seed: int) -> list[ParameterSet]:
        """``n`` parameter sets drawn around ``base``; the same seed gives the same draws."""
        if n < 1:
            raise ParameterError(f"an ensemble sample needs at least one draw, got {n}; ask "
                                 "for 1 or more")
        unknown = sorted(set(self.spreads) - set(base.values))
        if unknown:
            raise ParameterError(f"ensemble {self.name!r} spreads {unknown}, which parameter set "
                                 f"{base.name!r} does not have; remove those spreads or add "
                                 "the parameters")
        rng = np.random.default_rng(seed)
        draws = [{} for _ in range(n)]
        for name in sorted(self.spreads):
            value = base.values[name]
            lower = value.lower if value.lower is not None else 0.0
            upper = value.upper if value.upper is not None else math.inf
            if self.spreads[name].gsd is None:
                if not (math.isfinite(upper) and lower < upper):
                    raise ParameterError(f"parameter {name!r} is spread uniformly, so it needs a "
                                         f"finite range; got [{lower:g}, {upper:g}]")
                for draw in draws:
                    draw[name] = float(rng.uniform(lower, upper))
                continue
            if not (value.value > 0 and lower <= value.value <= upper):
                raise ParameterError(f"parameter {name!r} = {value.value:g} must be positive and "
                                     f"within its range [{lower:g}, {upper:g}] to be spread; "
                                     "change the value or its lower/upper")
            sigma = math.log(self.spreads[name].gsd)
            for draw in draws:
                draw[name] = _truncated(rng, value.value, sigma, lower, upper, name)
        return [replace(base.with_values(**draw), name=f"{base.name}~{self.name}#{seed}.{k}")
                for k, draw in enumerate(draws)]


def _truncated(rng: np.random.Generator, centre: float, sigma: float, lower: float,
               upper: float, name: str) -> float:
    """A log-normal draw redrawn until it lies in [lower, upper] (truncation, not clipping, so
    the range ends do not pile up)."""
    for _ in range(_MAX_REDRAWS):
        value = centre * math.exp(sigma * rng.standard_normal())
        if lower <= value <= upper:
            return value
    raise ParameterError(f"parameter {name!r}: the range [{lower:g}, {upper:g}] holds almost none "
                         f"of its spread; widen the range or narrow the spread")
