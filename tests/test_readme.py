"""The README's worked examples must run as printed."""

import re

import numpy as np
import pytest

from constraints import DaysOnBudget

from .conftest import REPO


def _python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def _run(block: str) -> dict:
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace


def test_readme_model_example_runs_and_passes_its_check():
    blocks = _python_blocks()
    assert blocks, "README has no python example"
    result = _run(blocks[0])["result"]
    assert result.check.passed, result.check.problems
    assert 0 <= result.gap < 0.05
    assert sum(result.schedule.doses["drug"]) / 10.0 <= 12.0


def test_readme_two_drug_example_keeps_its_rules_and_prints_what_the_readme_says():
    """"Several free drugs": checked here with plain numpy, not the rules' own code: no grid
    interval has both drugs, and each drug's reference-dose days stay within its budget."""
    blocks = _python_blocks()
    assert len(blocks) >= 2, "README has no second python example (Several free drugs)"
    namespace = _run(blocks[1])
    problem, result = namespace["problem"], namespace["result"]
    assert result.check.passed, result.check.problems
    assert result.ok and result.gap >= 0
    assert set(problem.free_names) == {"a", "b"}
    schedule = result.schedule
    doses = {drug: np.asarray(schedule.doses.get(drug, np.zeros(schedule.n_intervals)))
             for drug in ("a", "b")}
    assert not np.any((doses["a"] > 0) & (doses["b"] > 0))
    budgets = {c.drug: c.limit for c in problem.constraints if isinstance(c, DaysOnBudget)}
    assert set(budgets) == {"a", "b"}
    for drug, budget in budgets.items():
        reference = problem.model.control(drug).reference_dose
        assert doses[drug].sum() / reference * schedule.grid_step <= budget + 1e-9
        assert np.all(np.flatnonzero(doses[drug]) < 20)  # the window (0, 20)
    # what the README prints
    assert schedule.dosing_days("a") == [0, 7, 8, 10, 12, 14, 16, 18]
    assert schedule.dosing_days("b") == [9, 11, 13, 15, 17, 19]
    assert result.objective == pytest.approx(7.064, abs=5e-4)
    assert result.lower_bound == pytest.approx(7.055, abs=5e-4)


def test_readme_branching_example_prints_what_the_readme_says():
    """"Cell populations as a branching process": the derived mean equations are the ones
    written out by hand, and the printed figures are the README's."""
    blocks = _python_blocks()
    assert len(blocks) >= 3, "README has no third python example (branching process)"
    namespace = _run(blocks[2])
    model, result = namespace["model"], namespace["result"]
    assert result.check.passed, result.check.problems
    assert model.population_names == ["S", "T"]
    vector = namespace["problem"].parameter_vector
    x = np.array([np.log(2e3), np.log(50.0), 0.4])
    slope = np.asarray(model.f_internal(x, [1.0], vector)).ravel()
    birth, death, kill, switch, _ = vector
    S, T, C = 2e3, 50.0, 0.4
    assert slope[0] == pytest.approx(((birth - death - kill * C - switch) * S + switch * T) / S)
    assert slope[1] == pytest.approx(((0.2 * birth - death - switch) * T + switch * S) / T)
    cure = namespace["cure"]
    assert cure == pytest.approx(np.exp(-10 ** result.objective), rel=2e-3)
    assert round(cure, 3) == 0.270
    assert result.objective == pytest.approx(0.117, abs=5e-4)
    assert result.lower_bound == pytest.approx(0.114, abs=5e-4)
