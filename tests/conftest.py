import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings

from models.persister import default_parameters, persister_model

REPO = Path(__file__).resolve().parent.parent
ARMS = REPO / "experiments" / "arms"
# The command line in a fresh interpreter, as a user runs it (exit codes, output, files).
CLI = (sys.executable, "-c", "from optimiser.entry import run; run()")


def run_cli(*args: str, timeout: float = 600, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout, cwd=cwd, env=env)

# Hypothesis profiles (tests/test_properties.py): "ci" (default) runs a bounded, reproducible
# number of cases; "stress" runs 10 000 fresh ones (HYPOTHESIS_PROFILE=stress). Neither writes an
# example database into the repository. HYPOTHESIS_MAX_EXAMPLES=N overrides the count.
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True,
                          database=None, print_blob=True)
settings.register_profile("stress", max_examples=10_000, deadline=None, database=None,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
if os.environ.get("HYPOTHESIS_MAX_EXAMPLES"):
    settings.register_profile("overridden", settings(
        max_examples=int(os.environ["HYPOTHESIS_MAX_EXAMPLES"])))
    settings.load_profile("overridden")


@pytest.fixture(scope="session")
def model():
    return persister_model()


@pytest.fixture(scope="session")
def parameter_vector(model):
    return model.parameter_vector(default_parameters())


# A preset in a user's file: a decaying toy tumour whose cells are not declared populations.
TOY_PRESET = textwrap.dedent('''
    import casadi as ca

    from models import Control, Model, Parameter, ParameterSet, State
    from models.registry import Preset
    from models.regimen import Regimen


    def model(**_variant):
        return Model(
            name="toy_decay", states=(State("N", "cell", log=True), State("C"),),
            controls=(Control("drug", dose_unit="mg", reference_dose=2.0),),
            parameters=(Parameter("growth", "1/day"), Parameter("kill", "1/day")),
            rhs=lambda x, u, p: {"N": (p.growth - p.kill * x.C) * x.N, "C": u.drug - x.C},
            initial=lambda p: {"N": 1e6, "C": 0.0},
            outputs=lambda x, p: {"log10_cells": ca.log10(x.N)})


    def parameters():
        return ParameterSet.from_mapping({"meta": {"name": "toy"}, "parameters": {
            "growth": {"value": 0.1, "unit": "1/day", "source": "assumption: toy"},
            "kill": {"value": 0.5, "unit": "1/day", "source": "assumption: toy"}}})


    def toy_preset():
        return Preset(name="toy", description="a decaying toy tumour", build_model=model,
                      load_parameters=parameters,
                      regimen=Regimen(fixed=(), free=("drug",), objective="log10_cells",
                                      treatment_days=10, horizon=20, grid_step=1,
                                      budget_days=4))
''')


# pytest-xdist hands out whole files in collection order (`--dist loadfile`, pyproject.toml):
# the files that take a minute or more go first, so no worker is left alone at the end with one.
LONGEST_FILES = ("test_experiments.py", "test_calibration_recovery.py", "test_search.py",
                 "test_properties.py", "test_calibration.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LONGEST_FILES.index(item.path.name)
               if item.path.name in LONGEST_FILES else len(LONGEST_FILES))


def table_rows(report) -> tuple[str, dict[str, list[str]]]:
    """The table at 80 columns, and each row's value cell as its lines."""
    from rich.console import Console

    from optimiser.report import table

    console = Console(width=80, record=True, color_system=None)
    console.print(table(report))
    text = console.export_text()
    rows: dict[str, list[str]] = {}
    label = None
    for line in text.splitlines():
        if line.count("│") != 3:
            continue
        left, right = (part.strip() for part in line.strip("│").split("│"))
        if left:
            label = left
            rows[label] = []
        rows[label].append(right)
    return text, rows
