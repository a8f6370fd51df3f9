"""The scipy-only baseline of the relaxed problem: SLSQP with finite-difference gradients over
the free controls' dose fractions in their windows, each objective by the independent scipy
simulator, every linear rule as a linear inequality on the fractions (as the NLP has them).

One implementation for the benchmark (``bench/bench_relaxed.py``) and the method comparison
(``experiments/method_comparison.py``), so both measure the same baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from optimiser.integer import linear_rules
from optimiser.objectives import sign
from optimiser.problem import ControlProblem
from optimiser.simulate import RTOL, simulate

BASELINE_RTOL = 1e-8  # the baseline's own simulations; re-evaluation uses the module default
FD_STEP = 1e-6  # SLSQP's absolute finite-difference step, above the rtol-1e-8 integration noise


@dataclass
class Baseline:
    """Result of the SLSQP run."""

    u_window: np.ndarray  # the in-window fractions, drug after drug
    seconds: float
    objective: float  # as seen by SLSQP (rtol BASELINE_RTOL)
    simulations: int
    iterations: int
    message: str
    success: bool
    stopped_by_time: bool
    history: list[float] = field(default_factory=list)


def simulated_objective(problem: ControlProblem, free: np.ndarray, rtol: float = RTOL) -> float:
    """Objective of free-control profiles (n_free x N, or N for one free drug) by the
    independent scipy simulator."""
    free = np.atleast_2d(np.asarray(free, dtype=float))
    schedule = problem.schedule(dict(zip(problem.free_names, free, strict=True)))
    trajectory = simulate(problem.model, problem.parameter_vector, schedule, rtol=rtol)
    return problem.objective.checked(trajectory, schedule)


def run_baseline(problem: ControlProblem, start: np.ndarray, maxiter: int,
                 time_limit: float = math.inf) -> Baseline:
    """SLSQP over the in-window fractions (objective signed by its sense, so it minimises),
    rules as inequalities. ``time_limit`` (seconds, checked after each iteration) makes the
    result depend on the machine; leave it infinite where the result must be
    reproducible."""
    masks = np.array([problem.window_mask(name) for name in problem.free_names])
    rules = linear_rules(problem)
    rows = np.vstack([rules.amount, rules.days])[:, masks.ravel()]
    bounds_rows = np.concatenate([rules.amount_bound, rules.days_bound])
    factor = sign(problem.objective)
    controls = [problem.model.control(name) for name in problem.free_names]
    bounds = [(c.lower, c.upper) for c, mask in zip(controls, masks, strict=True)
              for _ in range(int(mask.sum()))]
    calls = 0
    history: list[float] = []

    def full(u: np.ndarray) -> np.ndarray:
        free = np.zeros(masks.shape)
        free[masks] = np.clip(u, *np.array(bounds).T)
        return free

    def objective(u: np.ndarray) -> float:
        nonlocal calls
        calls += 1
        return factor * simulated_objective(problem, full(u), rtol=BASELINE_RTOL)

    started = time.perf_counter()
    stopped_by_time = False

    def callback(intermediate_result) -> None:
        nonlocal stopped_by_time
        history.append(float(intermediate_result.fun))
        if time.perf_counter() - started > time_limit:
            stopped_by_time = True
            raise StopIteration

    constraints = [{"type": "ineq", "fun": lambda u: bounds_rows - rows @ u,
                    "jac": lambda u: -rows}] if len(bounds_rows) else []
    result = minimize(objective, np.atleast_2d(start)[masks], method="SLSQP", bounds=bounds,
                      constraints=constraints, callback=callback,
                      options={"maxiter": maxiter, "ftol": 1e-6, "eps": FD_STEP})
    seconds = time.perf_counter() - started
    return Baseline(u_window=full(result.x)[masks], seconds=seconds,
                    objective=float(factor * result.fun), simulations=calls,
                    iterations=int(result.nit), message=str(result.message),
                    success=bool(result.success), stopped_by_time=stopped_by_time,
                    history=[factor * value for value in history])
