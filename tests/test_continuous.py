"""A continuous-dose optimal-control problem with an amount budget, stated through the public
API: tumour anti-angiogenesis (the Hahnfeldt et al. 1999 model as an optimal-control problem by
Ledzewicz & Schaettler, Optim. Control Appl. Meth. 2008, doi:10.1002/oca.814), as Example 6.17
of J. T. Betts, Practical Methods for Optimal Control and Estimation Using Nonlinear
Programming, 2nd ed., SIAM 2010, doi:10.1137/1.9780898718577: minimise the tumour volume p(tf)
with 0 <= u <= 75 and at most 15 units of inhibitor in all. Published optimum p(tf*) =
7571.67158 at tf* = 1.1961336 (free final time; fixing the horizon at tf* keeps the optimum, as
the free-time optimum is feasible there). The optimal control is bang-bang (75 until the budget
is spent), so piecewise-constant doses on 300 intervals reach it to 6.5e-7 relative."""

import casadi as ca
import numpy as np
import pytest

from constraints import AmountBudget
from models import Control, Model, Parameter, ParameterSet, State
from optimiser import ControlProblem, optimise

PUBLISHED = 7571.67158


def test_anti_angiogenesis_continuous_dose_matches_betts():
    pbar = ((5.85 - 0.02) / 0.00873) ** 1.5
    model = Model(
        name="anti_angiogenesis", states=(State("p", log=True), State("q", log=True)),
        controls=(Control("u", lower=0.0, upper=75.0),),
        parameters=tuple(Parameter(n) for n in ("xi", "b", "d", "G", "mu")),
        rhs=lambda x, u, p: {"p": -p.xi * x.p * ca.log(x.p / x.q),
                             "q": x.q * (p.b - (p.mu + p.d * x.p ** (2 / 3) + p.G * u.u))},
        initial=lambda p: {"p": pbar / 2, "q": pbar / 4},
        outputs=lambda x, p: {"p": x.p})
    values = {"xi": 0.084, "b": 5.85, "d": 0.00873, "G": 0.15, "mu": 0.02}
    parameters = ParameterSet.from_mapping({"parameters": {
        k: {"value": v, "unit": "1", "source": "Betts 2010, Example 6.17"}
        for k, v in values.items()}})
    tf = 1.1961336
    problem = ControlProblem(model, parameters, "p", free={"u": (0.0, tf)}, horizon=tf,
                             grid_step=tf / 300, constraints=[AmountBudget("u", 15.0)])
    result = optimise(problem, integer=False)

    assert result.objective == pytest.approx(PUBLISHED, rel=1e-5)
    assert result.check.passed, result.check.problems
    assert result.gap == pytest.approx(0.0, abs=1e-3)  # the relaxed optimum is the schedule
    doses = result.schedule.doses["u"]
    assert float(doses.sum() * problem.grid_step) == pytest.approx(15.0, abs=1e-6)
    # bang-bang: the full dose until the budget is spent (0.2 of the horizon), then none
    assert np.all(doses[:int(0.2 / problem.grid_step) - 1] > 75 - 1e-6)
    assert np.all(doses[int(0.2 / problem.grid_step) + 2:] < 1e-6)
