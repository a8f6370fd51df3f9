"""Solver failures are reported, retried once from a safer start, and never shown as optima."""

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

import optimiser.cache as cache
import optimiser.nlp as collocation
import optimiser.pipeline as pipeline
from constraints.path import OutputLimit
from models.persister import persister_problem
from optimiser.cli import app
from optimiser.nlp import CollocationSolver, SolverError


@pytest.fixture
def infeasible():
    """Built to fail: no IGF-1R inhibitor may be given (budget 0), yet the tumour must never
    exceed 10^8.4 cells; without the inhibitor it regrows past that after day 50 (checked
    below by simulation), so no schedule keeps the limit."""
    problem = persister_problem(budget_days=0, treatment_days=10, horizon=70)
    limit = OutputLimit("log10_total_cells", 8.4, "log10 cells", "max tumour")
    return replace(problem, path_limits=[limit])


def test_a_problem_built_to_fail_is_reported_with_status_iterations_and_hint(infeasible,
                                                                             monkeypatch):
    solver = pipeline.solver_for(infeasible)
    untreated = solver.simulate(infeasible, np.zeros((1, infeasible.n_intervals)))[0]
    peak = max(float(infeasible.model.output_function("log10_total_cells")(
        untreated[:, k], infeasible.scenario_vectors[0])) for k in range(untreated.shape[1]))
    assert peak > 9.0  # the limit of 8.4 really cannot be kept

    starts = []
    solve = CollocationSolver.solve

    def spy(self, problem, **options):
        starts.append(options.get("safe", False))
        return solve(self, problem, **options)

    monkeypatch.setattr(CollocationSolver, "solve", spy)
    with pytest.raises(SolverError) as failure:
        pipeline.optimise(infeasible)
    assert starts == [False, True]  # one retry, from the safer start, before giving up
    assert failure.value.status == "Infeasible_Problem_Detected"
    assert failure.value.iterations > 0
    message = str(failure.value)
    assert "the relaxed solve (lower bound) did not converge: IPOPT Infeasible_Problem_Detected"\
        in message
    assert f"after {failure.value.iterations} iterations" in message
    assert "relax them" in message and "\n" not in message


def test_the_safer_start_rescues_a_solve_that_failed(monkeypatch):
    """The first attempt is starved of iterations; the retry (with its own budget) converges
    to the same optimum as a normal solve."""
    problem = persister_problem(budget_days=10, treatment_days=10, horizon=30)
    reference = CollocationSolver(problem).solve(problem)
    monkeypatch.setitem(collocation.IPOPT_OPTIONS, "max_iter", 2)
    monkeypatch.setitem(collocation.SAFE_OPTIONS, "max_iter", 1000)
    starved = CollocationSolver(problem)
    assert not starved.solve(problem).success
    rescued = starved.solve_reliably(problem, "test solve")
    assert rescued.success
    assert rescued.lower_bound == pytest.approx(reference.lower_bound, abs=1e-6)


def test_cli_exits_1_and_reports_no_schedule_when_ipopt_fails(monkeypatch):
    monkeypatch.setitem(collocation.IPOPT_OPTIONS, "max_iter", 2)
    monkeypatch.setitem(collocation.SAFE_OPTIONS, "max_iter", 2)
    monkeypatch.setattr(cache, "SOLVERS", cache.SolverCache())
    arguments = ["--preset", "persister_v1", "--budget", "5d", "--treatment-days", "10",
                 "--horizon", "30"]
    result = CliRunner().invoke(app, [*arguments, "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "solver_failed" and "schedule" not in report
    assert report["solver"]["status"] == "Maximum_Iterations_Exceeded"
    assert report["solver"]["iterations"] == 2
    assert "coarser --grid" in report["solver"]["hint"]
    assert result.stderr.strip().splitlines() == [
        f"error: numerical failure: {report['message']}"]

    table = CliRunner().invoke(app, arguments)
    assert table.exit_code == 1
    assert "IGF-1R inhibitor days" not in table.stdout
    assert "Maximum_Iterations_Exceeded after 2 iterations" in table.stderr


def test_a_schedule_at_the_glucose_limit_can_be_scored():
    """Found by the property stress run: a schedule screened to peak just at the glucose limit
    (within the 1e-4 slack the screen and the check allow) made the fixed scoring solve
    infeasible, and optimise raised SolverError. Scoring now imposes no limit; the check
    judges it."""
    from models.persister import default_parameters

    problem = persister_problem(budget_days=2.0, treatment_days=3.0, horizon=8.0,
                                max_glucose=155.3125, parameters=default_parameters().with_values(
                                    phi_I=0.6233000959543507))
    result = pipeline.optimise(problem, dose_levels=(0.7109375, 1.0))
    assert result.ok, result.check.problems
    glucose = next(r for r in result.check.constraints if r.name == "max glucose")
    assert glucose.passed and glucose.used == pytest.approx(155.3125, rel=1e-3)
    assert result.objective >= result.lower_bound - 1e-6
