"""Parameter ensembles and robust optimisation (mean or worst case over parameter draws)."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import truncnorm, uniform

from models.ensemble import Ensemble
from models.parameters import ParameterError
from models.persister import (
    IGF1R_INHIBITOR,
    default_ensemble,
    default_parameters,
    persister_problem,
)
from optimiser.nlp import CollocationSolver
from optimiser.pipeline import optimise
from optimiser.problem import ProblemError
from optimiser.simulate import simulate

from .conftest import run_cli


@pytest.fixture(scope="module")
def base():
    return default_parameters()


@pytest.fixture(scope="module")
def robust_pair():
    """Two draws, both modes, on the default 10-day problem."""
    problem = persister_problem(budget_days=10)
    return {mode: problem.robust(2, mode, seed=3) for mode in ("mean", "worst")}


def _resimulated(problem, profile, parameters):
    schedule = problem.schedule({IGF1R_INHIBITOR: profile})
    vector = problem.model.parameter_vector(parameters)
    return simulate(problem.model, vector, schedule).final_output(problem.objective.output)


# -- ensemble ------------------------------------------------------------------------------------
def test_draws_are_reproducible_and_seed_dependent(base):
    ensemble = default_ensemble()
    first = ensemble.sample(base, 5, seed=7)
    again = ensemble.sample(base, 5, seed=7)
    other = ensemble.sample(base, 5, seed=8)
    assert [s.digest for s in first] == [s.digest for s in again]
    assert not {s.digest for s in first} & {s.digest for s in other}
    assert len({s.digest for s in first}) == 5


def test_draws_stay_in_range_and_follow_the_truncated_log_normal(base):
    ensemble = default_ensemble()
    draws = ensemble.sample(base, 3000, seed=0)
    held = set(base.values) - set(ensemble.spreads)
    for name, spread in ensemble.spreads.items():
        nominal = base.values[name]
        values = np.array([d.values[name].value for d in draws])
        assert values.min() >= nominal.lower and values.max() <= nominal.upper, name
        if spread.gsd is None:  # uniform over the documented range (turnover, default 0)
            expected = uniform(nominal.lower, nominal.upper - nominal.lower)
            assert values.mean() == pytest.approx(expected.mean(),
                                                  abs=4 * expected.std() / 50), name
            assert values.std() == pytest.approx(expected.std(), rel=0.05), name
            continue
        # The log-ratio is a normal truncated to the documented range: compare its mean and
        # standard deviation with scipy's truncated normal (an independent computation).
        sigma = math.log(spread.gsd)
        lower = (math.log(nominal.lower / nominal.value) / sigma if nominal.lower > 0
                 else -np.inf)
        upper = math.log(nominal.upper / nominal.value) / sigma
        logs = np.log(values / nominal.value)
        expected = truncnorm(lower, upper, scale=sigma)
        assert logs.mean() == pytest.approx(expected.mean(), abs=4 * expected.std() / 50), name
        assert logs.std() == pytest.approx(expected.std(), rel=0.08), name
    for name in held:  # parameters without a spread are not touched
        assert {d.values[name].value for d in draws[:50]} == {base.values[name].value}


@pytest.mark.parametrize(("text", "message"), [
    ("[spread.k_P]\ngsd = 0.9\nreason = 'x'\n", r"gsd, a number above 1 \(got 0.9\)"),
    ("[spread.k_P]\ngsd = 1.3\n", r"spread of 'k_P' needs a reason"),
    ("[spread.k_P]\ngsd = 1.3\nuniform = true\nreason = 'x'\n", r"gives both gsd and "
     "uniform; keep one"),
    ("[meta]\nname = 'x'\n", r"no \[spread.NAME\] tables"),
    ("[spread.k_P\ngsd = 1.3\n", r"is not valid TOML"),
])
def test_bad_ensemble_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "ensemble.toml"
    path.write_text(text)
    with pytest.raises(ParameterError, match=message):
        Ensemble.from_toml(path)


def test_an_ensemble_refuses_parameters_the_set_lacks_and_values_outside_their_range(tmp_path,
                                                                                     base):
    path = tmp_path / "ensemble.toml"
    path.write_text("[spread.nope]\ngsd = 1.3\nreason = 'x'\n")
    with pytest.raises(ParameterError, match=r"spreads \['nope'\], which parameter set"):
        Ensemble.from_toml(path).sample(base, 2, 0)
    outside = base.with_values(k_P=10.0)  # documented range 2-4.5
    with pytest.raises(ParameterError, match=r"'k_P' = 10 must be positive and within"):
        default_ensemble().sample(outside, 2, 0)


def test_a_robust_problem_needs_two_draws_and_a_known_mode():
    problem = persister_problem()
    with pytest.raises(ProblemError, match=r"at least 2 parameter samples, got 1"):
        problem.robust(1)
    with pytest.raises(ProblemError, match=r"scenario mode 'median' is not one of"):
        problem.robust(2, "median")


# -- robust NLP ----------------------------------------------------------------------------------
def test_identical_scenarios_reproduce_the_nominal_optimum(base):
    nominal = persister_problem(budget_days=10)
    expected = CollocationSolver(nominal).solve(nominal)
    for mode in ("mean", "worst"):
        twin = replace(nominal, scenarios=(base, base), scenario_mode=mode)
        solution = CollocationSolver(twin).solve(twin)
        assert solution.success
        assert solution.objective == pytest.approx(expected.objective, abs=1e-6)
        assert solution.lower_bound == pytest.approx(expected.lower_bound, abs=1e-6)


def test_relaxed_robust_objectives_combine_the_scenarios_as_scipy_does(robust_pair):
    values = {}
    for mode, problem in robust_pair.items():
        solution = CollocationSolver(problem).solve(problem)
        assert solution.success, solution.status
        profile = solution.free[IGF1R_INHIBITOR]
        per_draw = [_resimulated(problem, profile, draw) for draw in problem.scenarios]
        combined = max(per_draw) if mode == "worst" else float(np.mean(per_draw))
        assert solution.objective == pytest.approx(combined, abs=1e-3)
        assert solution.lower_bound <= solution.objective + 1e-6
        values[mode] = solution.lower_bound
    # min over doses of the max over draws is at least min over doses of their mean
    assert values["worst"] >= values["mean"] - 1e-6


def test_robust_schedule_is_checked_in_every_scenario(robust_pair):
    problem = robust_pair["mean"]
    result = optimise(problem)
    assert result.ok, result.check.problems
    profile = result.schedule.doses[IGF1R_INHIBITOR] / 25.0
    independent = [_resimulated(problem, profile, draw) for draw in problem.scenarios]
    assert result.check.scenario_objectives == pytest.approx(independent, abs=1e-9)
    assert result.check.resimulated_objective == pytest.approx(np.mean(independent), abs=1e-9)
    assert result.lower_bound <= result.objective + 1e-6
    # The nominal optimum is feasible for the robust problem, so it cannot beat the bound.
    nominal = optimise(persister_problem(budget_days=10))
    nominal_profile = nominal.schedule.doses[IGF1R_INHIBITOR] / 25.0
    mean_of_nominal = np.mean([_resimulated(problem, nominal_profile, draw)
                               for draw in problem.scenarios])
    assert mean_of_nominal >= result.lower_bound - 1e-3
    assert result.provenance["scenarios"]["mode"] == "mean"
    assert len(result.provenance["scenarios"]["parameter_sets"]) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--robust", "1"], "at least 2 parameter samples, got 1; give --robust 2 or more"),
    (["--robust-mode", "worst"], "--robust-mode needs --robust N"),
    (["--robust", "2", "--robust-mode", "median"], "scenario mode 'median' is not one of"),
])
def test_robust_options_fail_with_one_line(args, message):
    completed = run_cli("--budget", "10d", *args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
