"""The command line as a user runs it: real processes, exit codes and messages. Bad inputs
(exit code 2) are catalogued in tests/test_bad_inputs.py."""

import json
import os
from pathlib import Path

import pytest

from .conftest import ARMS, run_cli

# The command line's mechanics are tested on model v1 (its numbers pinned, fast); the default
# preset, model v2, in test_default_main_job_runs_model_v2.
V1 = ("--preset", "persister_v1")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    completed = run_cli(*V1, "--budget", "10d", "--json", "--out", str(out), "--export", "nonmem",
                        "--plot", str(out / "figure.png"))
    return completed, out


def test_optimise_json_reports_the_promised_keys(default_run):
    completed, _ = default_run
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    for key in ("schedule", "budget", "objective", "lower_bound", "gap", "check", "provenance"):
        assert key in report
    assert report["budget"]["limit_days"] == 10.0
    assert report["budget"]["used_days"] <= 10.0 + 1e-9
    assert report["check"]["passed"] is True
    assert report["gap"] >= -1e-7 and report["gap"] < 1.0
    assert report["objective"]["log10_residual_cells"] == pytest.approx(
        report["check"]["resimulated_objective"], abs=1e-3)
    assert {"versions", "seed", "command"} <= set(report["provenance"])
    assert "--budget 10d" in report["provenance"]["command"]


def test_out_directory_holds_schedule_and_trajectories(default_run):
    completed, out = default_run
    from models.schedule import Schedule

    schedule = Schedule.read(out / "schedule.json")
    report = json.loads(completed.stdout)
    assert schedule.dosing_days("igf1r_inhibitor") == report["igf1r_days"]
    header = (out / "trajectories.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["day", "S", "P", "R"] and "total_cells" in header


def test_export_and_plot_of_the_reported_schedule(default_run):
    """--export writes the event table of the schedule the report gives; --plot a PNG that
    carries the run's provenance."""
    import pandas as pd
    from PIL import Image

    completed, out = default_run
    report = json.loads(completed.stdout)
    events = pd.read_csv(out / "events.csv")
    doses = events[(events["EVID"] == 1) & (events["AMT"] == 25)]
    days = sorted(float(t + k * ii) for t, ii, addl in zip(doses["TIME"], doses["II"],
                                                           doses["ADDL"], strict=True)
                  for k in range(int(addl) + 1))
    assert days == report["igf1r_days"]
    with Image.open(out / "figure.png") as image:
        # 1000 x 696: cells, the no-regrowth curve's failure probabilities, two dose rows and
        # the drugs' exposure on one time axis
        assert image.format == "PNG" and image.size == (1000, 696)
        assert json.loads(image.text["versions"]) == report["provenance"]["versions"]
        assert "--budget 10d" in image.text["command"]
    assert "exported nonmem" in completed.stderr and "figure written to" in completed.stderr


def test_default_main_job_runs_model_v2():
    """The README's main job on the default preset: model v2, re-simulated between dose events
    by LSODA, with a gap that is reported rather than hidden (saturating oral doses make the
    relaxed bound loose)."""
    completed = run_cli("--budget", "10d", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["provenance"]["model"] == "persister_v2"
    assert report["check"]["passed"] is True
    assert report["check"]["integrator"].startswith("scipy LSODA")
    assert report["budget"]["used_days"] == pytest.approx(10.0)
    assert report["gap"] >= -1e-7 and report["objective"]["value"] >= report["lower_bound"]["value"]


def test_pareto_front_figure(tmp_path):
    from PIL import Image

    completed = run_cli(*V1, "--budget", "10d", "--pareto", "--trials", "3", "--runs-dir",
                        str(tmp_path), "--plot", str(tmp_path / "front.png"))
    assert completed.returncode == 0, completed.stderr
    with Image.open(tmp_path / "front.png") as image:
        assert image.size == (700, 500) and "pareto" in image.text["command"]


def test_export_command_writes_the_format_asked(tmp_path):
    completed = run_cli(*V1, "export", "--schedule",
                        str(ARMS / "osimertinib_plus_igf1r_days_0_9.json"), "--format",
                        "physicell", "--out", str(tmp_path / "pc"))
    assert completed.returncode == 0, completed.stderr
    listed = sorted(Path(line).name for line in completed.stdout.split())
    assert listed == ["igf1r_inhibitor_dose_schedule.csv", "osimertinib_dose_schedule.csv",
                      "physipkpd_dosing.xml"]
    first_igf1r_rows = (tmp_path / "pc" / "igf1r_inhibitor_dose_schedule.csv").read_text()
    # v1 holds the dose over the day: 25 mg/kg puts ln 2 / 0.25 day x 1 day = 2.77 into C_igf,
    # written as 48 boluses, one every 30 min
    assert first_igf1r_rows.splitlines()[:2] == ["0,0.0577622650467", "30,0.0577622650467"]


def test_simulate_reports_paper_arm_outcome():
    completed = run_cli(*V1, "simulate", "--schedule",
                        str(ARMS / "osimertinib_plus_igf1r_days_0_9.json"), "--json")
    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout)
    assert outcome["eradicated"] is True and outcome["no_regrowth"] is True
    regrows = json.loads(run_cli(*V1, "simulate", "--schedule",
                                 str(ARMS / "osimertinib_alone.json"), "--json").stdout)
    assert regrows["eradicated"] is False and regrows["no_regrowth"] is False


def test_failed_check_exits_1_and_is_not_reported_as_success(monkeypatch):
    """A check failure (here forced by a zero tolerance) must give exit 1 and say why."""
    from typer.testing import CliRunner

    import optimiser.pipeline
    from optimiser.check import check_schedule
    from optimiser.cli import app

    def strict(problem, schedule, predicted):
        return check_schedule(problem, schedule, predicted, tolerance=0.0)

    monkeypatch.setattr(optimiser.pipeline, "check_schedule", strict)
    result = CliRunner().invoke(app, [*V1, "--budget", "10d", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["check"]["passed"] is False
    assert "differs from the optimiser's" in result.stderr


def test_auc_budget_from_the_command_line():
    completed = run_cli(*V1, "--budget", "auc:0.15mM*h", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["budget"]["kind"] == "auc"
    assert report["budget"]["limit"] == pytest.approx(150.0)
    assert report["budget"]["used"] <= 150.0 + 1e-6
    assert report["check"]["passed"] is True
    assert len(report["igf1r_days"]) <= 5


def _commands():
    """The root command and every sub-command (those of other packages' entry points too)."""
    import typer

    from optimiser.cli import app

    root = typer.main.get_command(app)
    return [((), root), *(((name,), command) for name, command in root.commands.items())]


@pytest.mark.parametrize("path", [path for path, _ in _commands()], ids=lambda p: " ".join(p)
                         or "optimise")
def test_help_shows_no_value_for_flags_and_a_type_for_options(path):
    """typer 0.29 printed '<bool>' beside flags (--json, --pareto, --help), which reads as
    '--json true'; a flag takes no value, an option still shows what it takes."""
    import re

    command = dict(_commands())[path]
    shown = run_cli(*path, "--help", env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    rows = {match[0]: match[1].strip() for match in
            re.findall(r"│[\s*]+(--[a-z-]+)\s+(<[^>]*>|[A-Z][A-Z_=,.]*(?=\s))?", shown.stdout)}
    flags = {name for param in command.params if getattr(param, "is_flag", False)
             for name in param.opts if name.startswith("--")} | {"--help"}
    valued = {param.opts[0] for param in command.params
              if not getattr(param, "is_flag", True) and param.opts[0].startswith("--")}
    assert "<bool>" not in shown.stdout
    assert flags <= set(rows) and all(rows[flag] == "" for flag in flags), rows
    assert valued <= set(rows) and all(rows[option] for option in valued), rows


def test_an_experiment_from_the_command_line_runs_on_its_own_model(tmp_path):
    """Without --parameters an experiment on model v1 gets v1's parameters, not those of the
    default preset (model v2), which v1 cannot read."""
    made = run_cli("experiment", "paper_arms", "--reduced", "--results", str(tmp_path))
    assert made.returncode == 0, made.stderr
    stamp = [line for line in (tmp_path / "paper_arms.csv").read_text().splitlines()
             if line.startswith("# parameter_set:")]
    assert stamp == ["# parameter_set: persister-default"]
