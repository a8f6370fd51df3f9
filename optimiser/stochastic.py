"""Stochastic runs of a model's cell populations as the branching process whose mean is its ODE.

The analytic cure probability (``optimiser.extinction``) is the extinction probability of a
multitype birth-death process; this module draws that process itself, run by run, with the same
per-capita rates b_i(t), d_i(t) and k_ij(t) taken along the mean (deterministic) path, to check
the analytic figure within a binomial interval and to give what it does not: the distribution of
regrowth times and which founding population's lineage survived.

Method: all runs advance together on a fixed grid (step ``STEP_DAYS``, aligned with every dose
change), vectorised over runs with numpy. Within a step the rates are taken at the step's
midpoint and each population's births and deaths are drawn from the exact law of a linear
birth-death process with constant rates (Kendall 1948): of n cells, Binomial(n, 1 - xi) lineages
survive the step and the m survivors become m + NegativeBinomial(m, 1 - eta) cells. Transitions
between populations are drawn as a Markov chain on the cell type (the matrix exponential of the
transition rates), half a step before and half after (Strang splitting). The draws are exact at
any count, so a step costs the same for one cell as for 1e9; the only time-discretisation error
is the midpoint rule on the rates and the splitting, both of second order in the step.
``discretised_cure_probability`` gives the exact extinction probability of this discrete-time
process (its generating functions, backward), from which the step's bias is measured without
sampling noise.

Start of the runs (``StartCells``): fixed integer counts or Poisson numbers per population (a
scaled-down tumour), or, with ``start=None``, the model's own initial numbers by a hybrid: a
population that starts at or above ``HYBRID_THRESHOLD_CELLS`` follows its mean deterministically
(a real number of cells), its transitions into the stochastic populations arriving as Poisson
numbers of cells; the first time its mean falls below the threshold, it becomes a Poisson number
of that mean and stays stochastic from then on. The other populations start as Poisson numbers of
their means (R0 = 1e-4 is a 1e-4 chance of one resistant cell). Cells entering a deterministic
population add to its mean.

Cells are independent, so each run is simulated as one sub-population per founding population
(the descendants of the cells that were of type i at day 0): that is the same process, and tells
which lineage survived.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from models.branching import require_populations
from models.errors import InputError, NumericalError
from models.model import Model

if TYPE_CHECKING:  # pragma: no cover
    from optimiser.simulate import Trajectory

STEP_DAYS = 0.05  # grid step; the bias it causes is measured in tests/test_stochastic.py
HYBRID_THRESHOLD_CELLS = 1e4  # hybrid start: deterministic at or above it, stochastic below
MAX_RUNS = 1_000_000  # memory (about 100 bytes per run and founding population) and time
CHUNK_RUNS = 5_000  # runs drawn together, one random stream each (fixed: reproducible)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MAX_CELLS = 1e17  # per population of a run: int64 counts, with room for one step's growth
NEGATIVE_RATE_TOLERANCE = 1e-12  # 1/day: rounding below zero is clipped, anything more refused


class StochasticError(InputError):
    """Bad input to the stochastic runs (counts, run number, a model without populations)."""


class StochasticOverflow(NumericalError):
    """A run grew beyond the integer counts (``MAX_CELLS``)."""


@dataclass(frozen=True)
class StartCells:
    """Start of every run per population: fixed integer counts, or, with ``poisson``, the means
    of independent Poisson numbers (what the analytic P(cure) assumes). Populations left out
    start empty."""

    counts: Mapping[str, float]
    poisson: bool = False

    def vector(self, populations: list[str]) -> np.ndarray:
        """The counts in population order, checked."""
        unknown = [name for name in self.counts if name not in populations]
        if unknown:
            raise StochasticError(f"unknown population(s) {unknown} in the start cells; the "
                                  f"model's populations are {populations}")
        values = np.array([float(self.counts.get(name, 0)) for name in populations])
        bad = [name for name, v in zip(populations, values, strict=True)
               if not np.isfinite(v) or v < 0 or (not self.poisson and v != round(v))]
        if bad:
            kind = "non-negative numbers (Poisson means)" if self.poisson else \
                "non-negative integers (or --poisson-start for Poisson means)"
            given = ", ".join(f"{name}={self.counts[name]:g}" for name in bad)
            raise StochasticError(f"start cells must be {kind}; got {given}")
        if not values.any():
            raise StochasticError("the start cells are all zero; give at least one cell")
        return values


def parse_start_cells(text: str, poisson: bool = False) -> StartCells:
    """``S=1000,P=20,R=0`` (the ``--start-cells`` syntax) as ``StartCells``."""
    counts: dict[str, float] = {}
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not name:
            raise StochasticError(f"start cells {text!r}: give NAME=COUNT pairs separated by "
                                  "commas, e.g. S=1000,P=20,R=0")
        if name in counts:
            raise StochasticError(f"start cells {text!r}: population {name!r} is given twice")
        try:
            counts[name] = float(value)
        except ValueError:
            raise StochasticError(f"start cells of {name!r}: {value!r} is not a number; give "
                                  "a count such as 1000") from None
    return StartCells(counts, poisson)


def validate(model: Model, runs: int, seed: int, start: StartCells | None = None) -> None:
    """Refuse bad input before any integration: a model without populations, a run number out
    of 1..``MAX_RUNS``, a negative seed, bad start cells."""
    require_populations(model, "the stochastic simulation")
    if isinstance(runs, bool) or not isinstance(runs, int | np.integer) \
            or not 1 <= runs <= MAX_RUNS:
        raise StochasticError(f"the number of stochastic runs must be an integer from 1 to "
                              f"{MAX_RUNS:,}, got {runs}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise StochasticError(f"the seed must be a non-negative integer, got {seed}")
    if start is not None:
        start.vector(list(model.population_names))


@dataclass(frozen=True)
class StochasticResult:
    """Per run: extinct at the horizon, regrowth day (NaN for none) and which founding
    populations' lineages are alive at the horizon; with the analytic figures for the same
    start."""

    populations: tuple[str, ...]
    mode: str  # "fixed", "poisson" or "hybrid"
    start: dict[str, float]  # counts, Poisson means, or the model's initial numbers (hybrid)
    seed: int
    step_days: float
    horizon_days: float
    treatment_end_day: float
    detection_limit: float | None  # cells; no regrowth times without it
    extinct: np.ndarray  # (runs,) bool
    regrowth_day: np.ndarray  # (runs,) first day >= treatment end with total >= limit, or NaN
    lineage_alive: np.ndarray  # (runs, populations) bool: the founders' lineages at the horizon
    analytic_cure_probability: float
    analytic_lineage_survival: np.ndarray  # P(a founder's lineage is alive at the horizon)
    discretised_cure_probability: float | None  # exact for the simulated grid (not hybrid)
    seconds: float
    threshold_cells: float | None = None  # hybrid only

    @property
    def runs(self) -> int:
        return len(self.extinct)

    @property
    def extinct_runs(self) -> int:
        return int(self.extinct.sum())

    @property
    def extinct_fraction(self) -> float:
        return self.extinct_runs / self.runs

    def interval(self, level: float = 0.99) -> tuple[float, float]:
        """Clopper-Pearson interval of P(extinct at the horizon)."""
        from scipy.stats import binomtest  # deferred: a third of a second for every command

        ci = binomtest(self.extinct_runs, self.runs).proportion_ci(level, method="exact")
        return float(ci.low), float(ci.high)

    @property
    def agrees(self) -> bool:
        """The analytic P(cure) lies inside the 99 % interval."""
        low, high = self.interval(0.99)
        return low <= self.analytic_cure_probability <= high

    def regrowth_quantiles(self) -> dict[str, float] | None:
        """Quantiles of the regrowth day among the runs that regrew (None if none did)."""
        days = self.regrowth_day[np.isfinite(self.regrowth_day)]
        if self.detection_limit is None or not days.size:
            return None
        return {f"{q:.0%}": float(v) for q, v in zip(QUANTILES, np.quantile(days, QUANTILES),
                                                     strict=True)}

    @property
    def no_regrowth_fraction(self) -> float | None:
        if self.detection_limit is None:
            return None
        return float(np.mean(~np.isfinite(self.regrowth_day)))

    def summary(self) -> dict:
        """The figures as plain JSON types."""
        low95, high95 = self.interval(0.95)
        low99, high99 = self.interval(0.99)
        return {
            "runs": self.runs, "seed": self.seed, "mode": self.mode, "start": self.start,
            "step_days": self.step_days,
            **({"threshold_cells": self.threshold_cells} if self.mode == "hybrid" else {}),
            "horizon_days": self.horizon_days,
            "extinct_runs": self.extinct_runs, "extinct_fraction": self.extinct_fraction,
            "ci95": [low95, high95], "ci99": [low99, high99],
            "analytic_cure_probability": self.analytic_cure_probability,
            "discretised_cure_probability": self.discretised_cure_probability,
            "analytic_inside_ci99": self.agrees,
            "lineage_survival": {
                name: {"stochastic": float(self.lineage_alive[:, i].mean()),
                       "analytic": float(self.analytic_lineage_survival[i])}
                for i, name in enumerate(self.populations)},
            "regrowth": {
                "detection_limit_cells": self.detection_limit,
                "treatment_end_day": self.treatment_end_day,
                "no_regrowth_fraction": self.no_regrowth_fraction,
                "quantiles_days": self.regrowth_quantiles()},
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class _Grid:
    """The step grid and, per step, the Kendall kernel of each population and the transition
    matrix applied before the step's births and deaths."""

    times: np.ndarray  # (steps + 1,) days
    survive: np.ndarray  # (steps, n): 1 - xi, a lineage's chance to survive the step
    eta: np.ndarray  # (steps, n): a survivor's extra cells are geometric with parameter eta
    growth: np.ndarray  # (steps, n): exp((b - d) h), the mean factor (deterministic cells)
    moves: np.ndarray  # (steps, n, n): P(type i -> type j) before the step's births and deaths


def simulate_stochastic(trajectory: Trajectory, runs: int, seed: int = 0,
                        start: StartCells | None = None, *, step_days: float = STEP_DAYS,
                        threshold_cells: float = HYBRID_THRESHOLD_CELLS,
                        detection_limit: float | None = None,
                        progress: Callable[[int, int], None] | None = None
                        ) -> StochasticResult:
    """``runs`` runs of the branching process along ``trajectory`` (``optimiser.simulate``), from
    ``start`` (None: the hybrid on the model's initial numbers). The runs go in chunks of
    ``CHUNK_RUNS`` (bounded memory), each with its own random stream spawned from ``seed``, so
    the result depends on the seed and the number of runs only. ``progress(done, total)`` is
    called after every step of every chunk."""
    began = time.perf_counter()
    model = trajectory.model
    validate(model, runs, seed, start)
    if not step_days > 0:
        raise StochasticError(f"the step must be positive, got {step_days} d")
    populations = list(model.population_names)
    initial = _initial_numbers(trajectory)
    if start is None:
        mode, values = "hybrid", initial
    else:
        mode, values = ("poisson" if start.poisson else "fixed"), start.vector(populations)
    grid = _grid(trajectory, step_days)
    end = trajectory.treatment_end  # regrowth is looked for from then on
    chunks = [(first, min(runs, first + CHUNK_RUNS)) for first in range(0, runs, CHUNK_RUNS)]
    streams = np.random.SeedSequence(seed).spawn(len(chunks))
    total = (len(grid.times) - 1) * len(chunks)
    drawn = []
    for chunk, ((first, last), stream) in enumerate(zip(chunks, streams, strict=True)):
        offset = chunk * (len(grid.times) - 1)
        tick = None if progress is None else (lambda k, o=offset: progress(o + k, total))
        drawn.append(_draw(grid, np.random.default_rng(stream), last - first, values, mode,
                           threshold_cells, end, detection_limit, tick))
    alive = np.concatenate([chunk_alive for chunk_alive, _ in drawn])
    regrowth = np.concatenate([chunk_regrowth for _, chunk_regrowth in drawn])
    u = _lineage_survival(trajectory, initial, values)
    poisson = mode != "fixed"
    return StochasticResult(
        populations=tuple(populations), mode=mode,
        start={name: float(v) for name, v in zip(populations, values, strict=True)},
        seed=int(seed), step_days=step_days, horizon_days=float(grid.times[-1]),
        treatment_end_day=end, detection_limit=detection_limit,
        extinct=~alive.any(axis=1), regrowth_day=regrowth, lineage_alive=alive,
        analytic_cure_probability=_cure(u, values, poisson),
        analytic_lineage_survival=_lineage_probability(u, values, poisson),
        discretised_cure_probability=(None if mode == "hybrid" else
                                      _cure(_grid_survival(grid), values, poisson)),
        seconds=time.perf_counter() - began,
        threshold_cells=threshold_cells if mode == "hybrid" else None)


def discretised_cure_probability(trajectory: Trajectory, start: StartCells,
                                 step_days: float = STEP_DAYS) -> float:
    """The exact P(extinct at the horizon) of the process the runs draw on the grid of
    ``step_days``: what their extinct fraction estimates without bias (so its distance from
    the analytic P(cure) is the step's bias)."""
    values = start.vector(list(trajectory.model.population_names))
    return _cure(_grid_survival(_grid(trajectory, step_days)), values, start.poisson)


# -- the analytic figures -----------------------------------------------------------------------

def _initial_numbers(trajectory) -> np.ndarray:
    states = trajectory.states
    return np.array([float(states[name][0]) for name in trajectory.model.population_names])


def _lineage_survival(trajectory, initial: np.ndarray, values: np.ndarray) -> np.ndarray:
    """u_i(0): one type-i cell's chance to have descendants at the horizon, from the check's
    lineages (share_i times the expected lineages is n_i(0) u_i(0)); 0 where no run starts
    with the population."""
    unknown = (values > 0) & ~(initial > 0)
    if unknown.any():
        names = [trajectory.model.population_names[i] for i in np.flatnonzero(unknown)]
        raise StochasticError(f"the analytic comparison needs the model's initial number of "
                              f"{names} to be positive (u_i(0) is read off n_i(0) u_i(0)); "
                              "start the runs without them")
    lineages = trajectory.lineages
    expected = lineages.shares[:, -1] * np.exp(lineages.log_lineages[-1])
    u = np.divide(expected, initial, out=np.zeros_like(initial), where=initial > 0)
    return np.clip(u, 0.0, 1.0)


def _lineage_probability(u: np.ndarray, values: np.ndarray, poisson: bool) -> np.ndarray:
    """P(the lineage founded by each population's start cells is alive at the horizon)."""
    with np.errstate(divide="ignore"):
        exponent = -values * u if poisson else values * np.log1p(-u)
    return 0.0 - np.expm1(np.where(values > 0, exponent, 0.0))  # 0.0 - : no -0.0


def _cure(u: np.ndarray, values: np.ndarray, poisson: bool) -> float:
    return float(np.prod(1 - _lineage_probability(u, values, poisson)))


def _grid_survival(grid: _Grid) -> np.ndarray:
    """u_i(0) of the discrete-time process, by its generating functions from the horizon back:
    through a Kendall step u -> (1 - xi) u / (1 - eta (1 - u)), through the moves u -> M u."""
    u = np.ones(grid.survive.shape[1])
    for k in range(len(grid.survive) - 1, -1, -1):
        u = grid.survive[k] * u / (1 - grid.eta[k] * (1 - u))
        u = grid.moves[k] @ u
    return u


# -- the grid -----------------------------------------------------------------------------------

def _grid(trajectory, step_days: float) -> _Grid:
    """Steps of at most ``step_days`` within each piece of constant doses; rates at the
    midpoints, along the mean path."""
    model = trajectory.model
    edges, midpoints, states, doses = [float(trajectory.pieces[0][0])], [], [], []
    for first, last, solution, u in trajectory.pieces:
        count = max(1, int(np.ceil((last - first) / step_days - 1e-9)))
        knots = np.linspace(first, last, count + 1)
        middle = (knots[:-1] + knots[1:]) / 2
        edges.extend(knots[1:])
        midpoints.append(middle)
        states.append(np.asarray(solution(middle)).reshape(model.n_states, -1))
        doses.append(np.tile(np.asarray(u, dtype=float)[:, None], count))
    times, middle = np.array(edges), np.concatenate(midpoints)
    steps, n = len(middle), len(model.population_names)
    birth, death, k = model.population_rates.map(steps)(
        np.hstack(states), np.hstack(doses), np.tile(trajectory.parameters[:, None], steps))
    birth, death = np.asarray(birth).T, np.asarray(death).T  # (steps, n)
    k = np.asarray(k).reshape(n, steps, n).transpose(1, 0, 2)  # (steps, i, j)
    for name, values in (("birth", birth), ("death", death), ("transition", k)):
        worst = values.min(axis=tuple(range(1, values.ndim)))
        if worst.min() < -NEGATIVE_RATE_TOLERANCE:
            day = middle[int(np.argmin(worst))]
            raise StochasticError(f"a {name} rate is negative ({worst.min():.3g}/day) on the "
                                  f"mean path near day {day:.3g}; the branching process needs "
                                  "non-negative rates (check the parameters)")
    birth, death, k = np.maximum(birth, 0), np.maximum(death, 0), np.maximum(k, 0)
    h = np.diff(times)[:, None]
    net = birth - death
    # g = (e^{(b-d)h} - 1)/(b - d), h where b = d; xi = d g/(1 + b g), eta = b g/(1 + b g)
    small = np.abs(net * h) < 1e-8
    g = np.where(small, h * (1 + net * h / 2), np.expm1(net * h) / np.where(small, 1, net))
    generator = k.copy()
    generator[:, range(n), range(n)] = -k.sum(axis=2)
    half = _expm(generator * (h[:, :, None] / 2))
    moves = half.copy()
    moves[1:] = half[:-1] @ half[1:]  # the previous step's second half, then this one's first
    return _Grid(times=times, survive=1 - death * g / (1 + birth * g),
                 eta=birth * g / (1 + birth * g), growth=np.exp(net * h), moves=moves)


def _expm(a: np.ndarray) -> np.ndarray:
    """Matrix exponentials of a stack of small matrices: scaling and squaring with a Taylor
    series of order 12 (truncation below 1e-17 at norm 1/4, the worst case; a step's
    transition rates times the step are far smaller), batched where scipy's expm loops."""
    norm = np.abs(a).sum(axis=2).max(initial=0.0)
    squarings = int(np.ceil(np.log2(norm / 0.25))) if norm > 0.25 else 0
    a = a / 2.0 ** squarings
    result = term = np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy()
    for order in range(1, 13):
        term = term @ a / order
        result = result + term
    for _ in range(squarings):
        result = result @ result
    return result


# -- the runs -----------------------------------------------------------------------------------

def _draw(grid: _Grid, rng: np.random.Generator, runs: int, values: np.ndarray, mode: str,
          threshold: float, end: float, detection_limit: float | None,
          tick: Callable[[int], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of runs: the founders' lineages alive at the horizon, the regrowth days."""
    state = _State.start(rng, runs, values, mode, threshold)
    regrowth = np.full(runs, np.nan)
    for k in range(len(grid.times) - 1):
        state.move(rng, grid.moves[k])
        state.birth_death(rng, grid, k)
        state.switch(rng, threshold)
        state.compact()
        if state.counts.size and state.counts.max() > MAX_CELLS:
            raise StochasticOverflow(f"a run passed {MAX_CELLS:.0e} cells by day "
                                     f"{grid.times[k + 1]:g}; start with fewer cells")
        t = grid.times[k + 1]
        if detection_limit is not None and t >= end - 1e-9:
            totals = state.run_totals(runs)
            regrowth[np.isnan(regrowth) & (totals >= detection_limit)] = t
        if tick is not None:
            tick(k + 1)
    alive = np.zeros((runs, len(values)), dtype=bool)
    alive[state.run, state.founder] = True
    return alive, regrowth


@dataclass
class _State:
    """The live sub-populations: one row per (run, founding population) with cells left.
    ``counts`` are the stochastic cells; in the hybrid, ``mean`` holds the deterministic ones
    where ``deterministic`` is set (their counts are then 0)."""

    counts: np.ndarray  # (rows, n) int64
    run: np.ndarray  # (rows,)
    founder: np.ndarray  # (rows,)
    mean: np.ndarray | None = None  # (rows, n) float, hybrid only
    deterministic: np.ndarray | None = None  # (rows, n) bool, hybrid only

    @classmethod
    def start(cls, rng: np.random.Generator, runs: int, values: np.ndarray, mode: str,
              threshold: float) -> _State:
        founders = np.flatnonzero(values > 0)
        n = len(values)
        run = np.repeat(np.arange(runs), len(founders))
        founder = np.tile(founders, runs)
        counts = np.zeros((len(run), n), dtype=np.int64)
        rows = np.arange(len(run))
        state = cls(counts, run, founder)
        if mode == "fixed":
            counts[rows, founder] = values[founder].astype(np.int64)
        elif mode == "poisson":
            counts[rows, founder] = rng.poisson(values[founder])
        else:
            big = values[founder] >= threshold
            counts[rows[~big], founder[~big]] = rng.poisson(values[founder[~big]])
            state.mean = np.zeros((len(run), n))
            state.deterministic = np.zeros((len(run), n), dtype=bool)
            state.mean[rows[big], founder[big]] = values[founder[big]]
            state.deterministic[rows[big], founder[big]] = True
        state.compact()
        return state

    def move(self, rng: np.random.Generator, moves: np.ndarray) -> None:
        """Each cell changes type by the step's transition matrix: how many leave, then where
        they go (conditional binomials, only where some leave)."""
        before = self.counts.copy()
        before_mean = None if self.mean is None else self.mean.copy()
        n = moves.shape[0]
        for i in range(n):
            targets = [j for j in range(n) if j != i and moves[i, j] > 0]
            if not targets:
                continue
            rows = np.flatnonzero(before[:, i])
            rest = float(sum(moves[i, j] for j in targets))  # not 1 - M_ii: keeps 1e-13
            if rows.size:
                leaving = rng.binomial(before[rows, i], min(1.0, rest))
                some = leaving > 0
                rows, remaining = rows[some], leaving[some]
                self.counts[rows, i] -= remaining
                for j in targets[:-1]:
                    moved = rng.binomial(remaining, min(1.0, moves[i, j] / rest))
                    self.counts[rows, j] += moved
                    remaining, rest = remaining - moved, rest - moves[i, j]
                self.counts[rows, targets[-1]] += remaining
            if before_mean is not None:
                self._move_mean(rng, before_mean, i, targets, moves)
        if self.deterministic is not None:  # arrivals in a deterministic population add to it
            self.mean += np.where(self.deterministic, self.counts, 0)
            self.counts[self.deterministic] = 0

    def _move_mean(self, rng: np.random.Generator, before: np.ndarray, i: int,
                   targets: list[int], moves: np.ndarray) -> None:
        """Deterministic cells move as their mean; into a stochastic population they arrive as
        a Poisson number."""
        rows = np.flatnonzero(self.deterministic[:, i])
        if not rows.size:
            return
        source = before[rows, i]
        for j in targets:
            flux = source * moves[i, j]
            self.mean[rows, i] -= flux
            into = self.deterministic[rows, j]
            self.mean[rows[into], j] += flux[into]
            self.counts[rows[~into], j] += rng.poisson(flux[~into])

    def birth_death(self, rng: np.random.Generator, grid: _Grid, k: int) -> None:
        """Kendall's law of one step per population: surviving lineages, then their cells."""
        for i in range(self.counts.shape[1]):
            rows = np.flatnonzero(self.counts[:, i])
            if rows.size:
                lineages = rng.binomial(self.counts[rows, i], grid.survive[k, i])
                eta = grid.eta[k, i]
                if eta > 0:  # NegativeBinomial(m, 1 - eta) as Poisson(Gamma), valid at m = 0
                    lineages += rng.poisson(rng.gamma(lineages, eta / (1 - eta)))
                self.counts[rows, i] = lineages
        if self.mean is not None:
            self.mean *= grid.growth[k]

    def switch(self, rng: np.random.Generator, threshold: float) -> None:
        """Hybrid: a deterministic population whose mean fell below the threshold becomes a
        Poisson number of cells of that mean."""
        if self.deterministic is None:
            return
        low = self.deterministic & (self.mean < threshold)
        if low.any():
            self.counts[low] += rng.poisson(self.mean[low])
            self.mean[low] = 0.0
            self.deterministic[low] = False

    def compact(self) -> None:
        """Drop the rows without cells (extinct lineages stay extinct)."""
        keep = self.counts.any(axis=1)
        if self.deterministic is not None:
            keep |= self.deterministic.any(axis=1)
        if keep.all():
            return
        self.counts, self.run, self.founder = self.counts[keep], self.run[keep], \
            self.founder[keep]
        if self.deterministic is not None:
            self.mean, self.deterministic = self.mean[keep], self.deterministic[keep]

    def run_totals(self, runs: int) -> np.ndarray:
        """Cells per run (deterministic ones as their mean)."""
        rows = self.counts.sum(axis=1).astype(float)
        if self.mean is not None:
            rows += self.mean.sum(axis=1)
        return np.bincount(self.run, weights=rows, minlength=runs)
