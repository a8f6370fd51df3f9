"""The bad-input catalogue (issue 5): one list of bad inputs across the command line, schedule
JSON files, parameter-set files and the Python API, each with the fragment of its message that
names the problem and the fragment that names the fix.

Every command-line, schedule-JSON and parameter-file entry runs the real command in a subprocess
and must give exit code 2, exactly one line on stderr holding both fragments, no traceback, no
new file anywhere (no half-written output), within seconds (it fails before any solve). Every API
entry must raise its documented exception (one of the CLI's user errors) with a one-line message
holding both fragments. ``docs/bad_inputs.md`` shows the same table; regenerate it with
``python -m tests.test_bad_inputs`` after changing the catalogue.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from constraints.budget import BudgetError, DaysOnBudget, parse_budget
from constraints.path import OutputLimit, PathLimitError
from constraints.rules import MaxRun, RuleError
from models.ensemble import Ensemble
from models.model import Control, Model, ModelError, Parameter, State
from models.parameters import ParameterError, ParameterSet
from models.persister import (
    IGF1R_INHIBITOR,
    default_ensemble,
    default_parameters,
    persister_model,
    persister_problem,
)
from models.schedule import Schedule, ScheduleError
from optimiser.cli import USER_ERRORS
from optimiser.export import ExportError, export_schedule
from optimiser.objectives import Cure
from optimiser.problem import ControlProblem, ProblemError
from optimiser.search import SearchError, SearchSettings, open_storage

from .conftest import ARMS, REPO, run_cli

DOC = REPO / "docs" / "bad_inputs.md"
PLAIN_MODEL = Model(  # a model whose cells are not declared as populations
    name="plain", states=(State("N", "cell", log=True),), controls=(Control("drug"),),
    parameters=(Parameter("r", "1/day"),), rhs=lambda x, u, p: {"N": (p.r - u.drug) * x.N},
    initial=lambda p: {"N": 1e3}, outputs=lambda x, p: {"n": x.N})
PLAIN_PARAMETERS = ParameterSet.from_mapping({"parameters": {"r": {
    "value": 0.1, "unit": "1/day", "source": "assumption: a test case"}}})
SURFACES = ("cli", "schedule-json", "parameter-file", "api")
SECONDS = 20  # a bad input fails before any solve; the default solve alone takes longer
DEFAULT_TOML = (REPO / "models" / "persister" / "data" / "default.toml").read_text()
UNREACHABLE = "postgresql+psycopg://u:p@127.0.0.1:9/db"  # nothing listens on port 9
OUT = ("--out", "{tmp}/out")
# Parameter files are written from model v1's set, so they are given to its preset.
V1 = ("--preset", "persister_v1")


@dataclass(frozen=True)
class Bad:
    """One bad input. ``args`` is the command line after ``optimise`` (``{tmp}``: the test's
    directory, ``{arms}``: experiments/arms); ``files`` are written into ``{tmp}`` first and
    ``setup`` prepares anything else there. An API entry gives ``call`` (given ``{tmp}``) and
    the exception class it must raise. ``shown`` is the input as the doc shows it."""

    id: str
    surface: str
    problem: str
    fix: str
    args: tuple[str, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    call: Callable[[Path], object] | None = None
    error: type[Exception] | None = None
    shown: str = ""
    path: str = ""  # prepended to PYTHONPATH (e.g. to hide an installed extra)

    @property
    def input(self) -> str:
        if self.shown:
            return self.shown
        args = self.args[:-2] if self.args[-2:] == OUT else self.args  # --out: every case
        words = [w.replace("{tmp}/", "").replace("{arms}", "experiments/arms") or "''"
                 for w in args]
        return "`" + " ".join(["optimise", *words]) + "`"


def _schedule(*blocks: tuple, drug: str = IGF1R_INHIBITOR, unit: str = "mg/kg") -> str:
    """A schedule file (grid 1 d, horizon 100 d) giving ``drug`` on ``(start, stop, dose)``."""
    return json.dumps({"schema_version": 1, "time_unit": "day", "grid_step": 1, "horizon": 100,
                       "drugs": {drug: {"unit": unit, "blocks": [
                           {"start": a, "stop": b, "dose": d} for a, b, d in blocks]}}})


def _parameters(name: str, key: str = "value", value: str | None = None) -> str:
    """The built-in parameter file with one line of ``[parameters.NAME]`` replaced (``value``
    given) or the whole table removed (``value`` None)."""
    table = re.compile(rf"\[parameters\.{name}\]\n(.*?\n)(?=\n|\[|\Z)", re.DOTALL)
    match = table.search(DEFAULT_TOML)
    assert match, name
    if value is None:
        return DEFAULT_TOML[:match.start()] + DEFAULT_TOML[match.end():]
    body, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", match.group(1), flags=re.M)
    assert count == 1, (name, key)
    return DEFAULT_TOML[:match.start(1)] + body + DEFAULT_TOML[match.end(1):]


def _study_for_another_problem(tmp: Path) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{tmp}/studies.db", study_name="mine")
    study.set_user_attr("fingerprint", {"structure": "another model", "parameters": "other"})


def _symlink_loop(tmp: Path) -> None:
    (tmp / "loop1").symlink_to(tmp / "loop2")
    (tmp / "loop2").symlink_to(tmp / "loop1")


def _study_of_unknown_schema(tmp: Path) -> None:
    """A study database whose schema version no Optuna knows (corrupt or from the future)."""
    database = sqlite3.connect(tmp / "old.db")
    database.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    database.execute("INSERT INTO alembic_version VALUES ('v99.0.0')")
    database.commit()
    database.close()


def _blocked(tmp: Path) -> None:
    """A file named ``blocked`` where an output directory would have to be."""
    (tmp / "blocked").write_text("a file, not a directory\n")


def _arm() -> Schedule:
    return Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")


CATALOGUE: tuple[Bad, ...] = (
    # -- command line -------------------------------------------------------------------------
    Bad("export-format-unknown", "cli", "unknown export format 'xlsx'",
        "choose one of json, nonmem", ("--export", "xlsx", *OUT)),
    Bad("export-command-format-unknown", "cli", "unknown export format 'csv'",
        "choose one of json, nonmem",
        ("export", "--schedule", "{arms}/vehicle.json", "--format", "csv", "--out",
         "{tmp}/out/vehicle.csv")),
    Bad("experiment-unknown", "cli", "unknown experiment 'nosuch'", "known: paper_arms",
        ("experiment", "nosuch", "--results", "{tmp}/out")),
    Bad("budget-not-understood", "cli", "budget 'ten' is not understood",
        "give a number of days with an optional unit, e.g. 10d", ("--budget", "ten", *OUT)),
    Bad("budget-negative", "cli", "budget '-3d' is negative", "give a number of days",
        ("--budget", "-3d", *OUT)),
    Bad("budget-unknown-unit", "cli", "has unknown unit 'x'", "e.g. 10d, 240h, 1.5w",
        ("--budget", "10x", *OUT)),
    Bad("budget-empty", "cli", "budget is empty", "give a number of days",
        ("--budget", "", *OUT)),
    Bad("budget-infinite", "cli", "budget '1e999d' is not a finite number",
        "give a number of days", ("--budget", "1e999d", *OUT)),
    Bad("auc-budget-wrong-unit", "cli", "unit 'kg' cannot be converted to 'micromolar * hour'",
        "give it in 'micromolar * hour'", ("--budget", "auc:300kg", *OUT)),
    Bad("auc-budget-unit-unbalanced", "cli", "cannot read the unit '(uM*h'",
        "use a pint unit such as 'micromolar * hour'", ("--budget", "auc:300 (uM*h", *OUT)),
    Bad("glucose-unit-divides-by-zero", "cli", "cannot read the unit 'mg/dL/0'",
        "use a pint unit such as 'mg/dL'", ("--max-glucose", "180 mg/dL/0", *OUT)),
    Bad("seed-negative", "cli", "problem.seed: Input should be greater than or equal to 0",
        "correct that value", ("--trials", "3", "--seed", "-1", *OUT)),
    Bad("seed-too-large", "cli",
        "problem.seed: Input should be less than or equal to 2147483647", "correct that value",
        ("--robust", "2", "--seed", "99999999999999999999", *OUT)),
    Bad("budget-twice-without-drug", "cli", "--budget given 2 times without a drug",
        "or drug=BUDGET for each", ("--budget", "3d", "--budget", "4d", *OUT)),
    Bad("budget-of-a-drug-not-free", "cli", "budget given for ['nosuch'], which is not free",
        "free it with --free or drop the budget", ("--budget", "nosuch=3d", *OUT)),
    Bad("budget-drug-twice", "cli", "--budget names 'osimertinib' twice", "give it once",
        ("--free", "osimertinib", "--budget", "osimertinib=3d", "--budget", "osimertinib=4d",
         *OUT)),
    Bad("preset-unknown", "cli", "unknown preset 'nope'",
        "give one of ['persister', 'persister_human', 'persister_v1', 'persister_v2']",
        ("--preset", "nope", *OUT)),
    Bad("free-names-no-drug", "cli", "--free ',' names no drug",
        "give drugs separated by commas", ("--free", ",", *OUT)),
    Bad("free-unknown-drug", "cli", "model 'persister_v2' has no control 'nosuch'",
        "use one of ['osimertinib', 'igf1r_inhibitor', 'foxa1_inhibitor']",
        ("--free", "nosuch", *OUT)),
    Bad("objective-unknown-output", "cli", "model 'persister_v2' has no output 'nosuch'",
        "it has ['log10_total_cells', 'total_cells']", ("--objective", "nosuch", *OUT)),
    Bad("objective-not-understood", "cli", "--objective 'foo:bar' is not understood",
        "cure, exposure[:DRUG] or integral:OUTPUT", ("--objective", "foo:bar", *OUT)),
    Bad("target-cure-not-a-probability", "cli", "--target-cure 1.5 must be a probability",
        "strictly between 0 and 1, e.g. 0.95", ("--target-cure", "1.5", *OUT)),
    Bad("target-cure-with-an-objective", "cli", "--target-cure minimises exposure",
        "leave one of them out", ("--target-cure", "0.9", "--objective", "cure", *OUT)),
    Bad("target-cure-twice", "cli", "--target-cure and --min-final cure_probability=... say "
        "the same", "give one", ("--target-cure", "0.9", "--min-final",
                                 "cure_probability=0.8", *OUT)),
    Bad("final-limit-not-a-pair", "cli", "--max-final 'log10_total_cells' is not NAME=VALUE",
        "give e.g. log10_total_cells=2", ("--max-final", "log10_total_cells", *OUT)),
    Bad("final-limit-not-a-number", "cli", "the limit is not a number",
        "give e.g. log10_total_cells=2", ("--max-final", "log10_total_cells=x", *OUT)),
    Bad("final-limits-crossed", "cli", "lower limit 5 is above the upper limit 2",
        "swap them", ("--min-final", "log10_total_cells=5", "--max-final",
                      "log10_total_cells=2", *OUT)),
    Bad("continuous-with-dose-levels", "cli", "--dose-levels does not apply",
        "leave one of them out", ("--continuous", "--dose-levels", "12.5", *OUT)),
    Bad("continuous-with-a-study", "cli", "a discrete search (--trials",
        "leave one out", ("--continuous", "--trials", "3", *OUT)),
    Bad("run-file-unknown-key", "cli", "unknown key 'problem.budgett'",
        "use one of the keys of [problem]", ("run", "{tmp}/bad.toml"),
        files={"bad.toml": '[problem]\nbudgett = "3d"\n'}),
    Bad("horizon-shorter-than-treatment", "cli",
        "treatment of 40 d must be positive and fit in the horizon of 30 d",
        "lengthen --horizon or shorten --treatment-days", ("--horizon", "30", *OUT)),
    Bad("horizon-nan", "cli", "horizon must be a finite number of days",
        "give a number such as 100", ("--horizon", "nan", *OUT)),
    Bad("grid-off-treatment", "cli", "is not a whole number of grid steps of 0.7 d",
        "change --treatment-days or --grid", ("--grid", "0.7", *OUT)),
    Bad("treatment-off-grid", "cli", "treatment of 40.5 d is not a whole number of grid steps",
        "change --treatment-days or --grid", ("--treatment-days", "40.5", *OUT)),
    Bad("max-run-off-grid", "cli", "maximum run of 2.5 d is not a whole number of grid steps",
        "give a multiple of the grid step", ("--max-run", "2.5d", *OUT)),
    Bad("max-run-not-understood", "cli", "--max-run 'five' is not understood",
        "give a number of days", ("--max-run", "five", *OUT)),
    Bad("min-holiday-zero", "cli", "minimum holiday must be a positive number of days",
        "give at least one grid step", ("--min-holiday", "0", *OUT)),
    Bad("max-pulses-zero", "cli", "maximum number of pulses must be a whole number >= 1",
        "give 1 or more", ("--max-pulses", "0", *OUT)),
    Bad("max-pulses-not-an-integer", "cli", "Invalid value for '--max-pulses'",
        "see 'optimise --help'", ("--max-pulses", "two", *OUT)),
    Bad("dose-levels-above-maximum", "cli", "dose levels [50.0] mg/kg must lie in (0, 25] mg/kg",
        "give daily doses above 0 and at most 25", ("--dose-levels", "50", *OUT)),
    Bad("dose-levels-not-understood", "cli", "dose levels '12.5,abc' are not understood",
        "separated by commas", ("--dose-levels", "12.5,abc", *OUT)),
    Bad("glucose-limit-below-basal", "cli", "max glucose of 100 mg/dL is already exceeded at "
        "the start", "raise the limit above 140 mg/dL", ("--max-glucose", "100", *OUT)),
    Bad("robust-mode-without-robust", "cli", "--robust-mode needs --robust N",
        "add e.g. --robust 8", ("--robust-mode", "worst", *OUT)),
    Bad("heartbeat-not-below-grace", "cli", "must be positive and shorter than the grace period",
        "give e.g. --heartbeat 10 --grace 30",
        ("--trials", "5", "--heartbeat", "40", "--grace", "30", "--runs-dir", "{tmp}/runs",
         *OUT)),
    Bad("trials-zero", "cli", "--trials must be at least 1, got 0",
        "give the number of completed trials", ("--trials", "0", "--runs-dir", "{tmp}/runs",
                                                *OUT)),
    Bad("stochastic-runs-zero", "cli", "the number of stochastic runs must be an integer "
        "from 1 to 1,000,000, got 0", "from 1 to 1,000,000",
        ("simulate", "--schedule", "{arms}/osimertinib_alone.json", "--stochastic", "0")),
    Bad("stochastic-start-negative", "cli", "start cells must be non-negative integers",
        "or --poisson-start for Poisson means", ("simulate", "--schedule",
                                                "{arms}/osimertinib_alone.json", "--stochastic",
                                                "10", "--start-cells", "S=-1")),
    Bad("stochastic-start-unknown-population", "cli", "unknown population(s) ['Q']",
        "the model's populations are ['S', 'P', 'R']",
        ("simulate", "--schedule", "{arms}/osimertinib_alone.json", "--stochastic", "10",
         "--start-cells", "Q=5")),
    Bad("stochastic-option-without-runs", "cli", "--start-cells needs --stochastic N",
        "(the number of stochastic runs)",
        ("simulate", "--schedule", "{arms}/osimertinib_alone.json", "--start-cells", "S=5")),
    Bad("missing-required-option", "cli", "Missing option '--schedule'",
        "see 'optimise simulate --help'", ("simulate", *OUT)),
    Bad("export-extra-missing", "cli", "SBML export needs python-libsbml",
        "install the sbml extra: pip install -e '.[sbml]'", ("--export", "sbml", *OUT),
        files={"hidden/libsbml.py": "raise ImportError('python-libsbml is not installed')\n"},
        path="{tmp}/hidden", shown="`optimise --export sbml` without python-libsbml"),
    Bad("out-unwritable", "cli", "cannot write to output directory", "choose a writable --out",
        ("--budget", "1d", "--out", "{tmp}/blocked/sub"), setup=_blocked,
        shown="`optimise --budget 1d --out blocked/sub`, `blocked` a file"),
    Bad("plot-unwritable", "cli", "'{tmp}/blocked' is a file, not a directory",
        "choose a writable --plot", ("--plot", "{tmp}/blocked/figure.png", *OUT),
        setup=_blocked, shown="`optimise --plot blocked/figure.png`, `blocked` a file"),
    Bad("export-target-unwritable", "cli", "'{tmp}/blocked' (a file, not a directory)",
        "choose a writable --out",
        ("export", "--schedule", "{arms}/vehicle.json", "--format", "nonmem", "--out",
         "{tmp}/blocked/events.csv"), setup=_blocked,
        shown="`optimise export --schedule S.json --format nonmem --out blocked/events.csv`, "
              "`blocked` a file"),
    # -- study storage (command line) -------------------------------------------------------------
    Bad("storage-unreachable", "cli",
        "cannot open study storage postgresql+psycopg://u:***@127.0.0.1:9/db",
        "check the host, port, database name and credentials",
        ("--trials", "5", "--storage", UNREACHABLE, *OUT)),
    Bad("storage-corrupt-sqlite", "cli", "file is not a database",
        "move it away or give another sqlite:///PATH",
        ("--trials", "5", "--storage", "sqlite:///{tmp}/corrupt.db", *OUT),
        files={"corrupt.db": "these bytes are not an SQLite database\n" * 20},
        shown="`optimise --trials 5 --storage sqlite:///corrupt.db`, the file not a database"),
    Bad("storage-schema-unknown", "cli", "is no longer compatible with the table schema",
        "give another --storage, or update Optuna",
        ("--trials", "5", "--storage", "sqlite:///{tmp}/old.db", *OUT),
        setup=_study_of_unknown_schema,
        shown="`optimise --trials 5 --storage sqlite:///old.db`, a study database of an "
              "unknown Optuna schema version"),
    Bad("storage-sqlite-in-memory", "cli", "an in-memory SQLite database is private to one "
        "connection", "give a file, e.g. sqlite:///runs/studies.db",
        ("--trials", "5", "--storage", "sqlite://", *OUT),
        shown="`optimise --trials 5 --storage sqlite://`"),
    Bad("storage-directory-missing", "cli", "unable to open database file",
        "create it or give another sqlite:///PATH",
        ("--trials", "5", "--storage", "sqlite:///{tmp}/missing/studies.db", *OUT),
        shown="`optimise --trials 5 --storage sqlite:///missing/studies.db`, no directory "
              "`missing`"),
    Bad("storage-url-unreadable", "cli", "cannot open study storage <unreadable storage URL>",
        "give a storage URL such as sqlite:///runs/studies.db",
        ("--trials", "5", "--storage", "not-a-url", *OUT)),
    Bad("study-for-another-problem", "cli", "study 'mine' in sqlite:///{tmp}/studies.db was "
        "run for a different problem", "choose another --study name",
        ("--trials", "5", "--study", "mine", "--storage", "sqlite:///{tmp}/studies.db", *OUT),
        setup=_study_for_another_problem,
        shown="`optimise --trials 5 --study mine --storage sqlite:///studies.db`, study `mine` "
              "made for another problem"),
    # -- sizes, limits and values off the grid (issue 18) ----------------------------------------
    Bad("treatment-days-below-a-step", "cli",
        "treatment of 1e-10 d is not a whole number of grid steps of 1 d",
        "change --treatment-days or --grid", ("--treatment-days", "1e-10", *OUT)),
    Bad("max-run-below-a-step", "cli",
        "maximum run of 1e-12 d is not a whole number of grid steps of 1 d",
        "give a multiple of the grid step", ("--max-run", "1e-12", *OUT)),
    Bad("min-holiday-below-a-step", "cli",
        "minimum holiday of 1e-12 d is not a whole number of grid steps of 1 d",
        "give a multiple of the grid step", ("--min-holiday", "1e-12", *OUT)),
    Bad("grid-too-fine", "cli", "100 d on a grid of 0.001 d is 1e+05 intervals, more than the "
        "limit of 4000", "change --horizon or --grid", ("--grid", "1e-3", *OUT)),
    Bad("horizon-too-long", "cli", "a horizon of 1e+06 d is longer than the limit of 3650 d",
        "change --horizon or --grid", ("--horizon", "1e6", *OUT)),
    Bad("robust-too-many-samples", "cli", "--robust 100000: at most 64 parameter samples",
        "give fewer", ("--robust", "100000", *OUT)),
    Bad("workers-too-many", "cli", "--workers 1000: at most 64 worker processes", "give fewer",
        ("--workers", "1000", *OUT)),
    Bad("dose-levels-twice", "cli", "name a dose twice", "give each level once",
        ("--dose-levels", "12.5,12.5", *OUT)),
    Bad("plot-not-png", "cli", "--plot {tmp}/fig.pdf: the figure is a PNG",
        "give a file name ending in .png", ("--plot", "{tmp}/fig.pdf", *OUT),
        shown="`optimise --plot fig.pdf`"),
    Bad("plot-directory", "cli", "is a directory", "give a file name ending in .png",
        ("--plot", "{tmp}/newdir/", *OUT), shown="`optimise --plot newdir/`"),
    Bad("study-name-too-long", "cli", "--study name of 600 characters", "give 1 to 512",
        ("--trials", "5", "--study", "x" * 600, *OUT), shown="`optimise --trials 5 --study "
        "xxx...` (600 characters)"),
    Bad("storage-port-not-a-number", "cli", "--storage postgresql+psycopg://...: its port is "
        "not a number", "give e.g. postgresql+psycopg://user:password@localhost:5432/db",
        ("--trials", "5", "--storage", "postgresql+psycopg://u:secret@localhost:abc/db", *OUT)),
    # -- schedule JSON --------------------------------------------------------------------------
    Bad("schedule-file-missing", "schedule-json", "does not exist", "check the path",
        ("simulate", "--schedule", "{tmp}/nonexistent.json", *OUT)),
    Bad("schedule-corrupt-json", "schedule-json", "Invalid JSON",
        "see the schedule JSON format in the README",
        ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": '{"schema_version": 1, "drugs": {'},
        shown="`optimise simulate --schedule S.json`, S.json cut off mid-object"),
    Bad("schedule-overlapping-blocks", "schedule-json",
        "block 5-15 d overlaps another block", "merge them",
        ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((0, 10, 25), (5, 15, 25))},
        shown="`optimise simulate --schedule S.json`, blocks 0-10 d and 5-15 d"),
    Bad("schedule-block-past-horizon", "schedule-json",
        "block 90-110 d runs past the horizon of 100 d", "end it by the horizon",
        ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((90, 110, 25))},
        shown="`optimise simulate --schedule S.json`, a block 90-110 d, horizon 100 d"),
    Bad("schedule-unknown-drug", "schedule-json", "names drug(s) ['aspirin']",
        "rename or remove the others", ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((0, 5, 1), drug="aspirin")},
        shown="`optimise simulate --schedule S.json`, drug `aspirin`"),
    Bad("schedule-dose-above-maximum", "schedule-json",
        "exceeds the model's maximum of 25 mg/kg/day", "lower the dose",
        ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((0, 5, 50))},
        shown="`optimise simulate --schedule S.json`, 50 mg/kg of the IGF-1R inhibitor"),
    Bad("schedule-block-off-grid", "schedule-json", "block start 0.5 d is not on the grid",
        "move it to a multiple of the grid step",
        ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((0.5, 5, 25))},
        shown="`optimise simulate --schedule S.json`, a block starting on day 0.5, grid 1 d"),
    Bad("schedule-wrong-dose-unit", "schedule-json", "unit 'mg' cannot be converted to 'mg/kg'",
        "give it in 'mg/kg'",
        ("export", "--schedule", "{tmp}/s.json", "--format", "json", "--out",
         "{tmp}/out/s.v1.json"), files={"s.json": _schedule((0, 5, 25), unit="mg")},
        shown="`optimise export --schedule S.json --format json --out ...`, dose unit `mg`"),
    Bad("schedule-nan-dose", "schedule-json", "dose: Input should be a finite number",
        "see the schedule JSON format in the README",
        ("export", "--schedule", "{tmp}/s.json", "--format", "nonmem", "--out",
         "{tmp}/out/events.csv"), files={"s.json": _schedule((0, 5, math.nan))},
        shown="`optimise export --schedule S.json --format nonmem --out ...`, a dose `NaN`"),
    Bad("schedule-drug-twice", "schedule-json", "key(s) ['igf1r_inhibitor'] given twice in "
        "one object", "give each once", ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((0, 5, 25))[:-2] + ', "igf1r_inhibitor": {"unit": "mg/kg", '
               '"blocks": []}}}'},
        shown="`optimise simulate --schedule S.json`, drug `igf1r_inhibitor` given twice"),
    Bad("schedule-horizon-too-long", "schedule-json", "a horizon of 1e+07 d is longer than the "
        "limit of 3650 d", "give a shorter horizon or a coarser grid_step",
        ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        files={"s.json": _schedule((0, 5, 25)).replace('"horizon": 100', '"horizon": 1e7')},
        shown="`optimise simulate --schedule S.json`, horizon 1e7 d"),
    Bad("schedule-fifo", "schedule-json", "is not a regular file (a FIFO, socket or device)",
        "give a JSON file", ("simulate", "--schedule", "{tmp}/fifo.json", *OUT),
        setup=lambda tmp: os.mkfifo(tmp / "fifo.json"),
        shown="`optimise simulate --schedule FIFO`, a named pipe"),
    Bad("schedule-too-large", "schedule-json", "more than inputs may (16 MiB)",
        "give a JSON file of that size at most", ("simulate", "--schedule", "{tmp}/s.json", *OUT),
        setup=lambda tmp: (tmp / "s.json").write_bytes(b" " * (17 * 2**20)),
        shown="`optimise simulate --schedule S.json`, 17 MiB"),
    Bad("schedule-symlink-loop", "schedule-json", "cannot be read (a loop of symbolic links)",
        "give a readable JSON file", ("simulate", "--schedule", "{tmp}/loop1", *OUT),
        setup=_symlink_loop, shown="`optimise simulate --schedule LOOP`, a loop of links"),
    # -- parameter-set file ---------------------------------------------------------------------
    Bad("parameter-file-missing", "parameter-file", "does not exist", "check the path",
        ("--parameters", "{tmp}/nonexistent.toml", *OUT)),
    Bad("parameter-table-misspelt", "parameter-file", "['r_s'] not parameters of preset "
        "'persister_v1'", "did you mean 'r_S'?", (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": DEFAULT_TOML + '\n[parameters.r_s]\nvalue = 0.5\nunit = "1/day"\n'
               'source = "a typo"\n'},
        shown="`optimise --preset persister_v1 --parameters P.toml`, a table `[parameters.r_s]`"),
    Bad("parameter-key-unknown", "parameter-file", "parameter 'r_S' has unknown key(s) "
        "['lowr']", "its keys are value, unit, source", (*V1, "--parameters", "{tmp}/p.toml",
                                                          *OUT),
        files={"p.toml": _parameters("r_S", key="source", value='"x"\nlowr = 0.1')},
        shown="`optimise --preset persister_v1 --parameters P.toml`, `r_S` key `lowr`"),
    Bad("parameter-not-a-number", "parameter-file", "parameter 'r_S': value 'fast' is not a "
        "number", "give a finite number", (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": _parameters("r_S", value='"fast"')},
        shown='`optimise --preset persister_v1 --parameters P.toml`, `r_S` value `"fast"`'),
    Bad("parameter-nan", "parameter-file", "parameter 'k_P': value nan is not finite",
        "give a finite number", (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": _parameters("k_P", value="nan")},
        shown="`optimise --preset persister_v1 --parameters P.toml`, `k_P` value `nan`"),
    Bad("parameter-negative", "parameter-file", "parameter 'r_S' is -0.2 1/day but must be "
        "non-negative", "give a non-negative value", (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": _parameters("r_S", value="-0.2")},
        shown="`optimise --preset persister_v1 --parameters P.toml`, `r_S` value `-0.2`"),
    Bad("parameter-zero-half-life", "parameter-file", "parameter 't_half_F' is 0 day but must be "
        "positive", "give a positive value",
        (*V1, "simulate", "--schedule", "{arms}/vehicle.json", "--parameters", "{tmp}/p.toml",
         *OUT),
        files={"p.toml": _parameters("t_half_F", value="0")},
        shown="`optimise --preset persister_v1 simulate --schedule S.json --parameters "
              "P.toml`, `t_half_F` value 0"),
    Bad("parameter-file-corrupt", "parameter-file", "is not valid TOML", "fix the syntax",
        (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": DEFAULT_TOML.replace("[parameters.K]", "[parameters.K", 1)},
        shown="`optimise --preset persister_v1 --parameters P.toml`, a table header without "
              "its `]`"),
    Bad("parameter-missing", "parameter-file", "lacks ['K']",
        "add them with value, unit and source", (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": _parameters("K")},
        shown="`optimise --preset persister_v1 --parameters P.toml`, no `[parameters.K]`"),
    Bad("parameter-unit-incompatible", "parameter-file",
        "parameter 'r_S': unit 'cell' cannot be converted to '1/day'", "give it in '1/day'",
        (*V1, "--parameters", "{tmp}/p.toml", *OUT),
        files={"p.toml": _parameters("r_S", "unit", '"cell"')},
        shown='`optimise --preset persister_v1 --parameters P.toml`, `r_S` unit `"cell"`'),
    # -- Python API -----------------------------------------------------------------------------
    Bad("lineage-output-as-path-limit", "api", "model 'persister' has no output "
        "'cure_probability'", "and, at the horizon, ['cure_probability'",
        call=lambda tmp: ControlProblem(
            persister_model(), default_parameters(), "log10_total_cells",
            free={"igf1r_inhibitor": (0.0, 40.0)}, path_limits=[OutputLimit(
                "cure_probability", 0.5)]), error=ModelError,
        shown="`ControlProblem(..., path_limits=[OutputLimit('cure_probability', 0.5)])`"),
    Bad("cure-without-populations", "api", "the Cure objective needs the model's cell "
        "populations", "(Model(populations=...))",
        call=lambda tmp: ControlProblem(
            PLAIN_MODEL, PLAIN_PARAMETERS, Cure(), free={"drug": (0.0, 10.0)},
            horizon=20.0), error=ModelError,
        shown="`ControlProblem(model_without_populations, ..., Cure(), ...)`"),
    Bad("api-parameter-nan", "api", "parameter 'k': value nan is not finite",
        "give a finite number", error=ParameterError,
        call=lambda tmp: ParameterSet.from_mapping({"parameters": {"k": {
            "value": math.nan, "unit": "1/day", "source": "x"}}}),
        shown="`ParameterSet.from_mapping`, a value NaN"),
    Bad("api-parameter-negative", "api", "parameter 'k_P' is -3 1/day but must be non-negative",
        "give a non-negative value", error=ParameterError,
        call=lambda tmp: persister_model().parameter_vector(
            default_parameters().with_values(k_P=-3.0)),
        shown="`Model.parameter_vector` of a set with `k_P = -3`"),
    Bad("api-parameter-file-corrupt", "api", "is not valid TOML", "fix the syntax",
        error=ParameterError, files={"p.toml": "[parameters.k\nvalue = 1\n"},
        call=lambda tmp: ParameterSet.from_toml(tmp / "p.toml"),
        shown="`ParameterSet.from_toml` of a malformed file"),
    Bad("api-schedule-overlapping", "api", "overlaps another block", "merge them",
        error=ScheduleError, call=lambda tmp: Schedule.from_json(
            _schedule((0, 10, 25), (5, 15, 25))),
        shown="`Schedule.from_json`, overlapping blocks"),
    Bad("api-schedule-nan-doses", "api", "doses must be finite and non-negative",
        "replace NaN, infinite or negative doses", error=ScheduleError,
        call=lambda tmp: Schedule(1.0, 10.0, {IGF1R_INHIBITOR: np.full(10, math.nan)},
                                  {IGF1R_INHIBITOR: "mg/kg"}),
        shown="`Schedule(...)` with NaN doses"),
    Bad("api-schedule-unknown-drug", "api", "names drug(s) ['aspirin']",
        "rename or remove the others", error=ScheduleError,
        call=lambda tmp: Schedule.from_json(_schedule((0, 5, 1), drug="aspirin")).fractions(
            persister_model()),
        shown="`Schedule.fractions` of a schedule naming `aspirin`"),
    Bad("api-horizon-shorter-than-treatment", "api", "must be positive and fit in the horizon",
        "lengthen --horizon or shorten --treatment-days", error=ProblemError,
        call=lambda tmp: persister_problem(treatment_days=120.0, horizon=100.0),
        shown="`persister_problem(treatment_days=120, horizon=100)`"),
    Bad("api-problem-unknown-drug", "api", "has no control 'aspirin'", "use one of",
        error=ModelError,
        call=lambda tmp: ControlProblem(persister_model(), default_parameters(),
                                        "log10_total_cells", free={"aspirin": (0.0, 40.0)}),
        shown="`ControlProblem(..., free={'aspirin': (0, 40)})`"),
    Bad("api-budget-negative", "api", "days-on budget must be a finite number of days >= 0",
        "give 0 or more days", error=BudgetError,
        call=lambda tmp: DaysOnBudget(IGF1R_INHIBITOR, -1.0),
        shown="`DaysOnBudget(drug, -1)`"),
    Bad("api-budget-malformed", "api", "has unknown unit 'parsecs'", "e.g. 10d, 240h",
        error=BudgetError, call=lambda tmp: parse_budget("10 parsecs"),
        shown="`parse_budget('10 parsecs')`"),
    Bad("api-rule-off-grid", "api", "maximum run of 2.5 d is not a whole number",
        "give a multiple of the grid step", error=RuleError,
        call=lambda tmp: MaxRun(IGF1R_INHIBITOR, 2.5, 1.0),
        shown="`MaxRun(drug, 2.5, grid_step=1)`"),
    Bad("api-glucose-limit-below-basal", "api", "already exceeded at the start",
        "raise the limit above 140 mg/dL", error=PathLimitError,
        call=lambda tmp: persister_problem(max_glucose=100.0),
        shown="`persister_problem(max_glucose=100)`"),
    Bad("api-robust-one-sample", "api", "at least 2 parameter samples, got 1",
        "give --robust 2 or more", error=ProblemError,
        call=lambda tmp: persister_problem().robust(1),
        shown="`ControlProblem.robust(1)`"),
    Bad("api-tail-step-zero", "api", "tail step must be a positive number of days, got 0",
        "give e.g. 5 or None", error=ProblemError,
        call=lambda tmp: replace(persister_problem(), tail_step=0.0),
        shown="`replace(problem, tail_step=0)`"),
    Bad("api-ensemble-zero-draws", "api", "needs at least one draw, got 0",
        "ask for 1 or more", error=ParameterError,
        call=lambda tmp: default_ensemble().sample(default_parameters(), 0, 0),
        shown="`Ensemble.sample(base, 0, seed)`"),
    Bad("api-ensemble-file-corrupt", "api", "is not valid TOML", "fix the syntax",
        error=ParameterError, files={"e.toml": "[spread.k_P\ngsd = 1.3\n"},
        call=lambda tmp: Ensemble.from_toml(str(tmp / "e.toml")),
        shown="`Ensemble.from_toml` of a malformed file"),
    Bad("api-export-format-unknown", "api", "unknown export format 'xlsx'",
        "choose one of json, nonmem", error=ExportError,
        call=lambda tmp: export_schedule(_arm(), persister_model(), default_parameters(),
                                         "xlsx", tmp / "out" / "schedule.xlsx"),
        shown="`export_schedule(..., 'xlsx', path)`"),
    Bad("api-export-unwritable", "api", "(a file, not a directory)", "choose a writable --out",
        error=ExportError, setup=_blocked,
        call=lambda tmp: export_schedule(_arm(), persister_model(), default_parameters(),
                                         "json", tmp / "blocked" / "schedule.v1.json"),
        shown="`export_schedule(..., 'json', blocked/schedule.v1.json)`, `blocked` a file"),
    Bad("api-storage-unreachable", "api", "cannot open study storage postgresql+psycopg://u:***@",
        "check the host, port", error=SearchError,
        call=lambda tmp: open_storage(SearchSettings(storage=UNREACHABLE)),
        shown="`open_storage(SearchSettings(storage='postgresql+psycopg://...:9/db'))`"),
    Bad("api-search-trials-zero", "api", "--trials must be at least 1",
        "give the number of completed trials", error=SearchError,
        call=lambda tmp: SearchSettings(trials=0), shown="`SearchSettings(trials=0)`"),
)
COMMANDS = [case for case in CATALOGUE if case.surface != "api"]
API = [case for case in CATALOGUE if case.surface == "api"]


def _files(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*") if path.is_file()}


def _prepare(case: Bad, tmp: Path) -> set[Path]:
    """Write the case's files and run its set-up; the files present before the command."""
    for name, text in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    if case.setup is not None:
        case.setup(tmp)
    return _files(tmp)


def _fragments(case: Bad, tmp: Path) -> tuple[str, str]:
    return case.problem.replace("{tmp}", str(tmp)), case.fix.replace("{tmp}", str(tmp))


def _one_line_naming(message: str, case: Bad, tmp: Path) -> None:
    problem, fix = _fragments(case, tmp)
    assert "Traceback" not in message
    assert len(message.strip().splitlines()) == 1, message
    assert problem in message, f"problem fragment {problem!r} missing from: {message}"
    assert fix in message, f"fix fragment {fix!r} missing from: {message}"


def test_the_catalogue_covers_every_surface_with_unique_ids():
    ids = [case.id for case in CATALOGUE]
    assert len(ids) == len(set(ids)) >= 30
    assert {case.surface for case in CATALOGUE} == set(SURFACES)
    for case in CATALOGUE:
        assert (case.call is None) == (case.surface != "api"), case.id
        assert case.surface != "api" or issubclass(case.error, USER_ERRORS), case.id


@pytest.mark.parametrize("case", COMMANDS, ids=[case.id for case in COMMANDS])
def test_bad_command_line_input_exits_2_with_one_line(case, tmp_path):
    before = _prepare(case, tmp_path)
    cwd = tmp_path / "cwd"  # default outputs (runs/, exports) would land here
    cwd.mkdir()
    args = [a.replace("{tmp}", str(tmp_path)).replace("{arms}", str(ARMS)) for a in case.args]
    env = {k: v for k, v in os.environ.items() if k != "PERSISTER_DEBUG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ beside a file the case wrote
    if case.path:
        env["PYTHONPATH"] = os.pathsep.join(
            [case.path.replace("{tmp}", str(tmp_path)), *filter(None, [env.get("PYTHONPATH")])])
    started = time.perf_counter()
    completed = run_cli(*args, timeout=120, cwd=cwd, env=env)
    seconds = time.perf_counter() - started
    assert completed.returncode == 2, completed.stderr
    _one_line_naming(completed.stderr, case, tmp_path)
    assert seconds < SECONDS, f"took {seconds:.1f} s: it should fail before any solve"
    assert _files(tmp_path) == before, "a bad input left a file behind"


@pytest.mark.parametrize("case", API, ids=[case.id for case in API])
def test_bad_api_input_raises_its_error_with_one_line(case, tmp_path):
    before = _prepare(case, tmp_path)
    with pytest.raises(case.error) as raised:
        case.call(tmp_path)
    _one_line_naming(str(raised.value), case, tmp_path)
    assert _files(tmp_path) == before, "a bad input left a file behind"


def table() -> str:
    """The catalogue as the Markdown table of docs/bad_inputs.md."""
    rows = ["| id | surface | input | message names the problem | and the fix |",
            "|---|---|---|---|---|"]
    rows += [f"| {case.id} | {case.surface} | {case.input} | `{case.problem}` | `{case.fix}` |"
             .replace("{tmp}/", "") for case in CATALOGUE]
    return "\n".join(rows)


def test_the_doc_lists_every_entry_as_the_catalogue_has_it():
    """The doc's table is the catalogue's (regenerate: python -m tests.test_bad_inputs)."""
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("|")]
    ids = [row.split("|")[1].strip() for row in rows[2:]]
    assert ids == [case.id for case in CATALOGUE], "docs/bad_inputs.md lists other entries"
    assert "\n".join(rows) == table(), ("docs/bad_inputs.md differs from the catalogue; "
                                        "regenerate its table: python -m tests.test_bad_inputs")


if __name__ == "__main__":
    print(table())
