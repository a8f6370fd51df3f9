"""The discrete search: its space, resumable studies, workers, crashes and the rules it keeps."""

import json
import os
import re
import signal
import subprocess
import time
import uuid

import numpy as np
import optuna
import pytest

from models.persister import default_parameters, persister_model
from optimiser.search import SearchSpace, masked

from .conftest import CLI, run_cli
from .test_cli import V1
from .test_rules import _longest_run, _shortest_holiday

POSTGRES = os.environ.get("PERSISTER_TEST_POSTGRES_URL")
needs_postgres = pytest.mark.skipif(
    not POSTGRES, reason="set PERSISTER_TEST_POSTGRES_URL (.ci/run starts a server and does)")


def _trials(storage: str, study: str, *states):
    study = optuna.load_study(study_name=study, storage=storage)
    return study.get_trials(states=states or None)


def _complete(storage: str, study: str):
    return _trials(storage, study, optuna.trial.TrialState.COMPLETE)


def test_space_encodes_a_profile_as_the_pulses_that_give_it_back():
    window = np.arange(40)
    space = SearchSpace(window, max_pulses=6, max_length=10, levels=(0.5, 1.0))
    w = np.zeros(100)
    w[[0, 1, 2, 8, 22, 23]] = [1.0, 1.0, 0.5, 1.0, 0.5, 0.5]
    params = space.encode(w)
    pulses = [(params[f"start_{k}"], params[f"length_{k}"], params[f"level_{k}"])
              for k in range(params["pulses"])]
    assert pulses == [(0, 2, 1.0), (2, 1, 0.5), (8, 1, 1.0), (22, 2, 0.5)]
    assert np.array_equal(space.caps(pulses, 100), w)
    too_many = np.zeros(100)
    too_many[0:40:2] = 1.0
    assert space.encode(too_many) is None  # 20 pulses > 6


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://alice:s3cret@db:5432/x", "postgresql+psycopg://alice:***@db:5432/x"),
    # an unescaped '@' ends SQLAlchemy's password early: the rest must not show as the host
    ("postgresql+psycopg://alice:p@ss@db:5432/x", "postgresql+psycopg://alice:***@db:5432/x"),
    ("postgresql+psycopg://alice:p%40ss@db/x", "postgresql+psycopg://alice:***@db/x"),
    ("postgresql+psycopg://alice@db/x?password=s3cret",
     "postgresql+psycopg://alice@db/x?password=***"),
    ("postgresql://db/x?user=a&sslpassword=k3y&password=s3cret",
     "postgresql://db/x?password=***&sslpassword=***&user=a"),
    ("postgresql://alice@db/x?connect_timeout=5", "postgresql://alice@db/x?connect_timeout=5"),
    ("sqlite:////tmp/runs/studies.db", "sqlite:////tmp/runs/studies.db"),
])
def test_storage_urls_are_printed_without_credentials(url, shown):
    assert masked(url) == shown


@needs_postgres
def test_a_password_given_as_a_query_parameter_is_written_nowhere(tmp_path):
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES)
    password = url.password
    as_query = (f"{url.drivername}://{url.username}@{url.host}:{url.port}/{url.database}"
                f"?password={password}")
    study = f"query-{uuid.uuid4().hex[:8]}"
    completed = run_cli(*V1, "--budget", "10d", "--storage", as_query, "--study", study,
                        "--trials", "2", "--json", "--out", str(tmp_path / "out"))
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["study"]["storage"].endswith("?password=***")
    written = [path.read_text() for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert written and all(password not in text
                           for text in [completed.stdout, completed.stderr, *written])
    optuna.delete_study(study_name=study, storage=POSTGRES)


@pytest.mark.parametrize("url", ["postgresql+psycopg://alice:p@ss@127.0.0.1:1/none",
                                 "postgresql+psycopg://alice@127.0.0.1:1/none?password=s3cret"])
def test_a_storage_error_shows_no_part_of_the_password(url):
    completed = run_cli(*V1, "--storage", url, "--study", "s", "--trials", "2", "--json",
                        timeout=120)
    assert completed.returncode == 2, completed.stderr
    assert "s3cret" not in completed.stderr + completed.stdout
    assert "ss@" not in completed.stderr + completed.stdout


def test_embedded_study_resumes_across_invocations(tmp_path):
    runs = tmp_path / "runs"
    common = ("--budget", "10d", "--study", "resume", "--runs-dir", str(runs), "--json")
    first = run_cli(*V1, *common, "--trials", "4")
    assert first.returncode == 0, first.stderr
    storage = f"sqlite:///{(runs / 'studies.db').resolve()}"
    before = {t.number: t.values for t in _complete(storage, "resume")}
    assert len(before) == 4
    second = run_cli(*V1, *common, "--trials", "7")
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)["study"]
    assert (report["completed_trials"], report["trials_this_run"]) == (7, 3)
    after = {t.number: t.values for t in _complete(storage, "resume")}
    assert len(after) == 7 and all(after[n] == v for n, v in before.items())
    assert report["best_objective"] <= min(v[0] for v in before.values())
    changed = run_cli(*V1, "--budget", "8d", "--study", "resume", "--runs-dir", str(runs))
    assert changed.returncode == 2
    assert "study 'resume'" in changed.stderr and "different problem" in changed.stderr
    assert "Traceback" not in changed.stderr


def test_unreachable_storage_is_one_line_without_the_password():
    completed = run_cli(*V1, "--storage", "postgresql+psycopg://alice:s3cret@127.0.0.1:1/none",
                        "--trials", "2")
    assert completed.returncode == 2
    assert "cannot open study storage postgresql+psycopg://alice:***@127.0.0.1:1/none" in \
        completed.stderr
    assert "s3cret" not in completed.stderr + completed.stdout
    assert "Traceback" not in completed.stderr


def test_search_keeps_the_rules_in_every_feasible_trial(tmp_path):
    runs = tmp_path / "runs"
    completed = run_cli(*V1, "--budget", "10d", "--max-run", "3", "--min-holiday", "2",
                        "--max-pulses", "4", "--trials", "12", "--study", "rules",
                        "--runs-dir", str(runs), "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["check"]["passed"]
    days = np.zeros(100, dtype=bool)
    days[np.asarray(report["igf1r_days"], dtype=int)] = True
    assert _longest_run(days) <= 3 and _shortest_holiday(days) >= 2
    storage = f"sqlite:///{(runs / 'studies.db').resolve()}"
    feasible = [t for t in _complete(storage, "rules") if t.user_attrs["result"]["violation"] <= 0]
    assert feasible
    for trial in feasible:
        on = np.asarray(trial.user_attrs["result"]["doses"]) > 0
        assert _longest_run(on) <= 3 and _shortest_holiday(on) >= 2
        assert on.sum() <= 10 and np.flatnonzero(on).max(initial=0) < 40


def test_search_under_a_glucose_limit_returns_only_schedules_that_keep_it(tmp_path):
    from models.schedule import Schedule
    from optimiser.simulate import simulate

    runs = tmp_path / "runs"
    completed = run_cli(*V1, "--budget", "6d", "--max-glucose", "164", "--trials", "10", "--study",
                        "g", "--runs-dir", str(runs), "--json")
    assert completed.returncode == 0, completed.stderr
    model = persister_model(glucose=True)
    p = model.parameter_vector(default_parameters())
    storage = f"sqlite:///{(runs / 'studies.db').resolve()}"
    trials = _complete(storage, "g")
    feasible = [t for t in trials if t.user_attrs["result"]["violation"] <= 0]
    assert feasible and len(feasible) < len(trials)  # some proposals broke the limit
    for trial in feasible[:4]:
        doses = 25.0 * np.asarray(trial.user_attrs["result"]["doses"])
        schedule = Schedule(1.0, 100.0, {"igf1r_inhibitor": doses}, {"igf1r_inhibitor": "mg/kg"})
        assert simulate(model, p, schedule).output("glucose").max() <= 164.0 * (1 + 1e-4)


@needs_postgres
def test_four_workers_on_postgres_finish_exactly_the_requested_trials():
    study = f"workers-{uuid.uuid4().hex[:8]}"
    completed = run_cli(*V1, "--budget", "10d", "--study", study, "--storage", POSTGRES,
                        "--workers", "4", "--trials", "16", "--json")
    assert completed.returncode == 0, completed.stderr
    assert POSTGRES.split("@")[0].split(":")[-1] not in completed.stdout + completed.stderr
    trials = _trials(POSTGRES, study)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 16
    assert len({t.number for t in trials}) == len(trials)  # no trial recorded twice
    assert len({t.user_attrs["worker_pid"] for t in done}) == 4  # every worker took part
    optuna.delete_study(study_name=study, storage=POSTGRES)


def _freeze_holding_a_trial(pid: int, study: str) -> int | None:
    """Stop the worker and keep it stopped only if it holds a running trial: a fast trial seen
    running may have finished before the kill, and the next not yet carry the worker's pid."""
    os.kill(pid, signal.SIGSTOP)
    held = [t for t in _trials(POSTGRES, study) if t.state == optuna.trial.TrialState.RUNNING
            and t.user_attrs.get("worker_pid") == pid]
    if held:
        return pid
    os.kill(pid, signal.SIGCONT)
    return None


@needs_postgres
def test_a_worker_killed_mid_study_loses_no_trial_the_other_worker_retries_it():
    study = f"kill-{uuid.uuid4().hex[:8]}"
    command = [*CLI, "--preset", "persister_v1", "--budget", "10d",
               "--study", study, "--storage", POSTGRES, "--workers", "2", "--trials", "14",
               "--heartbeat", "1", "--grace", "600", "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    pid, deadline = None, time.monotonic() + 300
    while pid is None and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            trials = _trials(POSTGRES, study)
        except KeyError:  # the study does not exist yet
            continue
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
                   and "worker_pid" in t.user_attrs]
        if len(complete) >= 3 and running:
            pid = _freeze_holding_a_trial(running[0].user_attrs["worker_pid"], study)
    assert pid is not None, "the study never got going"
    # The victim is the trial the worker held when it was stopped.
    lost = [t for t in _trials(POSTGRES, study) if t.user_attrs.get("worker_pid") == pid
            and t.state == optuna.trial.TrialState.RUNNING]
    assert len(lost) == 1, f"the stopped worker held {len(lost)} running trials"
    victim = lost[0]
    os.kill(pid, signal.SIGKILL)
    # The grace period (600 s) is far off: the other worker sees the victim's worker dead on
    # this machine, fails its trial, queues it again and finishes the study.
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    codes = sorted(int(code) for code in re.search(
        r"a worker ended early \(worker exit codes \[(-?\d+), (-?\d+)\]\)", stderr).groups())
    assert codes == [-signal.SIGKILL, 0]  # the command says which worker died, and how
    trials = _trials(POSTGRES, study)
    assert len([t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]) == 14
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == optuna.trial.TrialState.FAIL
    retried = [t for t in trials
               if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
               == victim.number]
    # The retry keeps every value the victim had drawn (it may have been stopped between two
    # suggestions; the retry draws the rest) and ran to completion.
    assert len(retried) == 1 and victim.params.items() <= retried[0].params.items()
    assert retried[0].state == optuna.trial.TrialState.COMPLETE
    optuna.delete_study(study_name=study, storage=POSTGRES)
