"""The check's extinction probabilities: scipy's LSODA, backward along the forward trajectory.

A different code path from the NLP (where the w = ln u of ``models.branching`` are collocation
states) and from the screening (a backward collocation solve on CVODES states): here the
forward solution is scipy's dense output and the backward equations are integrated by scipy
with tight tolerances, piece by piece between dose changes. LSODA with the banded analytic
Jacobian (each horizon's block is n x n) was 3x faster than Radau with the sparse one on model
v2's no-regrowth curve, at a fifth of its error (2e-9 against 1e-8 in ln lineages, against
Radau at rtol 1e-11). Several horizons are integrated in one pass (one block of w per horizon,
started at w = 0 when the backward sweep reaches it), which gives the chance of no regrowth by
each day of follow-up at the cost of one sweep.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from models.branching import flat_rates, lineage_outputs
from models.errors import NumericalError
from optimiser.buffered import BufferedCall

RTOL = 1e-12
ATOL = 1e-14


class ExtinctionError(NumericalError):
    """The backward integration failed (the message carries scipy's reason)."""


@dataclass(frozen=True)
class Lineages:
    """Per horizon T: ln of the expected number of lineages alive at T, and each population's
    share of them (which population the failures come from)."""

    horizons: np.ndarray  # days
    log_lineages: np.ndarray  # ln sum_i n_i(0) u_i(0; T), one per horizon
    shares: np.ndarray  # (populations, horizons)
    populations: tuple[str, ...]

    @property
    def expected(self) -> np.ndarray:
        return np.exp(self.log_lineages)

    @property
    def cure_probability(self) -> np.ndarray:
        """P(no cell left at T), exp(-expected lineages) by the Poisson start."""
        return np.exp(-self.expected)


def backward_lineages(trajectory, horizons: Sequence[float] | None = None) -> Lineages:
    """Integrate ln u backward from each horizon (default: the trajectory's end) to day 0."""
    model = trajectory.model
    end = float(trajectory.times[-1])
    horizons = np.sort(np.atleast_1d(np.asarray(
        [end] if horizons is None else horizons, dtype=float)))[::-1]
    if horizons[0] > end + 1e-9 or horizons[-1] <= 0:
        raise ExtinctionError(f"horizons must lie in (0, {end:g}] d, got "
                              f"{horizons[-1]:g}-{horizons[0]:g} d")
    n = len(model.population_names)
    w = np.zeros(0)
    pending = list(horizons)
    for first, last, solution, doses in reversed(trajectory.pieces):
        stops = sorted({first, last, *[t for t in pending if first < t < last]}, reverse=True)
        for top, bottom in itertools.pairwise(stops):
            while pending and pending[0] >= top - 1e-12:
                w = np.append(w, np.zeros(n))  # a new horizon: u = 1 there
                pending.pop(0)
            if w.size:
                w = _sweep(model, trajectory.parameters, solution, doses, top, bottom, w)
    x0 = trajectory.internal[:, 0]
    outputs = lineage_outputs(model).map(len(horizons))
    logs, shares = outputs(np.tile(x0[:, None], len(horizons)),
                           w.reshape(n, -1, order="F"))
    order = np.argsort(horizons)
    return Lineages(horizons[order], np.asarray(logs).ravel()[order],
                    np.asarray(shares)[:, order], tuple(model.population_names))



def _sweep(model, parameters: np.ndarray, solution, doses: np.ndarray, top: float,
           bottom: float, w: np.ndarray) -> np.ndarray:
    """Integrate every active block of w from day ``top`` down to ``bottom`` (constant doses,
    model states from the forward dense ``solution``). The rates come from the model once per
    time; the equations are numpy here, written apart from the CasADi ones of the NLP."""
    n = len(model.population_names)
    blocks = w.size // n
    rates = BufferedCall(flat_rates(model), parameters, (n * (n + 2),))
    rates.u[:] = doses

    def rates_at(s: float):
        flat = rates(s, solution(s))
        return flat[:n], flat[n:2 * n], flat[2 * n:].reshape(n, n, order="F")

    def slope(s: float, y: np.ndarray) -> np.ndarray:
        birth, death, k = rates_at(s)
        W = y.reshape(n, blocks, order="F")
        ratio = np.exp(W[None, :, :] - W[:, None, :])  # [i, j, block] = u_j / u_i
        dW = (birth - death)[:, None] - birth[:, None] * np.exp(W) + np.einsum(
            "ij,ijb->ib", k, ratio - 1.0)
        return -dW.ravel(order="F")  # d/ds = -d/dtau

    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    band_rows = (n - 1 + i - j)[:, :, None]  # LSODA's packed band: [u + I - J, J] = jac[I, J]
    band_columns = j[:, :, None] + n * np.arange(blocks)[None, None, :]

    def slope_jacobian(s: float, y: np.ndarray) -> np.ndarray:
        birth, _, k = rates_at(s)
        W = y.reshape(n, blocks, order="F")
        ratio = np.exp(W[None, :, :] - W[:, None, :])
        J = -k[:, :, None] * ratio  # d/dw_j of the transition terms of i, j != i
        diagonal = birth[:, None] * np.exp(W) + np.einsum("ij,ijb->ib", k, ratio)
        J[np.arange(n), np.arange(n)] = diagonal
        packed = np.zeros((2 * n - 1, n * blocks))  # one n x n block per horizon
        packed[band_rows, band_columns] = J
        return packed

    result = solve_ivp(slope, (top, bottom), w, method="LSODA", jac=slope_jacobian,
                       lband=n - 1, uband=n - 1, rtol=RTOL, atol=ATOL)
    if not result.success:
        raise ExtinctionError(f"backward extinction equations failed on days {bottom:g}-"
                              f"{top:g}: {result.message}")
    return result.y[:, -1]

