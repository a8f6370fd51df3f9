"""The default problem end to end, with every claim re-simulated by the independent integrator."""

from dataclasses import replace

import numpy as np
import pytest

from models.persister import persister_problem
from models.schedule import Schedule
from optimiser.check import check_schedule
from optimiser.nlp import CollocationSolver
from optimiser.pipeline import optimise, solver_for
from optimiser.problem import ProblemError
from optimiser.simulate import simulate

from .conftest import ARMS

OBJECTIVE = "log10_total_cells"


@pytest.fixture(scope="module")
def problem():
    return persister_problem(budget_days=10.0)


@pytest.fixture(scope="module")
def result(problem):
    return optimise(problem)


def _resimulated(problem, schedule):
    model = problem.model
    return simulate(model, model.parameter_vector(problem.parameters), schedule).final_output(
        OBJECTIVE)


def test_result_respects_budget_and_passes_check(result):
    assert result.ok
    assert result.check.passed, result.check.problems
    assert result.budget_used["days-on budget"] <= 10.0 + 1e-9
    days = result.schedule.dosing_days("igf1r_inhibitor")
    assert len(days) == 10 and all(0 <= d < 40 for d in days)
    doses = result.schedule.doses["igf1r_inhibitor"]
    assert set(np.unique(doses)) <= {0.0, 25.0}  # on/off at the reference dose


def test_gap_is_finite_and_non_negative(result):
    assert np.isfinite(result.gap)
    assert result.gap >= -1e-7
    assert result.lower_bound <= result.objective + 1e-7


def test_prediction_matches_independent_resimulation(problem, result):
    assert _resimulated(problem, result.schedule) == pytest.approx(result.objective, abs=1e-3)


def test_optimum_no_worse_than_paper_schedule_and_every_ten_day_block(problem, result):
    optimised = _resimulated(problem, result.schedule)
    paper = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
    assert optimised <= _resimulated(problem, paper) + 1e-6
    for start in range(0, 31):
        on = np.zeros(100)
        on[start:start + 10] = 1.0
        block = problem.schedule({"igf1r_inhibitor": on})
        assert optimised <= _resimulated(problem, block) + 1e-6, f"block from day {start}"


def test_relaxed_bound_is_below_integer_schedules(problem, result):
    solver = solver_for(problem)
    on = np.zeros((1, 100))
    on[0, :10] = 1.0
    assert result.lower_bound <= solver.objective_of(problem, on) + 1e-7


def test_warm_resolve_with_another_budget_reuses_the_solver(problem, result):
    solver = solver_for(problem)
    bigger = problem.with_limits(**{"days-on budget": 14.0})
    assert solver_for(bigger) is solver
    warm = solver.solve(bigger, warm_start=result.relaxed)
    cold = solver.solve(bigger)
    assert warm.success and cold.success
    assert warm.objective == pytest.approx(cold.objective, abs=1e-6)
    assert warm.objective < result.lower_bound  # more budget, less tumour


def test_check_fails_on_disagreement_and_on_violated_budget(problem, result):
    wrong_prediction = check_schedule(problem, result.schedule, result.objective + 0.1)
    assert not wrong_prediction.passed
    assert "differs" in wrong_prediction.problems[0]
    continuous = Schedule.read(ARMS / "osimertinib_plus_igf1r_continuous.json")
    over_budget = check_schedule(problem, continuous, _resimulated(problem, continuous))
    assert not over_budget.passed
    assert "days-on budget" in over_budget.problems[0]


def test_new_parameter_values_reuse_the_compiled_solver(problem, result):
    more_resistance = replace(problem, parameters=problem.parameters.with_values(mu=2e-9))
    assert solver_for(more_resistance) is solver_for(problem)
    solution = solver_for(more_resistance).solve(more_resistance)
    assert solution.success
    # resistant cells dominate the residual and arise in proportion to mu: about log10(2) more
    assert solution.lower_bound == pytest.approx(result.lower_bound + np.log10(2), abs=0.05)
    schedule = more_resistance.schedule(solution.free)
    assert _resimulated(more_resistance, schedule) == pytest.approx(solution.objective, abs=1e-3)


def test_the_drug_free_tail_takes_longer_steps_without_moving_any_figure(problem, result):
    """Day 45 on (5 d after the last osimertinib day) the NLP steps 5 d at a time: 56 intervals
    instead of 100, and the relaxed optimum and the chosen schedule's score stay those of the
    control grid throughout, which is solved here for comparison."""
    assert problem.drug_free_from == 40 and problem.controlled_intervals == 45
    assert np.array_equal(problem.nlp_steps, np.r_[np.ones(45), np.full(11, 5.0)])
    uniform = replace(problem, tail_step=None)
    assert np.array_equal(uniform.nlp_steps, np.ones(100))
    fine = CollocationSolver(uniform)
    relaxed = fine.solve(uniform)
    assert relaxed.success
    assert result.relaxed.objective == pytest.approx(relaxed.objective, abs=1e-7)
    assert result.relaxed.free["igf1r_inhibitor"] == pytest.approx(
        relaxed.free["igf1r_inhibitor"], abs=1e-4)
    model = problem.model
    chosen = result.schedule.fractions(model)[[model.control_names.index("igf1r_inhibitor")]]
    assert solver_for(problem).objective_of(problem, chosen) == pytest.approx(
        fine.objective_of(uniform, chosen), abs=1e-7)


def test_the_tail_is_part_of_the_compiled_structure():
    """A later last dosing day moves the tail, so it must not reuse the solver."""
    shorter = persister_problem(treatment_days=30)
    assert shorter.controlled_intervals == 35 and len(shorter.nlp_steps) == 35 + 13
    assert shorter.structure_key() != persister_problem().structure_key()
    assert solver_for(shorter) is not solver_for(persister_problem())
    # Where longer steps would save nothing, the NLP keeps the control grid.
    short = persister_problem(treatment_days=10, horizon=14)
    assert np.array_equal(short.nlp_steps, np.ones(14))


@pytest.mark.parametrize("tail_step", [0.0, -5.0, float("nan"), float("inf")])
def test_a_bad_tail_step_is_refused_with_its_fix(problem, tail_step):
    with pytest.raises(ProblemError, match="tail step must be a positive number of days"):
        replace(problem, tail_step=tail_step)
