"""Several commands on one study, a command killed with kill -9, and Ctrl-C or SIGTERM in the
middle of a study: real ``optimise`` processes on real storages (a fresh SQLite file,
PostgreSQL), read back through Optuna.

A user starts the same command twice (two terminals, two machines on one PostgreSQL) or runs it
again after a crash or Ctrl-C, and expects the study to hold exactly the trials asked for: none
short, none over, no pulse structure evaluated twice, no trial left RUNNING (a running trial that
nobody runs would hold a place in the count for ever) and nothing lost (the interrupted or killed
trial is queued again with its choices). The trials here take about 0.15 s each, so a trial seen
running may finish before a signal arrives: the tests stop the process (SIGSTOP), confirm that it
holds a running trial, then signal it and let it go on (SIGCONT), and they still accept that the
trial completed first (a signal that fell between trials). Resuming a study and a worker of one
command killed are tested in tests/test_search.py, interrupts outside a study in
tests/test_interrupts.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from pathlib import Path

import optuna
import pytest

from .conftest import CLI
from .test_cli import V1
from .test_search import POSTGRES, _trials, needs_postgres

State = optuna.trial.TrialState
STOP_S = 5  # the longest wait from the signal to the exit (tests/test_interrupts.py)
CATCH_S = 90  # how long to wait for a command to reach a running trial
retried_from = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number
retry_history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history


@pytest.fixture
def study_name(request):
    """A new study name; a PostgreSQL study of that name is deleted after the test."""
    name = f"{request.node.originalname.removeprefix('test_')[:20]}-{uuid.uuid4().hex[:8]}"
    yield name
    if POSTGRES:
        with suppress(KeyError):  # an SQLite test, or never created
            optuna.delete_study(study_name=name, storage=POSTGRES)


def _storage(kind: str, tmp_path: Path) -> tuple[tuple[str, ...], str]:
    """Command-line storage options and the URL they give."""
    if kind == "postgres":
        return ("--storage", POSTGRES), POSTGRES
    url = f"sqlite:///{(tmp_path / 'studies.db').resolve()}"
    return ("--storage", url), url


STORAGES = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=needs_postgres)]


def _command(study: str, storage: tuple[str, ...], trials: int, *extra: str) -> list[str]:
    return [*CLI, *V1, "--budget", "10d", "--study", study, *storage, "--trials", str(trials),
            "--json", *extra]


@contextmanager
def _started(command: list[str], group: bool = False):
    """The command running in the background; killed (and continued, if stopped) if the test
    leaves it running."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=group)
    try:
        yield process
    finally:
        if process.poll() is None:
            send = os.killpg if group else os.kill
            for number in (signal.SIGKILL, signal.SIGCONT):
                with suppress(ProcessLookupError):
                    send(process.pid, number)
            process.communicate(timeout=30)


class _Watch:
    """A study's trials read while commands run it, without writing anything: no table is
    created, no schema checked, and no SQLite file opened before a command has made it (two
    openers of a new file race to create Optuna's tables)."""

    def __init__(self, url: str, study: str) -> None:
        self.url, self.study = url, study
        self.storage = self.study_id = None

    def trials(self) -> list | None:
        from sqlalchemy.exc import SQLAlchemyError

        if self.storage is None and self.url.startswith("sqlite:///") and not Path(
                self.url.removeprefix("sqlite:///")).exists():
            return None
        try:
            if self.storage is None:  # Optuna records its version even when told to skip the
                # tables: a command creating them at the same moment may win (IntegrityError)
                kwargs = {"connect_args": {"timeout": 2}} if self.url.startswith("sqlite") else {}
                self.storage = optuna.storages.RDBStorage(
                    self.url, engine_kwargs=kwargs, skip_compatibility_check=True,
                    skip_table_creation=True)
            if self.study_id is None:
                self.study_id = self.storage.get_study_id_from_name(self.study)
            return self.storage.get_all_trials(self.study_id, deepcopy=False)
        # Not created yet, or an SQLite file being written (Optuna wraps the driver's "no such
        # table" and "database is locked" in StorageInternalError).
        except (KeyError, SQLAlchemyError, optuna.exceptions.StorageInternalError):
            return None

    def close(self) -> None:
        if self.storage is not None:
            self.storage.engine.dispose()


def _catch_running(process, watch: _Watch, complete: int = 0, group: bool = False) -> list:
    """Stop the command (its process group if ``group``) while one of its processes runs a
    trial that records its worker, with at least ``complete`` trials complete; the running
    trials, read while it is stopped. Fails if the command ends first."""
    send = os.killpg if group else os.kill
    deadline = time.monotonic() + CATCH_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the command ended (exit {process.returncode}) before a trial was "
                        f"caught running: {err[-500:]}")
        trials = watch.trials()
        if trials and _count(trials, State.COMPLETE) >= complete and _running(trials):
            send(process.pid, signal.SIGSTOP)
            trials = watch.trials() or []  # one read: the process is stopped
            held = _running(trials)
            if held and _count(trials, State.COMPLETE) >= complete:
                return held
            send(process.pid, signal.SIGCONT)  # it moved on: a finished trial, or unreadable
        time.sleep(0.02)
    pytest.fail(f"no trial was caught running within {CATCH_S} s")


def _running(trials) -> list:
    return [t for t in trials if t.state == State.RUNNING and "worker_pid" in t.user_attrs]


def _count(trials, state) -> int:
    return sum(1 for t in trials if t.state == state)


def _settled(url: str, study: str, seconds: float = 5.0) -> list:
    """The trials once none is running, waiting up to ``seconds`` (a worker of an ended
    command may still be writing); then as they are."""
    deadline = time.monotonic() + seconds
    while True:
        trials = _trials(url, study)
        if not any(t.state == State.RUNNING for t in trials) or time.monotonic() > deadline:
            return trials
        time.sleep(0.2)


def _assert_exactly(trials, target: int) -> None:
    """The study holds ``target`` complete trials and no trial that anyone still runs or
    waits for."""
    states = Counter(t.state for t in trials)
    summary = {state.name: n for state, n in states.items()}
    assert states[State.COMPLETE] == target, summary
    assert states[State.RUNNING] == 0 and states[State.WAITING] == 0, summary


def _assert_no_structure_twice(trials) -> None:
    """Every complete trial names its pulse structure; only reused results repeat one."""
    complete = [t for t in trials if t.state == State.COMPLETE]
    assert all(isinstance(t.user_attrs["result"]["structure"], str) for t in complete)
    evaluated = [t.user_attrs["result"]["structure"] for t in complete
                 if not t.user_attrs.get("duplicate")]
    assert len(evaluated) == len(set(evaluated)), "a structure was evaluated twice"
    reused = {t.user_attrs["result"]["structure"] for t in complete
              if t.user_attrs.get("duplicate")}
    assert reused <= set(evaluated), "a duplicate reused a result no complete trial holds"


def _assert_workers_recorded(trials) -> None:
    for trial in trials:
        if trial.state != State.COMPLETE:
            continue
        worker = trial.user_attrs["worker"]
        assert (worker["trial"], worker["host"]) == (trial.number, socket.gethostname())
        assert worker["pid"] == trial.user_attrs["worker_pid"]


def _report(process, seconds: float = 300) -> dict:
    out, err = process.communicate(timeout=seconds)
    assert process.returncode == 0, err
    return json.loads(out)["study"]


@pytest.mark.parametrize("kind", STORAGES)
def test_two_commands_on_one_study_leave_exactly_the_requested_trials(kind, tmp_path,
                                                                      study_name):
    """Started together (on SQLite: on a file neither has created yet), one with two workers
    on PostgreSQL; together they complete 12 trials, never a structure twice."""
    if kind == "sqlite":  # the default study file, created by whichever command is first
        storage = ("--runs-dir", str(tmp_path / "runs"))
        url = f"sqlite:///{(tmp_path / 'runs' / 'studies.db').resolve()}"
        second_workers = "1"
    else:
        storage, url = _storage(kind, tmp_path)
        second_workers = "2"
    with (_started(_command(study_name, storage, 12, "--workers", "1")) as one,
          _started(_command(study_name, storage, 12, "--workers", second_workers)) as two):
        reports = [_report(one), _report(two)]
    trials = _settled(url, study_name)
    _assert_exactly(trials, 12)
    assert {t.state for t in trials} <= {State.COMPLETE, State.PRUNED}
    assert all(t.user_attrs.get("surplus") is True for t in trials if t.state == State.PRUNED)
    _assert_no_structure_twice(trials)
    _assert_workers_recorded(trials)
    complete = [t for t in trials if t.state == State.COMPLETE]
    assert [r["completed_trials"] for r in reports] == [12, 12]
    # Each complete trial was run by exactly one command: the first command's own process, or
    # the second's (itself, or its workers); both say how many they ran and reused.
    by_one = [t for t in complete if t.user_attrs["worker_pid"] == one.pid]
    by_two = [t for t in complete if t.user_attrs["worker_pid"] != one.pid]
    assert [r["trials_this_run"] for r in reports] == [len(by_one), len(by_two)]
    assert [r["duplicates_skipped"] for r in reports] == [
        sum(1 for t in group if t.user_attrs.get("duplicate")) for group in (by_one, by_two)]
    pids = {t.user_attrs["worker_pid"] for t in complete}
    assert len(pids) <= (2 if second_workers == "1" else 3)
    if second_workers == "1":
        assert pids <= {one.pid, two.pid}
    else:
        assert reports[1]["worker_exit_codes"] == [0, 0]
    if by_one and by_two:  # both took part (usual; a command may also find the study done)
        assert len(pids) >= 2


@pytest.mark.parametrize("kind", STORAGES)
def test_a_command_killed_with_kill_9_is_recovered_by_an_immediate_rerun(kind, tmp_path,
                                                                         study_name):
    """The grace period (600 s) is far off: the re-run sees the killed trial's worker dead on
    this machine, fails it and runs its retry, at once."""
    storage, url = _storage(kind, tmp_path)
    command = _command(study_name, storage, 10, "--heartbeat", "1", "--grace", "600")
    watch = _Watch(url, study_name)
    try:
        with _started(command, group=True) as process:
            held = _catch_running(process, watch, complete=2, group=True)
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
            assert process.returncode == -signal.SIGKILL
    finally:
        watch.close()
    assert len(held) == 1 and held[0].user_attrs["worker_pid"] == process.pid
    victim = held[0]
    left = _trials(url, study_name)
    assert _count(left, State.COMPLETE) < 10
    assert next(t for t in left if t.number == victim.number).state == State.RUNNING
    started = time.monotonic()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    assert rerun.returncode == 0, rerun.stderr
    assert seconds < 60, f"the re-run took {seconds:.0f} s"
    trials = _trials(url, study_name)
    states = Counter(t.state for t in trials)
    assert states[State.COMPLETE] == 10 and states[State.RUNNING] == 0, states
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == State.FAIL
    assert killed.user_attrs["worker"]["pid"] == process.pid
    retries = [t for t in trials if retried_from(t) == victim.number]
    # The retry keeps the choices the victim had drawn (it may have been stopped between two
    # suggestions: the retry draws the rest) and ran to completion.
    assert len(retries) == 1, [(t.number, t.state.name) for t in retries]
    assert victim.params.items() <= retries[0].params.items()
    assert retries[0].state == State.COMPLETE
    _assert_no_structure_twice(trials)


def _interrupt(command: list[str], url: str, study: str, number: int, group: bool = False):
    """Run the command until it holds a running trial, send it signal ``number`` there (to
    its process group, as a terminal's Ctrl-C does, if ``group``) and check that it ended as an
    interrupt: exit 130 within STOP_S, one line, nothing on stdout. The process, and the
    trials it held when signalled."""
    send = os.killpg if group else os.kill
    watch = _Watch(url, study)
    try:
        with _started(command, group=group) as process:
            held = _catch_running(process, watch, group=group)
            send(process.pid, number)  # pending until the process goes on
            sent = time.monotonic()
            send(process.pid, signal.SIGCONT)
            out, err = process.communicate(timeout=60)
            seconds = time.monotonic() - sent
    finally:
        watch.close()
    assert process.returncode == 130, err
    assert seconds < STOP_S, f"took {seconds:.1f} s to stop"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: interrupted ({signal.Signals(number).name})"), err
    assert out == ""
    return process, held


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_study_fails_and_queues_the_running_trial(number, tmp_path,
                                                                    study_name):
    storage, url = _storage("sqlite", tmp_path)
    command = _command(study_name, storage, 10)
    process, held = _interrupt(command, url, study_name, number)
    assert [t.user_attrs["worker_pid"] for t in held] == [process.pid]
    trials = _trials(url, study_name)
    assert _count(trials, State.RUNNING) == 0
    failed = [t for t in trials if t.state == State.FAIL
              and t.user_attrs.get("worker_pid") == process.pid]
    # The interrupted trial is the one held when the process was stopped, unless that one
    # completed before the signal was handled (stopped while writing its result).
    assert [t.number for t in failed] in ([], [held[0].number]), failed
    retries = [t for t in trials if failed and retried_from(t) == failed[0].number]
    if failed:
        assert [t.state for t in retries] == [State.WAITING]
        assert failed[0].params.items() <= retries[0].params.items()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    trials = _trials(url, study_name)
    _assert_exactly(trials, 10)
    if retries:
        assert next(t for t in trials if t.number == retries[0].number).state == State.COMPLETE
    _assert_no_structure_twice(trials)


def test_ctrl_c_to_a_command_with_two_workers_leaves_no_trial_running(tmp_path, study_name):
    """Ctrl-C in a terminal signals the whole process group: the command and its workers."""
    storage, url = _storage("sqlite", tmp_path)
    command = _command(study_name, storage, 10, "--workers", "2")
    _interrupt(command, url, study_name, signal.SIGINT, group=True)
    trials = _settled(url, study_name)
    assert _count(trials, State.RUNNING) == 0, "an interrupted worker left its trial running"
    # Every interrupted trial is queued again (its number in a retry's lineage).
    for trial in trials:
        if trial.state == State.FAIL:
            assert any(trial.number in retry_history(t) for t in trials), trial.number
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    trials = _trials(url, study_name)
    _assert_exactly(trials, 10)
    _assert_no_structure_twice(trials)
