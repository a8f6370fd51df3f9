"""Published optimal-control benchmarks solved through the public model API.

Both have a singular arc, so they exercise the relaxed NLP well; the optimum of the continuous
problem is approached as the control grid is refined.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from models import Model
from models.benchmarks import NO_PARAMETERS, catalyst_mixing, lotka_volterra_fishing
from optimiser.check import check_schedule
from optimiser.nlp import CollocationSolver
from optimiser.objectives import Integral
from optimiser.problem import ControlProblem


def _solve(model: Model, horizon: float, intervals: int, objective: str) -> float:
    problem = ControlProblem(model, NO_PARAMETERS, objective, free={"w": (0.0, horizon)},
                             horizon=horizon, grid_step=horizon / intervals)
    solution = CollocationSolver(problem).solve(problem)
    assert solution.success, solution.status
    return solution.objective


def test_lotka_volterra_fishing_relaxed_optimum():
    """Sager's Lotka-Volterra fishing problem, relaxed: optimum 1.34408 (Sager, Reinelt & Bock,
    Math. Program. 2009, doi:10.1007/s10107-007-0185-1; mintoc.de benchmark library), as the
    Lagrange term ``Integral("deviation")`` of an output instead of a hand-made state. The
    relaxed schedule is re-integrated two ways: the checker's trajectory (Gauss-Legendre on
    scipy Radau's dense output) and an augmented ODE with J' = deviation here, interval by
    interval with scipy's DOP853."""
    model = lotka_volterra_fishing()
    horizon, intervals = 12.0, 480
    objective = Integral("deviation")
    problem = ControlProblem(model, NO_PARAMETERS, objective, free={"w": (0.0, horizon)},
                             horizon=horizon, grid_step=horizon / intervals)
    assert problem.objective is objective
    solution = CollocationSolver(problem).solve(problem)
    assert solution.success, solution.status
    assert solution.objective == pytest.approx(1.34408, rel=1e-4)
    assert solution.lower_bound <= solution.objective
    assert solution.lower_bound == pytest.approx(1.34408, rel=1e-4)

    w = solution.free["w"]
    schedule = problem.schedule({"w": w})
    report = check_schedule(problem, schedule, solution.objective)
    assert report.passed, report.problems
    assert report.difference < 1e-6
    trajectory = report.trajectory  # simulate(model, problem.parameter_vector, schedule)
    assert objective.checked(trajectory, schedule) == report.resimulated_objective
    assert report.resimulated_objective == pytest.approx(solution.objective, abs=1e-6)

    def augmented(_t, y, control):
        x0, x1, _ = y
        return [x0 - x0 * x1 - 0.4 * x0 * control, -x1 + x0 * x1 - 0.2 * x1 * control,
                (x0 - 1) ** 2 + (x1 - 1) ** 2]

    y, step = np.array([0.5, 0.7, 0.0]), horizon / intervals
    for k, control in enumerate(w):
        y = solve_ivp(augmented, (k * step, (k + 1) * step), y, method="DOP853", rtol=1e-11,
                      atol=1e-12, args=(control,)).y[:, -1]
    assert y[2] == pytest.approx(solution.objective, abs=1e-6)
    assert y[2] == pytest.approx(1.34408, rel=1e-4)


def test_catalyst_mixing_optimum():
    """Catalyst mixing (Gunn & Thomas 1965; COPS 3.0 problem, Dolan, More & Munson 2004,
    ANL/MCS-TM-273): maximise 1 - x1(1) - x2(1); optimum 0.048055."""
    model = catalyst_mixing()
    assert -_solve(model, 1.0, 400, "loss") == pytest.approx(0.048055, rel=1e-4)
