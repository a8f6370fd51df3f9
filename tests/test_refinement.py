"""Automatic accuracy (issue 18): where the independent check disagrees with the objective alone,
``optimise`` halves every Radau step and solves again before it reports.

The two cases below were flagged by the stress run of ``tests/test_properties.py`` (seed 11)
before the refinement: fast rates at the corners of the parameter ranges on a 1-day grid, where
one degree-5 Radau step per day is off by 1.7e-3 and 1.5e-3 decades.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from rich.console import Console

from models.persister import IGF1R_INHIBITOR, default_parameters, persister_problem
from optimiser.check import OBJECTIVE_TOLERANCE
from optimiser.pipeline import MAX_REFINEMENTS, optimise, solver_for, with_dose_levels
from optimiser.report import Report, table
from optimiser.simulate import simulate
from optimiser.spec import ProblemSpec, build_problem
from optimiser.transcription import halved

from .conftest import table_rows

FLAGGED_SHORT = persister_problem(
    budget_days=2.0, treatment_days=10.0, horizon=12.0, grid_step=1.0,
    parameters=default_parameters().with_values(
        N0=50798870.47678987, f_P0=0.0018980453508977769, R0=0.0007592173950543424, k_S=1.5,
        theta=0.09480511599339975, mu=1.3063943572917123e-10, EC50_igf=0.3428928289659235,
        G_b=133.16002924794273, n_I=0.05000000000000001))
FLAGGED_AUC = persister_problem(
    budget_days=1.0673132914073948, treatment_days=11.0, horizon=24.0, grid_step=1.0,
    max_run=1.0, min_holiday=1.0, auc_budget=1.0673132914073948 * 21.393413381654405,
    parameters=default_parameters().with_values(
        N0=49999999.99999999, f_P0=0.0005000000000000001, r_R=0.06295476872348732,
        k_S=2.344855706292413, beta=4.252040854465086, rho=0.029999999999999995,
        rho_osi=0.0030722042291395357, k_P=2.0, t_half_F=12.0, t_half_G=24.00003327108773,
        t_half_igf=4.891940399702124, EC50_igf=0.3, AUC_igf_day=21.393413381654405,
        G_b=125.72843306919005, S_G=0.01322023434267792, phi_I=0.7278403029396717,
        IC50_IR=2.5192218505975634))


def _free(problem, result) -> np.ndarray:
    fractions = result.schedule.fractions(problem.model)
    return np.array([fractions[problem.model.control_names.index(n)]
                     for n in problem.free_names])


def _scored(problem, free: np.ndarray) -> float:
    """The objective of a fixed profile in ``problem``'s own NLP discretisation."""
    return solver_for(problem).solve_reliably(problem, "scoring", initial_free=free,
                                              fix_free=free).objective


def _simulated(problem, result, rtol: float) -> float:
    """The objective by scipy alone, at tolerance ``rtol``."""
    trajectory = simulate(problem.model, problem.parameter_vector, result.schedule, rtol=rtol)
    return problem.objective.checked(trajectory, result.schedule)


def test_a_flagged_case_passes_its_check_after_a_refinement():
    result = optimise(FLAGGED_SHORT)
    assert result.ok, result.check.problems
    assert 1 <= result.refinements <= MAX_REFINEMENTS
    resimulated = _simulated(FLAGGED_SHORT, result, rtol=1e-10)
    assert abs(result.objective - resimulated) <= OBJECTIVE_TOLERANCE
    assert result.check.resimulated_objective == pytest.approx(resimulated, abs=1e-9)
    # The same schedule on the first discretisation is what the check flagged.
    problem = with_dose_levels(FLAGGED_SHORT, None)[0]
    assert abs(_scored(problem, _free(problem, result)) - resimulated) > OBJECTIVE_TOLERANCE
    assert result.gap >= -1e-6  # the bound is on the refined discretisation too
    assert result.relaxed.free[IGF1R_INHIBITOR].sum() <= 2.0 + 1e-6

    report = Report.from_result(result, FLAGGED_SHORT, 1.0)
    assert report.model_dump(mode="json")["refinements"] == result.refinements
    _, rows = table_rows(report)
    assert " ".join(rows["discretisation refined"]) == (
        f"{result.refinements} time(s): every Radau step halved until the check agreed")


def test_the_refined_objective_agrees_with_a_fine_simulation():
    """Against scipy at rtol 1e-12 (the check runs at 1e-10): the refinement removes the
    discretisation error rather than moving the prediction onto the check's own error."""
    result = optimise(FLAGGED_AUC)
    assert result.ok and result.refinements >= 1, result.check.problems
    fine = _simulated(FLAGGED_AUC, result, rtol=1e-12)
    problem = with_dose_levels(FLAGGED_AUC, None)[0]
    coarse_error = abs(_scored(problem, _free(problem, result)) - fine)
    refined_error = abs(result.objective - fine)
    assert coarse_error > OBJECTIVE_TOLERANCE
    assert refined_error <= OBJECTIVE_TOLERANCE / 2
    assert refined_error <= coarse_error / 4
    assert all(report.passed for report in result.check.constraints)


def test_the_main_job_needs_no_refinement():
    """``optimise --budget 10d`` on the defaults (model v2) agrees with its check at once."""
    problem, levels = build_problem(ProblemSpec(budget="10d"))
    result = optimise(problem, dose_levels=levels)
    assert result.ok and result.refinements == 0
    console = Console(width=200, record=True)
    console.print(table(Report.from_result(result, problem, 1.0)))
    assert "discretisation refined" not in console.export_text()


def test_each_refinement_halves_every_step_and_compiles_its_own_solver():
    assert halved((1.0,)) == (0.5, 1.0)
    assert halved((0.5, 1.0)) == (0.25, 0.5, 0.75, 1.0)
    assert halved((1 / 8, 1 / 2, 1.0)) == (1 / 16, 1 / 8, 5 / 16, 1 / 2, 3 / 4, 1.0)
    problem = with_dose_levels(FLAGGED_SHORT, None)[0]
    refined = replace(problem, substeps=halved(problem.substeps))
    assert refined.structure_key() != problem.structure_key()
    coarse, fine = solver_for(problem), solver_for(refined)
    assert fine is not coarse
    assert fine.transcription.n_collocation == 2 * coarse.transcription.n_collocation
