"""The glucose limit: the glucose-insulin states, the NLP path constraint and the check."""

import json

import numpy as np
import pytest

from constraints.path import PathLimitError, max_glucose, parse_glucose
from models.persister import default_parameters, persister_model, persister_problem
from models.schedule import Schedule
from optimiser.pipeline import optimise, solver_for
from optimiser.simulate import simulate

from .conftest import run_cli
from .counting import dosing_runs
from .test_cli import V1

DRUG = "igf1r_inhibitor"


@pytest.fixture(scope="module")
def glucose_model():
    return persister_model(glucose=True)


@pytest.fixture(scope="module")
def glucose_parameters(glucose_model):
    return glucose_model.parameter_vector(default_parameters())


def _named(model, vector, name):
    return vector[model.parameter_names.index(name)]


def _steady_glucose(model, p, exposure):
    """Closed form: phi (1 - e) g^2 + (1 - phi) g - 1 = 0 with e = c / (IC50_IR + c)."""
    phi, ic50, basal = (_named(model, p, n) for n in ("phi_I", "IC50_IR", "G_b"))
    e = exposure / (ic50 + exposure)
    a, b = phi * (1 - e), 1 - phi
    return basal * (-b + np.sqrt(b * b + 4 * a)) / (2 * a)


def _schedule(days, dose=25.0):
    doses = np.zeros(100)
    doses[days] = dose
    return Schedule(1.0, 100.0, {DRUG: doses}, {DRUG: "mg/kg"})


def test_glucose_settles_where_the_closed_form_puts_it(glucose_model, glucose_parameters):
    for dose, exposure in ((25.0, 1.0), (12.5, 0.5)):
        trajectory = simulate(glucose_model, glucose_parameters, _schedule(range(20), dose))
        glucose = trajectory.output("glucose")
        day_19 = np.argmin(abs(trajectory.times - 19.99))
        assert glucose[day_19] == pytest.approx(
            _steady_glucose(glucose_model, glucose_parameters, exposure), rel=1e-5)
        assert glucose[-1] == pytest.approx(_named(glucose_model, glucose_parameters, "G_b"),
                                            rel=1e-6)


def test_tumour_is_untouched_by_the_glucose_states(glucose_model, glucose_parameters, model,
                                                   parameter_vector):
    schedule = _schedule(range(10))
    with_glucose = simulate(glucose_model, glucose_parameters, schedule)
    without = simulate(model, parameter_vector, schedule)
    assert with_glucose.final_output("log10_total_cells") == pytest.approx(
        without.final_output("log10_total_cells"), abs=1e-7)


def test_checker_catches_a_run_that_breaks_the_limit(glucose_model, glucose_parameters):
    limit = max_glucose(164.0)
    single_days = simulate(glucose_model, glucose_parameters, _schedule([0, 2, 4]))
    run = simulate(glucose_model, glucose_parameters, _schedule([0, 1, 2, 3, 4]))
    assert limit.report(single_days.output("glucose")).passed
    broken = limit.report(run.output("glucose"))
    assert not broken.passed
    assert broken.used == pytest.approx(
        _steady_glucose(glucose_model, glucose_parameters, 1 - 2.0 ** -20), rel=1e-3)


def test_relaxed_problem_keeps_glucose_under_the_limit():
    loose = persister_problem(10.0, max_glucose=1000.0)
    tight = loose.with_limits(**{"max glucose": 160.0})
    solver = solver_for(loose)
    assert solver_for(tight) is solver  # the limit is a bound: no rebuild
    free, bound = {}, {}
    for name, problem in (("loose", loose), ("tight", tight)):
        solution = solver.solve(problem)
        assert solution.success, solution.status
        free[name], bound[name] = solution.free[DRUG], solution.lower_bound
        schedule = problem.schedule(solution.free)
        trajectory = simulate(problem.model, problem.parameter_vector, schedule)
        peak = trajectory.output("glucose").max()
        if name == "tight":
            assert peak <= 160.0 * (1 + 1e-4)
    assert free["loose"].max() == pytest.approx(1.0)
    # Over a run of days the limit holds the dose where steady glucose is 160 mg/dL: invert the
    # closed form, phi (1 - e) g^2 + (1 - phi) g = 1, for the exposure c = e IC50 / (1 - e).
    p = loose.parameter_vector
    phi, ic50, basal = (_named(loose.model, p, n) for n in ("phi_I", "IC50_IR", "G_b"))
    g = 160.0 / basal
    e = 1 - (1 - (1 - phi) * g) / (phi * g * g)
    assert free["tight"][2:7] == pytest.approx(np.full(5, e * ic50 / (1 - e)), abs=1e-3)
    assert bound["tight"] > bound["loose"] + 0.005


def test_search_spreads_doses_to_keep_glucose_down():
    """164 mg/dL admits a single full-dose day (163.6) but not two in a row (164.96)."""
    result = optimise(persister_problem(10.0, max_glucose=164.0))
    assert result.check.passed, result.check.problems
    on = result.schedule.doses[DRUG] > 0
    assert on.sum() == 10
    assert all(length == 1 for _, length in dosing_runs(on))
    model = persister_model(glucose=True)
    trajectory = simulate(model, model.parameter_vector(default_parameters()), result.schedule)
    assert trajectory.output("glucose").max() <= 164.0 * (1 + 1e-4)
    assert result.objective >= result.lower_bound - 1e-6


@pytest.mark.parametrize(("text", "mg_dl"), [("180", 180.0), ("180mg/dL", 180.0),
                                               ("1.8 g/L", 180.0), ("10mmol/L", 180.156)])
def test_glucose_limits_are_read_with_units(text, mg_dl):
    assert parse_glucose(text) == pytest.approx(mg_dl)


@pytest.mark.parametrize(("text", "message"), [("high", "not understood"),
                                               ("-5", "not understood"),
                                               ("180 parsec", "cannot be converted"),
                                               ("0", "positive")])
def test_bad_glucose_limits_are_refused(text, message):
    with pytest.raises(PathLimitError, match=message):
        max_glucose(parse_glucose(text))


def test_cli_reports_the_glucose_limit():
    completed = run_cli(*V1, "--budget", "3d", "--max-glucose", "164", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    glucose = next(c for c in report["check"]["constraints"] if c["name"] == "max glucose")
    assert glucose["passed"] and glucose["used"] <= 164.0 * (1 + 1e-4)
    assert glucose["unit"] == "mg/dL"
    refused = run_cli(*V1, "--max-glucose", "lots")
    assert refused.returncode == 2
    assert "glucose limit 'lots' is not understood" in refused.stderr
