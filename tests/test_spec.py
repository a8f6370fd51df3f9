"""Run specs: the command line and its TOML run file describe the same run (``--save-spec``,
``optimise run``), and a run file is checked as strictly as the command line."""

import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from models.errors import InputError
from optimiser.spec import (
    OutputSpec,
    ProblemSpec,
    RunSpec,
    SearchSpec,
    SpecError,
    build_problem,
)

from .conftest import run_cli

CHEAP = ("--preset", "persister_v1", "--budget", "3d", "--horizon", "50", "--treatment-days",
         "20")  # about 1.5 s


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("options", [
    {},
    {"budget": "3d", "horizon": 50.0, "treatment_days": 20.0, "as_json": True},
    {"budget": "auc:300uM*h", "max_run": "5d", "min_holiday": "3d", "max_pulses": 2,
     "dose_levels": "6.25,12.5,25", "max_glucose": "10mmol/L", "robust": 4,
     "robust_mode": "worst", "seed": 7, "parameters": Path("p/params.toml")},
    {"trials": 12, "study": 'a "quoted" name\\ \u00e9 \x7f', "workers": 2, "pareto": True,
     "search_mode": "random", "heartbeat": 2, "grace": 5, "runs_dir": Path("/tmp/runs"),
     "storage": "postgresql+psycopg://u:p@host:5432/db"},
    {"out": Path("out dir"), "plot": Path("figs/f.png"), "export": "nonmem", "grid": 0.5},
])
def test_a_spec_from_options_equals_the_spec_read_back_from_its_toml(options, tmp_path):
    spec = RunSpec.from_options(**options)
    path = tmp_path / "run.toml"
    spec.save(path)
    assert RunSpec.read(path) == spec
    assert RunSpec.parse(tomllib.loads(spec.to_toml()), "text") == spec


def test_from_options_maps_every_option_into_its_part():
    spec = RunSpec.from_options(budget="5d", search_mode="simulation", seed=3, as_json=True,
                                heartbeat=4)
    assert spec.problem == ProblemSpec(budget="5d", seed=3)
    assert spec.search == SearchSpec(mode="simulation", seed=3, heartbeat=4)
    assert spec.outputs == OutputSpec(json=True)
    assert RunSpec.from_options() == RunSpec()


def test_a_run_file_may_give_numbers_where_the_options_take_text():
    spec = RunSpec.parse({"problem": {"budget": 10, "max_glucose": 180,
                                      "dose_levels": [6.25, 12.5, 25]}}, "text")
    assert (spec.problem.budget, spec.problem.max_glucose, spec.problem.dose_levels) == (
        "10", "180", "6.25,12.5,25")


@pytest.mark.parametrize(("data", "fragments"), [
    ({"problem": {"budgett": "3d"}}, ("unknown key 'problem.budgett'", "keys of [problem]:",
                                      "budget")),
    ({"outputs": {"csv": True}}, ("unknown key 'outputs.csv'", "json, out, plot, export")),
    ({"solver": {}}, ("unknown table or key 'solver'", "[problem], [search], [outputs]")),
    ({"problem": {"horizon": "long"}}, ("problem.horizon: Input should be a valid number",
                                        "correct that value")),
    ({"search": {"workers": 1.5}}, ("search.workers", "correct that value")),
    ({"problem": {"budget": True}}, ("problem.budget: Input should be a valid string",)),
])
def test_a_bad_run_file_is_one_spec_error_naming_the_key(data, fragments):
    with pytest.raises(SpecError) as raised:
        RunSpec.parse(data, "run file 'x.toml'")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("run file 'x.toml': ")
    for fragment in fragments:
        assert fragment in message


def test_an_unwritable_run_file_is_a_spec_error(tmp_path):
    (tmp_path / "blocked").write_text("a file, not a directory\n")
    with pytest.raises(SpecError, match="choose a writable --save-spec"):
        RunSpec().save(tmp_path / "blocked" / "run.toml")


def test_nan_and_infinities_survive_the_toml_writer():
    spec = RunSpec(problem=ProblemSpec(horizon=math.inf, grid=-math.inf, treatment_days=1e-5))
    read = RunSpec.parse(tomllib.loads(spec.to_toml()), "text")
    assert read == spec
    nan = RunSpec.parse(tomllib.loads(RunSpec(problem=ProblemSpec(horizon=math.nan)).to_toml()),
                        "text")
    assert math.isnan(nan.problem.horizon)


def test_build_problem_is_the_presets_problem():
    from models.persister import persister_problem
    from models.registry import get_preset

    problem, levels = build_problem(ProblemSpec(preset="persister_v1"))
    assert problem.structure_key() == persister_problem().structure_key()
    default, _ = build_problem(ProblemSpec())
    assert default.structure_key() == get_preset("persister_v2").problem().structure_key()
    assert levels == (1.0,)
    _, levels = build_problem(ProblemSpec(dose_levels="12.5,25"))
    assert levels == (0.5, 1.0)


def test_an_unknown_preset_is_refused():
    with pytest.raises(InputError, match=r"unknown preset 'other'; give one of \['persister'"):
        build_problem(ProblemSpec(preset="other"))


def test_unknown_key_in_a_run_file_exits_2_with_one_line(tmp_path):
    (tmp_path / "run.toml").write_text('[problem]\nbudget = "3d"\nbuget = "4d"\n')
    completed = run_cli("run", str(tmp_path / "run.toml"))
    assert completed.returncode == 2
    line = _one_line(completed.stderr)
    assert line.startswith(f"error: run file '{tmp_path / 'run.toml'}': unknown key "
                           "'problem.buget'")
    assert completed.stdout == ""


@pytest.mark.parametrize(("text", "fragment"), [
    (None, "does not exist; check the path"),
    ("[problem\n", "is not valid TOML"),
    ('[problem]\nbudget = "ten"\n', "budget 'ten' is not understood"),
    ('[search]\ntrials = 0\n', "--trials must be at least 1, got 0"),
])
def test_a_run_file_that_cannot_run_exits_2_before_any_solve(tmp_path, text, fragment):
    if text is not None:
        (tmp_path / "run.toml").write_text(text)
    completed = run_cli("run", str(tmp_path / "run.toml"), cwd=tmp_path)
    assert completed.returncode == 2
    assert fragment in _one_line(completed.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if text is None else ["run.toml"])


def test_options_before_run_are_refused(tmp_path):
    (tmp_path / "run.toml").write_text("")
    completed = run_cli("--budget", "3d", "run", str(tmp_path / "run.toml"))
    assert completed.returncode == 2
    assert "came before 'run'" in _one_line(completed.stderr)


def test_save_spec_of_a_bad_command_line_writes_nothing(tmp_path):
    completed = run_cli("--budget", "ten", "--save-spec", "run.toml", cwd=tmp_path)
    assert completed.returncode == 2
    assert "budget 'ten' is not understood" in _one_line(completed.stderr)
    assert list(tmp_path.iterdir()) == []


def test_a_saved_spec_with_a_storage_password_is_private(tmp_path, monkeypatch, capsys):
    import optimiser.cli.running as running

    ran = []
    monkeypatch.setattr(running, "prepare", lambda spec: type("Plan", (), {"settings": None}))
    monkeypatch.setattr(running, "_run_optimise", ran.append)
    spec = RunSpec.from_options(storage="postgresql+psycopg://u:secret@db.example.org/db")
    running.execute(spec, tmp_path / "run.toml")
    assert (tmp_path / "run.toml").stat().st_mode & 0o777 == 0o600
    assert RunSpec.read(tmp_path / "run.toml") == spec and len(ran) == 1
    assert "holds the storage password" in capsys.readouterr().err


def test_a_saved_spec_run_with_optimise_run_gives_the_command_lines_result(tmp_path):
    """``--save-spec`` writes the run file and runs; ``optimise run`` of that file reports the
    same run: every figure equal, but for timings and the command in the provenance."""
    first = run_cli(*CHEAP, "--max-run", "2d", "--dose-levels", "12.5,25", "--json", "--out",
                    "out", "--save-spec", "specs/run.toml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    saved = (tmp_path / "specs" / "run.toml").read_text()
    assert 'budget = "3d"' in saved and 'max_run = "2d"' in saved and "json = true" in saved
    spec = RunSpec.read(tmp_path / "specs" / "run.toml")
    assert spec == RunSpec.from_options(preset="persister_v1", budget="3d", horizon=50,
                                        treatment_days=20,
                                        max_run="2d", dose_levels="12.5,25", as_json=True,
                                        out=Path("out"))
    schedule_first = json.loads((tmp_path / "out" / "schedule.json").read_text())
    second = run_cli("run", "specs/run.toml", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    reports = [json.loads(first.stdout), json.loads(second.stdout)]
    schedule_second = json.loads((tmp_path / "out" / "schedule.json").read_text())
    for report in reports:
        del report["timings_s"]
        assert report["provenance"].pop("command") == report["schedule"]["provenance"].pop(
            "command")
    assert reports[0] == reports[1]
    assert reports[0]["igf1r_days"] and reports[0]["check"]["passed"] is True
    assert schedule_first["provenance"].pop("command").endswith("--save-spec specs/run.toml")
    assert schedule_second["provenance"].pop("command") == "optimise run specs/run.toml"
    assert schedule_first == schedule_second


def test_python_dash_m_runs_the_command():
    completed = subprocess.run([sys.executable, "-m", "optimiser.cli", "--help"],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and "--save-spec" in completed.stdout
