import numpy as np
import pytest

from constraints.budget import BudgetError, DaysOnBudget, parse_budget
from models.schedule import Schedule


@pytest.mark.parametrize(("text", "days"), [
    ("10d", 10.0), ("240h", 10.0), ("1.5w", 10.5), ("10", 10.0), ("7.5", 7.5),
    (" 12 days ", 12.0), ("0d", 0.0), ("36h", 1.5),
])
def test_parse_budget_accepts(text, days):
    assert parse_budget(text) == pytest.approx(days)


@pytest.mark.parametrize(("text", "reason"), [
    ("ten", "not understood"), ("-3d", "negative"), ("10x", "unknown unit 'x'"),
    ("", "empty"), ("   ", "empty"), ("nan", "not understood"), ("10d5", "not understood"),
])
def test_parse_budget_rejects_with_one_line_message(text, reason):
    with pytest.raises(BudgetError) as error:
        parse_budget(text)
    message = str(error.value)
    assert reason in message
    assert "e.g. 10d, 240h, 1.5w" in message
    assert "\n" not in message


def _igf_schedule(days_on: list[int], dose: float = 25.0) -> Schedule:
    doses = np.zeros(100)
    doses[days_on] = dose
    return Schedule(1.0, 100.0, {"igf1r_inhibitor": doses}, {"igf1r_inhibitor": "mg/kg"})


def test_days_on_budget_counts_dose_fraction_days(model):
    budget = DaysOnBudget("igf1r_inhibitor", 10.0)
    report = budget.check(_igf_schedule(list(range(10))), model)
    assert report.used == pytest.approx(10.0)
    assert report.passed
    half_dose = budget.check(_igf_schedule(list(range(16)), dose=12.5), model)
    assert half_dose.used == pytest.approx(8.0)
    assert half_dose.passed


def test_checker_rejects_a_schedule_over_budget(model):
    report = DaysOnBudget("igf1r_inhibitor", 10.0).check(_igf_schedule(list(range(11))), model)
    assert not report.passed
    assert report.used == pytest.approx(11.0)
    assert "VIOLATED" in report.describe()


def test_budget_must_be_finite_and_non_negative():
    with pytest.raises(BudgetError, match=">= 0"):
        DaysOnBudget("igf1r_inhibitor", -1.0)


@pytest.mark.parametrize(("text", "value"), [
    ("auc:300uM*h", 300.0), ("AUC: 0.3 mM*h", 300.0), ("auc:18000 micromolar*minute", 300.0),
])
def test_parse_auc_budget_converts_units(text, value):
    from constraints.budget import is_auc_budget, parse_auc_budget

    assert is_auc_budget(text)
    assert parse_auc_budget(text) == pytest.approx(value)


@pytest.mark.parametrize(("text", "reason"), [
    ("auc:300", "a number and a unit are needed"), ("auc:300 mg", "cannot be converted"),
    ("auc:-1uM*h", "negative"), ("auc:", "not understood"),
])
def test_parse_auc_budget_rejects(text, reason):
    from constraints.budget import parse_auc_budget

    with pytest.raises(BudgetError, match=reason):
        parse_auc_budget(text)


def test_auc_budget_charges_each_reference_dose_day(model):
    from constraints.budget import AucBudget

    budget = AucBudget("igf1r_inhibitor", 300.0, auc_per_day=30.0)
    assert budget.check(_igf_schedule(list(range(10))), model).used == pytest.approx(300.0)
    assert budget.check(_igf_schedule(list(range(10)), dose=12.5), model).used == pytest.approx(
        150.0)
    assert not budget.check(_igf_schedule(list(range(11))), model).passed
