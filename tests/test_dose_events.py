"""Dose events (``Control.bolus_into``): oral doses enter a gut compartment at once, in the
optimiser's collocation, its CVODES screening and the independent scipy check alike.

The reference is the closed form of one-compartment oral PK under repeated boluses: after a dose
D into the gut, A(t) = A0 e^(-ka t) and C(t) = C0 e^(-ke t) + ka A0 / (V (ka - ke))
(e^(-ke t) - e^(-ka t)), summed over the doses given so far."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.model import Control, Model, ModelError, Parameter, State
from models.parameters import ParameterSet
from optimiser.problem import ControlProblem, ProblemError
from optimiser.screening import Screening
from optimiser.simulate import integrator_name, simulate
from optimiser.transcription import Transcription, collocation_times

KA, KE, VOLUME, DOSE = 12.0, 4.0, 2.0, 10.0  # 1/day, 1/day, L, mg


def _oral_model(bolus: bool = True) -> Model:
    return Model(
        name="oral",
        states=(State("A", "mg"), State("C", "mg/L"), State("X", "1", log=True)),
        controls=(Control("drug", dose_unit="mg", reference_dose=DOSE,
                          bolus_into="A" if bolus else ""),),
        parameters=(Parameter("ka", "1/day"), Parameter("ke", "1/day"),
                    Parameter("V", "L"), Parameter("k", "1/day")),
        # X decays at a rate proportional to the concentration: ln X(T) = -k AUC(0, T)
        rhs=lambda x, u, p: {"A": -p.ka * x.A, "C": p.ka * x.A / p.V - p.ke * x.C,
                             "X": -p.k * x.C * x.X},
        initial=lambda p: {"A": 0, "C": 0, "X": 1},
        outputs=lambda x, p: {"X": x.X, "C": x.C},
    )


PARAMETERS = ParameterSet.from_mapping({"parameters": {
    "ka": {"value": KA, "unit": "1/day", "source": "test"},
    "ke": {"value": KE, "unit": "1/day", "source": "test"},
    "V": {"value": VOLUME, "unit": "L", "source": "test"},
    "k": {"value": 0.1, "unit": "1/day", "source": "test"},
}})


def closed_form_concentration(times: np.ndarray, dose_days: list[int]) -> np.ndarray:
    total = np.zeros_like(times)
    for day in dose_days:
        t = times - day
        after = t >= 0
        total[after] += KA * DOSE / (VOLUME * (KA - KE)) * (np.exp(-KE * t[after])
                                                           - np.exp(-KA * t[after]))
    return total


def closed_form_auc(stop: float, dose_days: list[int]) -> float:
    """AUC of C from 0 to ``stop``: D / (V ke) per dose, less what lies beyond ``stop``."""
    total = 0.0
    for day in dose_days:
        t = max(stop - day, 0.0)
        total += KA * DOSE / (VOLUME * (KA - KE)) * ((1 - np.exp(-KE * t)) / KE
                                                     - (1 - np.exp(-KA * t)) / KA)
    return total


def _problem(substeps=(1 / 12, 1 / 4, 1 / 2, 1.0)) -> ControlProblem:
    return ControlProblem(model=_oral_model(), parameters=PARAMETERS, objective="C",
                          free={"drug": (0.0, 4.0)}, horizon=6.0, substeps=substeps)


def test_scipy_check_follows_the_closed_form_of_repeated_oral_doses():
    problem = _problem()
    free = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    schedule = problem.schedule({"drug": free})
    trajectory = simulate(problem.model, problem.parameter_vector, schedule)
    expected = closed_form_concentration(trajectory.times, [0, 2, 3])
    np.testing.assert_allclose(trajectory.states["C"], expected, rtol=1e-8, atol=1e-10)
    # the peak after a dose is sampled finely, so path limits see it
    peak_time = np.log(KA / KE) / (KA - KE)  # days after a single dose
    first_day = trajectory.times <= 1.0
    assert trajectory.states["C"][first_day].max() == pytest.approx(
        closed_form_concentration(np.array([peak_time]), [0])[0], rel=2e-3)
    assert integrator_name(problem.model) == "scipy LSODA"
    assert integrator_name(_oral_model(bolus=False)) == "scipy Radau"


def test_collocation_and_screening_apply_the_doses_at_each_interval_start():
    problem = _problem()
    free = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    transcription = Transcription(problem)
    screening = Screening(transcription, problem.grid_step, problem.model)
    (nodes, points), = screening.simulate_many(problem, [free[0][None, :]])
    times = np.array(collocation_times(transcription.steps, transcription.degree,
                                       transcription.substeps))
    c_row = problem.model.state_names.index("C")
    np.testing.assert_allclose(points[c_row], closed_form_concentration(times, [0, 2, 3]),
                               rtol=1e-5, atol=2e-6)  # CVODES at 1e-7
    # the nodes hold the states before each interval's dose: day 2 starts before its dose
    np.testing.assert_allclose(nodes[c_row], closed_form_concentration(
        np.arange(7.0) - 1e-12, [0, 2, 3]), rtol=1e-5, atol=2e-6)  # CVODES at 1e-7
    # the collocation equations hold on the closed-form solution to discretisation accuracy
    x_row = problem.model.state_names.index("X")
    log_x = -0.1 * closed_form_auc(6.0, [0, 2, 3])
    assert nodes[x_row, -1] == pytest.approx(log_x, abs=1e-6)


def test_graded_steps_shrink_the_collocation_error_after_a_dose():
    """The collocation NLP scores a fixed schedule; graded Radau steps follow the absorption
    peak better than one step per day (the error of ln X at the horizon)."""
    from optimiser.nlp import CollocationSolver

    free = np.array([[1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    exact = -0.1 * closed_form_auc(6.0, [0, 2, 3])
    errors = {}
    for substeps in ((1.0,), (1 / 12, 1 / 4, 1 / 2, 1.0)):
        problem = replace(_problem(substeps), objective="X")
        solved = CollocationSolver(problem).solve(problem, initial_free=free, fix_free=free)
        errors[substeps] = abs(np.log(solved.objective) - exact)
    assert errors[(1 / 12, 1 / 4, 1 / 2, 1.0)] < 1e-6
    assert errors[(1 / 12, 1 / 4, 1 / 2, 1.0)] < errors[(1.0,)] / 10


def test_a_bolus_into_an_unknown_state_is_refused():
    with pytest.raises(ModelError, match="bolus_into 'gut' is not a state"):
        Model(name="bad", states=(State("A"),),
              controls=(Control("drug", bolus_into="gut"),), parameters=(),
              rhs=lambda x, u, p: {"A": -x.A}, initial=lambda p: {"A": 1},
              outputs=lambda x, p: {"A": x.A})


@pytest.mark.parametrize("substeps", [(), (0.5, 0.25, 1.0), (0.5,), (0.0, 1.0)])
def test_bad_substeps_are_refused(substeps):
    with pytest.raises(ProblemError, match="substeps must be increasing fractions"):
        _problem(substeps)
