"""The import contracts of pyproject.toml ([tool.importlinter]) hold: layers experiments >
optimiser > constraints > models, no cycles among a package's modules, and the optimiser knows
no built-in model. CI runs them through this test."""

import shutil
import subprocess

from .conftest import REPO


def test_import_contracts_are_kept():
    command = shutil.which("lint-imports")
    assert command, "lint-imports is missing: install the test extra (pip install -e '.[test]')"
    run = subprocess.run([command, "--no-cache"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 kept, 0 broken" in run.stdout
