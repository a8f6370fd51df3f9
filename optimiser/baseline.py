"""The scipy-only baseline of the relaxed problem: SLSQP with finite-difference gradients over
the free control's daily dose fractions, each objective by the independent scipy simulator.

One implementation for the benchmark (``bench/bench_relaxed.py``) and the method comparison
(``experiments/method_comparison.py``), so both measure the same baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from constraints.budget import DaysOnBudget
from optimiser.problem import ControlProblem
from optimiser.simulate import RTOL, simulate

BASELINE_RTOL = 1e-8  # the baseline's own simulations; re-evaluation uses the module default
FD_STEP = 1e-6  # SLSQP's absolute finite-difference step, above the rtol-1e-8 integration noise


@dataclass
class Baseline:
    """Result of the SLSQP run."""

    u_window: np.ndarray
    seconds: float
    objective: float  # as seen by SLSQP (rtol BASELINE_RTOL)
    simulations: int
    iterations: int
    message: str
    success: bool
    stopped_by_time: bool
    history: list[float] = field(default_factory=list)


def simulated_objective(problem: ControlProblem, free: np.ndarray, rtol: float = RTOL) -> float:
    """Objective of one profile of the (single) free control over all N intervals, by the
    independent scipy simulator."""
    name = problem.free_names[0]
    schedule = problem.schedule({name: np.asarray(free, dtype=float)})
    return simulate(problem.model, problem.parameter_vector, schedule,
                    rtol=rtol).final_output(problem.objective)


def run_baseline(problem: ControlProblem, start: np.ndarray, maxiter: int,
                 time_limit: float = math.inf) -> Baseline:
    """SLSQP over the in-window fractions, budget as an inequality. ``time_limit`` (seconds,
    checked after each iteration) makes the result depend on the machine; leave it infinite
    where the result must be reproducible."""
    mask = problem.window_mask(problem.free_names[0])
    limit = next(c.limit for c in problem.constraints if isinstance(c, DaysOnBudget))
    step = problem.grid_step
    calls = 0
    history: list[float] = []

    def full(u: np.ndarray) -> np.ndarray:
        free = np.zeros(problem.n_intervals)
        free[mask] = np.clip(u, 0.0, 1.0)
        return free

    def objective(u: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        return simulated_objective(problem, full(u), rtol=BASELINE_RTOL)

    started = time.perf_counter()
    stopped_by_time = False

    def callback(intermediate_result) -> None:
        nonlocal stopped_by_time
        history.append(float(intermediate_result.fun))
        if time.perf_counter() - started > time_limit:
            stopped_by_time = True
            raise StopIteration

    n = int(mask.sum())
    budget = {"type": "ineq", "fun": lambda u: limit - step * float(np.sum(u)),
              "jac": lambda u: np.full((1, n), -step)}
    result = minimize(objective, start[mask], method="SLSQP", bounds=[(0.0, 1.0)] * n,
                      constraints=[budget], callback=callback,
                      options={"maxiter": maxiter, "ftol": 1e-6, "eps": FD_STEP})
    seconds = time.perf_counter() - started
    return Baseline(u_window=np.clip(result.x, 0.0, 1.0), seconds=seconds,
                    objective=float(result.fun), simulations=calls, iterations=int(result.nit),
                    message=str(result.message), success=bool(result.success),
                    stopped_by_time=stopped_by_time, history=history)
