"""The README's worked example must run as printed."""

import re

from .conftest import REPO


def test_readme_model_example_runs_and_passes_its_check():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.check.passed, result.check.problems
    assert 0 <= result.gap < 0.05
    assert sum(result.schedule.doses["drug"]) / 10.0 <= 12.0
