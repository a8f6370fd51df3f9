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
