"""Extinction of the branching process: closed forms, an independent solution, the derived mean
ODE, and the three code paths (NLP collocation, screening, scipy check) against each other."""

from __future__ import annotations

import math
from types import SimpleNamespace

import casadi as ca
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from models.model import Control, Model, ModelError, Parameter, Rates, State
from models.parameters import ParameterSet
from models.persister import default_parameters, persister_model
from models.schedule import Schedule
from optimiser.nlp import CollocationSolver
from optimiser.objectives import Cure
from optimiser.problem import ControlProblem
from optimiser.simulate import simulate

HORIZON = 30.0


def _kendall_survival(b: float, d: float, t: float) -> float:
    """P(a linear birth-death lineage started by one cell is alive at t), Kendall (1948)."""
    if b == d:
        return 1.0 / (1.0 + b * t)
    growth = math.exp((b - d) * t)
    return (b - d) * growth / (b * growth - d)


def _one_type(b: float, d: float) -> Model:
    return Model(
        name="birth-death", states=(State("N", "cell", log=True),),
        controls=(Control("drug"),),
        parameters=(Parameter("b", "1/day"), Parameter("d", "1/day"), Parameter("N0", "cell")),
        rhs=lambda x, u, p: {}, initial=lambda p: {"N": p.N0},
        outputs=lambda x, p: {"log10_cells": ca.log10(x.N)},
        populations=lambda x, u, p: {"N": Rates(p.b, p.d + u.drug)})


def _parameters(**values: float) -> ParameterSet:
    return ParameterSet.from_mapping({"parameters": {
        name: {"value": value, "unit": unit, "source": "assumption: a test case"}
        for name, (value, unit) in values.items()}})


def _no_drug(model: Model) -> Schedule:
    return Schedule.from_fractions(model, {}, 1.0, HORIZON)


@pytest.mark.parametrize(("b", "d"), [(0.5, 0.3), (0.3, 0.5), (0.4, 0.4), (0.5, 1.5)])
def test_single_type_matches_kendall(b, d):
    """The scipy check path to 1e-8 relative, down to u = 1e-13 (b=0.5, d=1.5: log u carried)."""
    model = _one_type(b, d)
    parameters = _parameters(b=(b, "1/day"), d=(d, "1/day"), N0=(1000.0, "cell"))
    trajectory = simulate(model, model.parameter_vector(parameters), _no_drug(model))
    expected = 1000.0 * _kendall_survival(b, d, HORIZON)
    assert trajectory.lineages.expected[-1] == pytest.approx(expected, rel=1e-8)
    if (b, d) == (0.5, 1.5):
        assert expected < 1e-9  # far below what u itself could carry against 1


@pytest.mark.parametrize(("b", "d"), [(0.5, 0.3), (0.5, 1.5)])
def test_collocation_and_screening_match_kendall(b, d):
    """The NLP's extinction states (scoring a fixed profile) and the screening's backward
    collocation on CVODES states give Kendall's value; the Cure objective is log10 of it."""
    model = _one_type(b, d)
    parameters = _parameters(b=(b, "1/day"), d=(d, "1/day"), N0=(1000.0, "cell"))
    problem = ControlProblem(model, parameters, Cure(), free={"drug": (0.0, 10.0)},
                             horizon=HORIZON)
    solver = CollocationSolver(problem)
    off = np.zeros((1, problem.n_intervals))
    expected = math.log10(1000.0 * _kendall_survival(b, d, HORIZON))
    scored = solver.solve(problem, fix_free=off)
    assert scored.success
    assert scored.objective == pytest.approx(expected, abs=1e-7)
    assert solver.screen(problem, off)[0] == pytest.approx(expected, abs=1e-6)


def _two_type() -> tuple[Model, ParameterSet]:
    """Growing A cells switch to slowly dying B cells, which switch back; a drug kills A."""
    model = Model(
        name="two-type", states=(State("A", "cell", log=True), State("B", "cell", log=True)),
        controls=(Control("drug"),),
        parameters=(*(Parameter(n, "1/day") for n in ("bA", "dA", "bB", "dB", "kAB", "kBA")),
                    Parameter("A0", "cell"), Parameter("B0", "cell")),
        rhs=lambda x, u, p: {}, initial=lambda p: {"A": p.A0, "B": p.B0},
        outputs=lambda x, p: {"total": x.A + x.B},
        populations=lambda x, u, p: {
            "A": Rates(p.bA, p.dA + 1.5 * u.drug, {"B": p.kAB}),
            "B": Rates(p.bB, p.dB, {"A": p.kBA})})
    values = {"bA": 0.4, "dA": 0.1, "bB": 0.05, "dB": 0.2, "kAB": 0.05, "kBA": 0.02}
    parameters = _parameters(**{n: (v, "1/day") for n, v in values.items()},
                             A0=(1e4, "cell"), B0=(100.0, "cell"))
    return model, parameters


def _independent_two_type(parameters: ParameterSet, drug_days: int) -> float:
    """u itself (not its log), integrated backward by DOP853 with the drug as a step."""
    p = SimpleNamespace(**{n: v.value for n, v in parameters.values.items()})

    def slope(s, u):
        drug = 1.0 if s < drug_days else 0.0
        dA, dB = p.dA + 1.5 * drug, p.dB
        return [-((p.bA - dA) * u[0] - p.bA * u[0] ** 2 + p.kAB * (u[1] - u[0])),
                -((p.bB - dB) * u[1] - p.bB * u[1] ** 2 + p.kBA * (u[0] - u[1]))]

    u = np.ones(2)
    for top, bottom in ((HORIZON, drug_days), (drug_days, 0.0)):
        u = solve_ivp(slope, (top, bottom), u, method="DOP853", rtol=1e-13, atol=1e-15).y[:, -1]
    return p.A0 * u[0] + p.B0 * u[1]


def test_two_type_against_independent_solution():
    model, parameters = _two_type()
    drug = np.zeros(round(HORIZON))
    drug[:8] = 1.0
    schedule = Schedule.from_fractions(model, {"drug": drug}, 1.0, HORIZON)
    trajectory = simulate(model, model.parameter_vector(parameters), schedule)
    reference = _independent_two_type(parameters, 8)
    assert trajectory.lineages.expected[-1] == pytest.approx(reference, rel=1e-7)
    problem = ControlProblem(model, parameters, Cure(), free={"drug": (0.0, 10.0)},
                             horizon=HORIZON)
    solver = CollocationSolver(problem)
    free = drug[None, :]
    assert solver.screen(problem, free)[0] == pytest.approx(math.log10(reference), abs=1e-6)
    assert solver.solve(problem, fix_free=free).objective == pytest.approx(
        math.log10(reference), abs=1e-6)
    shares = trajectory.lineages.shares[:, -1]
    assert shares.sum() == pytest.approx(1.0)


def _v1_cells(x, p):
    """The persister cell equations as written before populations were declared."""
    crowding = 1 - (x.S + x.P + x.R) / p.K
    e_osi = (1 + p.EC50_osi) * x.C_osi / (p.EC50_osi + x.C_osi)
    e_igf = (1 + p.EC50_igf) * x.C_igf / (p.EC50_igf + x.C_igf)
    switching = p.alpha * e_osi * (1 + p.beta * x.G) * x.S
    reversion = (p.rho * (1 - e_osi) + p.rho_osi * e_osi) * x.P
    return [p.r_S * (1 - p.theta * e_igf) * crowding * x.S - p.k_S * e_osi * x.S
            - switching + reversion,
            p.r_P * crowding * x.P + switching - reversion - p.k_P * e_igf * x.G * x.P
            - p.mu * x.P,
            p.r_R * crowding * x.R + p.mu * x.P]


@pytest.mark.parametrize("turnover", [0.0, 0.3])
def test_declared_populations_give_the_written_ode(turnover):
    """The ODE derived from the rates equals the hand-written one at random states, with or
    without balanced turnover (which must not change the mean)."""
    model = persister_model()
    parameters = default_parameters().with_values(turnover=turnover)
    vector = model.parameter_vector(parameters)
    p = SimpleNamespace(**dict(zip(model.parameter_names, vector, strict=True)))
    rng = np.random.default_rng(3)
    for _ in range(20):
        natural = {"S": 10 ** rng.uniform(-3, 9), "P": 10 ** rng.uniform(-3, 7),
                   "R": 10 ** rng.uniform(-5, 5), "F": rng.uniform(0, 1),
                   "G": rng.uniform(0, 1), "C_osi": rng.uniform(0, 1.2),
                   "C_igf": rng.uniform(0, 1.2)}
        internal = [math.log(natural[s.name]) if s.log else natural[s.name]
                    for s in model.states]
        slope = np.asarray(model.f_internal(internal, [1.0, 1.0], vector)).ravel()
        x = SimpleNamespace(**natural)
        cells = _v1_cells(x, p)
        for i, name in enumerate("SPR"):
            assert slope[i] == pytest.approx(cells[i] / natural[name], rel=1e-12, abs=1e-14)


def test_turnover_lowers_cure_not_the_mean():
    model = persister_model()
    osimertinib = np.r_[np.ones(40), np.zeros(60)]
    inhibitor = np.zeros(100)
    inhibitor[:10] = 1
    schedule = Schedule.from_fractions(
        model, {"osimertinib": osimertinib, "igf1r_inhibitor": inhibitor}, 1.0, 100.0)
    runs = [simulate(model, model.parameter_vector(default_parameters().with_values(
        turnover=t)), schedule) for t in (0.0, 0.3)]
    assert np.allclose(runs[0].internal, runs[1].internal, rtol=1e-7, atol=1e-7)
    plain, busy = (r.lineages.expected[-1] for r in runs)
    assert busy < plain  # more death per division: lineages die out more often
    assert runs[0].final_output("cure_probability") == pytest.approx(math.exp(-plain))


def test_population_declaration_errors():
    def build(populations):
        return Model(name="bad", states=(State("N", "cell", log=True), State("M")),
                     controls=(Control("drug"),), parameters=(Parameter("b", "1/day"),),
                     rhs=lambda x, u, p: {"M": 0 * x.M}, initial=lambda p: {"N": 1, "M": 0},
                     outputs=lambda x, p: {"n": x.N}, populations=populations)

    with pytest.raises(ModelError, match=r"populations \['Q'\] are not states"):
        build(lambda x, u, p: {"Q": Rates(p.b, 0)})
    with pytest.raises(ModelError, match=r"transitions to \['Z'\], which are not other "):
        build(lambda x, u, p: {"N": Rates(p.b, 0, {"Z": 1})})
    with pytest.raises(ModelError, match="must give Rates"):
        build(lambda x, u, p: {"N": (p.b, 0)})
    with pytest.raises(ModelError, match=r"rhs must give exactly the states; missing \['M'\]"):
        Model(name="bad", states=(State("N", "cell", log=True), State("M")),
              controls=(Control("drug"),), parameters=(Parameter("b", "1/day"),),
              rhs=lambda x, u, p: {}, initial=lambda p: {"N": 1, "M": 0},
              outputs=lambda x, p: {"n": x.N},
              populations=lambda x, u, p: {"N": Rates(p.b, 0)})


def test_cure_needs_populations():
    model = Model(name="plain", states=(State("N", "cell", log=True),),
                  controls=(Control("drug"),), parameters=(Parameter("r", "1/day"),),
                  rhs=lambda x, u, p: {"N": (p.r - u.drug) * x.N}, initial=lambda p: {"N": 1},
                  outputs=lambda x, p: {"n": x.N})
    with pytest.raises(ModelError, match="declares none"):
        ControlProblem(model, _parameters(r=(0.1, "1/day")), Cure(),
                       free={"drug": (0.0, 10.0)}, horizon=HORIZON)
