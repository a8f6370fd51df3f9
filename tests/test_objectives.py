"""Objectives as objects: exposure, terminal limits from above and below, maximisation, names.

The ``kill`` model has closed forms: ``d ln S/dt = growth - kill * u``, so the log10 kill at the
horizon T is ``(kill * D - growth * T) / ln 10`` for D reference-dose days of drug, whenever
they are given. Its optima are known exactly, relaxed (D real) and on/off (D whole).
"""

import math

import casadi as ca
import numpy as np
import pytest

from constraints import DaysOnBudget, TerminalLimit
from models import Control, Model, Parameter, ParameterSet, State
from models.model import ModelError
from models.persister import IGF1R_INHIBITOR, persister_problem
from models.registry import PresetError
from optimiser import ControlProblem, optimise
from optimiser.objectives import Exposure, Integral, ObjectiveError, Terminal
from optimiser.simulate import simulate

GROWTH, KILL, HORIZON, WINDOW = 0.1, 1.0, 20.0, (0.0, 10.0)
REFERENCE_DOSE = 10.0  # mg/kg
KILL_MODEL = Model(
    name="kill",
    states=(State("S", "cell", log=True),),
    controls=(Control("drug", dose_unit="mg/kg", reference_dose=REFERENCE_DOSE),),
    parameters=(Parameter("growth", "1/day"), Parameter("kill", "1/day")),
    rhs=lambda x, u, p: {"S": (p.growth - p.kill * u.drug) * x.S},
    initial=lambda p: {"S": 1e6},
    outputs=lambda x, p: {"log10_kill": ca.log10(1e6 / x.S), "log10_cells": ca.log10(x.S)},
)
KILL_PARAMETERS = ParameterSet.from_mapping({"parameters": {
    "growth": {"value": GROWTH, "unit": "1/day", "source": "test"},
    "kill": {"value": KILL, "unit": "1/day", "source": "test"},
}})


def _kill_problem(objective, **options) -> ControlProblem:
    return ControlProblem(KILL_MODEL, KILL_PARAMETERS, objective, free={"drug": WINDOW},
                          horizon=HORIZON, **options)


def _log10_kill(days_of_drug: float) -> float:
    return (KILL * days_of_drug - GROWTH * HORIZON) / math.log(10)


def _amount(schedule, drug: str) -> float:
    """Total amount in mg/kg * day from the schedule's daily doses (mg/kg/day)."""
    return float(np.sum(schedule.doses.get(drug, 0.0)) * schedule.grid_step)


def _final(problem, schedule, output: str = "log10_total_cells", rtol: float = 1e-11) -> float:
    """The output at the horizon on an independent scipy trajectory (rtol 1e-11 unless
    given: tighter than the checker's 1e-10)."""
    trajectory = simulate(problem.model, problem.parameter_vector, schedule,
                          samples_per_interval=1, rtol=rtol)
    return trajectory.final_output(output)


# -- exposure under a limit at the horizon -----------------------------------------------------

def test_least_exposure_that_keeps_the_tumour_below_100_cells():
    """The built-in problem turned round: the least IGF-1R inhibitor (mg/kg * day) that leaves
    at most 10^2 cells at day 100, osimertinib on days 0-40 (no days-on budget: the exposure
    itself is minimised)."""
    problem = persister_problem(objective=Exposure(IGF1R_INHIBITOR),
                                max_final={"log10_total_cells": 2.0})
    assert not problem.constraints  # the budget of the minimised drug is dropped
    result = optimise(problem)
    assert result.ok, result.check.problems
    schedule = result.schedule
    final = _final(problem, schedule)
    assert final <= 2.0 + 1e-4
    amount = _amount(schedule, IGF1R_INHIBITOR)
    assert amount > 0
    assert result.objective == pytest.approx(amount, rel=1e-12)
    assert result.check.resimulated_objective == pytest.approx(amount, rel=1e-12)
    # on/off at 25 mg/kg on whole days
    doses = schedule.doses[IGF1R_INHIBITOR]
    assert set(np.unique(doses)) <= {0.0, 25.0}
    assert np.all(np.flatnonzero(doses) < 40)
    assert result.bound <= result.objective and result.gap >= 0
    assert result.gap == pytest.approx(result.objective - result.bound)
    # The least exposure: without any one of its days the schedule breaks the limit (by 0.15
    # decades or more, so rtol 1e-7 suffices).
    for day in np.flatnonzero(doses):
        fewer = doses.copy()
        fewer[day] = 0.0
        shorter = problem.schedule({IGF1R_INHIBITOR: fewer / 25.0})
        assert _final(problem, shorter, rtol=1e-7) > 2.0 + 0.01, f"day {day} is not needed"


def test_least_exposure_for_a_lower_limit_matches_the_closed_form():
    """``min_final`` twin on the kill model: the least drug with a log10 kill of at least 3
    at the horizon needs D = (3 ln 10 + growth * T) / kill = 8.908 reference days: relaxed,
    89.08 mg/kg * day; on/off, 9 whole days = 90 mg/kg * day."""
    problem = _kill_problem(Exposure("drug"),
                            constraints=[TerminalLimit("log10_kill", lower=3.0)])
    result = optimise(problem)
    assert result.ok, result.check.problems
    days = (3.0 * math.log(10) + GROWTH * HORIZON) / KILL
    assert result.bound == pytest.approx(REFERENCE_DOSE * days, abs=1e-3)
    assert result.objective == pytest.approx(REFERENCE_DOSE * math.ceil(days), abs=1e-9)
    assert result.objective == pytest.approx(_amount(result.schedule, "drug"), rel=1e-12)
    assert result.bound <= result.objective and result.gap >= 0
    kill = _final(problem, result.schedule, "log10_kill")
    assert kill >= 3.0 - 1e-4
    assert kill == pytest.approx(_log10_kill(math.ceil(days)), abs=1e-8)


def test_lower_limit_at_the_horizon_binds_on_the_built_in_model():
    """The least residual tumour that keeps at least 10^3 cells at day 60 (osimertinib on days
    0-20): the relaxed optimum sits on the lower limit, the schedule keeps it under the
    independent re-simulation, and the bound is still below the schedule."""
    problem = persister_problem(min_final={"log10_total_cells": 3.0}, horizon=60.0,
                                treatment_days=20.0)
    result = optimise(problem)
    assert result.ok, result.check.problems
    assert result.bound == pytest.approx(3.0, abs=1e-4)  # on the limit (allowance 2.5e-5)
    final = _final(problem, result.schedule)
    assert final >= 3.0 - 1e-4
    assert final == pytest.approx(result.objective, abs=1e-3)
    assert result.bound <= result.objective and result.gap >= 0
    assert result.objective < 3.05  # uses drug: no drug leaves 10^8 cells
    assert 0 < np.count_nonzero(result.schedule.doses[IGF1R_INHIBITOR]) <= 10


@pytest.mark.xfail(strict=True, reason="known limitation (issue 13 closing note): integer "
                   "candidates are screened with CVODES, the bound lives in the NLP "
                   "discretisation, which differs by up to 6.4e-4 decades on spread single "
                   "days; a terminal limit kept under CVODES can be broken in the NLP")
def test_lower_limit_on_the_objective_output_keeps_the_bound_at_day_100():
    """KNOWN LIMITATION: on the default horizon the chosen schedule (days 2, 16, 28, 33, 38) keeps
    the lower limit under CVODES (3.00036) and scipy (3.00036), but in the NLP's discretisation
    it scores 2.99972, below the limit and below the relaxed bound 2.99996: a gap of -2.4e-4
    decades, against the README's 'never below the bound by more than 1e-6'."""
    problem = persister_problem(min_final={"log10_total_cells": 3.0})
    result = optimise(problem)
    assert result.check.passed, result.check.problems
    assert _final(problem, result.schedule) >= 3.0 - 1e-4
    assert result.gap >= -1e-6, (result.objective, result.bound)


# -- maximisation ------------------------------------------------------------------------------

def test_maximised_kill_under_a_fractional_budget_matches_the_closed_form():
    """sense="max": the most log10 kill with 7.5 reference days. Relaxed, all 7.5 days count;
    on/off, 7 whole days. The bound is an upper bound and the gap is bound minus objective."""
    objective = Terminal("log10_kill", sense="max")
    problem = _kill_problem(objective, constraints=[DaysOnBudget("drug", 7.5)])
    result = optimise(problem)
    assert result.ok, result.check.problems
    assert result.sense == "max"
    assert result.bound == pytest.approx(_log10_kill(7.5), abs=1e-4)
    assert result.objective == pytest.approx(_log10_kill(7.0), abs=1e-6)
    assert result.bound >= result.objective and result.gap >= 0
    assert result.gap == pytest.approx(result.bound - result.objective)
    assert result.gap == pytest.approx(0.5 * KILL / math.log(10), abs=1e-4)
    assert _final(problem, result.schedule, "log10_kill") == pytest.approx(
        _log10_kill(7.0), abs=1e-8)
    assert _amount(result.schedule, "drug") == pytest.approx(7.0 * REFERENCE_DOSE)


def test_maximised_exposure_is_never_above_its_own_bound():
    """BUG (reported): the most IGF-1R inhibitor that still leaves at least 10^2 cells at day
    60. The relaxed NLP is not convex and IPOPT stops in a local optimum (172.8 mg/kg * day,
    doses on days 0-2 and 13-16); the chosen schedule (days 0-7, 200) beats this 'upper bound'
    and the result still says ok. Re-solving the relaxed problem from that schedule finds
    222.1."""
    problem = persister_problem(objective=Exposure(IGF1R_INHIBITOR, sense="max"),
                                min_final={"log10_total_cells": 2.0}, horizon=60.0,
                                treatment_days=20.0)
    result = optimise(problem)
    assert result.check.passed, result.check.problems
    assert _final(problem, result.schedule) >= 2.0 - 1e-4
    assert result.objective == pytest.approx(_amount(result.schedule, IGF1R_INHIBITOR))
    assert not result.ok or result.gap >= -1e-6, (result.objective, result.bound)


# -- names and refusals ------------------------------------------------------------------------

def test_an_output_name_means_its_terminal_value_minimised():
    by_name = _kill_problem("log10_cells", constraints=[DaysOnBudget("drug", 4.0)])
    by_object = _kill_problem(Terminal("log10_cells"), constraints=[DaysOnBudget("drug", 4.0)])
    assert by_name.objective == Terminal("log10_cells") == Terminal("log10_cells", "min")
    assert by_name.structure_key() == by_object.structure_key()
    assert by_name == by_object
    named, objected = optimise(by_name), optimise(by_object)
    assert named.ok and objected.ok
    assert named.schedule.digest == objected.schedule.digest
    assert named.objective == objected.objective and named.bound == objected.bound
    # 4 whole days: log10 cells 6 - log10 kill, whichever days they are
    assert named.objective == pytest.approx(6.0 - _log10_kill(4.0), abs=1e-6)


@pytest.mark.parametrize(("objective", "error", "named"), [
    ("log10_cels", ModelError, "'log10_cels'"),
    (Terminal("tumour"), ModelError, "'tumour'"),
    (Integral("area"), ModelError, "'area'"),
    (Exposure("drugg"), ModelError, "'drugg'"),
    (Terminal("log10_cells", sense="maximise"), ObjectiveError, "'maximise'"),
    (Integral("log10_cells", window=(5.0, 30.0)), ObjectiveError, "5-30 d"),
    (42, ObjectiveError, "42"),
])
def test_unknown_outputs_and_drugs_are_refused_by_name(objective, error, named):
    with pytest.raises(error) as raised:
        _kill_problem(objective)
    message = str(raised.value)
    assert named in message and "\n" not in message


@pytest.mark.parametrize(("options", "error", "named"), [
    ({"objective": "log10_tumour"}, ModelError, "'log10_tumour'"),
    ({"objective": Exposure("linsitinib")}, ModelError, "'linsitinib'"),
    ({"max_final": {"tumour": 2.0}}, PresetError, "'tumour'"),
    ({"min_final": {"tumour": 2.0}}, PresetError, "'tumour'"),
    ({"free": ("igf1r_inhibitor", "erlotinib")}, ModelError, "'erlotinib'"),
])
def test_the_preset_refuses_unknown_outputs_and_drugs_by_name(options, error, named):
    with pytest.raises(error) as raised:
        persister_problem(**options)
    message = str(raised.value)
    assert named in message and "\n" not in message


def test_a_budget_for_a_drug_that_is_not_free_is_refused():
    """BUG (reported): ``budgets`` entries for an unknown drug (a typo) or for a drug that is
    not free are silently dropped; the problem runs without the budget the user asked for."""
    with pytest.raises(ValueError, match="osimertnib"):
        persister_problem(budgets={"osimertnib": 5.0})
    with pytest.raises(ValueError, match="osimertinib"):
        persister_problem(budgets={"osimertinib": 5.0})  # fixed, not free
