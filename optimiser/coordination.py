"""Several commands, and the workers of each, on one study: they share nothing but its storage,
so the storage is where they agree.

- One decision must not race: whether a trial may be evaluated. A study lock (an advisory lock
  on PostgreSQL, a file lock beside an SQLite file) makes it one at a time: a trial *claims* its
  pulse structure only while fewer than the target trials are complete or claimed, so the study
  never holds more complete trials than asked, however many processes run it; a trial started
  past the target is pruned (``surplus``). A structure another running trial holds is waited
  for and its result reused, so no structure is evaluated twice across processes.
- Every trial records its worker (host, pid, process start time). A running trial whose worker
  is dead on this host is failed and queued again at once (by any process of the study, e.g. an
  immediate re-run after kill -9); on other hosts the heartbeat does it after the grace period.
  A trial ended by Ctrl-C or SIGTERM is failed by Optuna and queued again before the exit.

Claims and worker records carry their trial's number: Optuna's retry copies the failed trial's
attributes, and the copy must not look claimed or owned by the dead worker.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from optimiser import interrupts

POLL_S = 0.25  # how often a waiting process looks at the study again


def _boot_id() -> str | None:
    """This machine's boot id (Linux): two machines with one host name still differ."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


HOST = {"host": socket.gethostname(), "boot": _boot_id()}


def _process_status(pid: int) -> tuple[str, str] | None:
    """The process's state letter and start time (clock ticks since boot, Linux): the start
    tells a live worker from a new process that reuses its pid; None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name may hold spaces and parentheses
    return fields[0], fields[19]


def identity() -> dict:
    pid = os.getpid()
    status = _process_status(pid)
    return {**HOST, "pid": pid, "started": status and status[1]}


def _alive(worker: dict) -> bool:
    try:
        os.kill(worker["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    status = _process_status(worker["pid"])
    if status is None:  # no /proc: the pid exists
        return True
    state, started = status
    return state != "Z" and worker.get("started") in (None, started)  # a zombie is dead


def _own(trial, key: str):
    """The attribute ``key`` if this trial wrote it (not inherited by a retry), else None."""
    value = trial.user_attrs.get(key)
    return value if isinstance(value, dict) and value.get("trial") == trial.number else None


def local_worker(trial) -> dict | None:
    """The trial's own worker record if that worker ran on this machine, else None."""
    worker = _own(trial, "worker")
    if worker is None or any(worker.get(key) != HOST[key] for key in HOST):
        return None
    return worker


def _dead_here(trial) -> bool:
    worker = local_worker(trial)
    return worker is not None and not _alive(worker)


@contextmanager
def study_lock(storage, name: str) -> Iterator[None]:
    """Exclusive across processes and machines for one study (SQLite: on this machine, as the
    database itself). Other databases run unlocked: counts may then exceed the target."""
    dialect = storage.engine.dialect.name
    if dialect == "sqlite":
        import fcntl

        with open(f"{storage.engine.url.database}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif dialect == "postgresql":
        from sqlalchemy import text

        digest = hashlib.sha256(f"persister-opt study {name}".encode()).digest()
        key = {"key": int.from_bytes(digest[:8], "big", signed=True)}
        with storage.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                connection.commit()
    else:
        yield


def wait(seconds: float = POLL_S) -> None:
    """Sleep where an interrupt may come (inside a study's deferral)."""
    with interrupts.interruptible():
        time.sleep(seconds)


class Retry:
    """Queue a failed trial again with the same choices (its parameters) and nothing else it
    recorded (a half-written result or constraint would stick to the retry), up to
    ``max_retry`` times; the lineage is kept where Optuna's own retry keeps it
    (``RetryHeartbeatStaleTrialCallback.retried_trial_number`` and ``retry_history`` read it).
    Also the storage's heartbeat callback, so a stale trial is retried the same way."""

    def __init__(self, max_retry: int) -> None:
        self.max_retry = max_retry

    def __call__(self, study, trial) -> None:
        import optuna

        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        if len(history) > self.max_retry:
            return
        study.add_trial(optuna.create_trial(
            state=optuna.trial.TrialState.WAITING, params=trial.params,
            distributions=trial.distributions,
            system_attrs={"failed_trial": history[0], "retry_history": history}))


class StudyRun:
    """One process's part in running a study to ``target`` complete trials; failed trials are
    queued again by the storage's own retry (``Retry``, its heartbeat callback)."""

    def __init__(self, study, storage, target: int) -> None:
        self.study, self.storage, self.target = study, storage, target
        self.current: int | None = None  # the number of the trial this process runs

    def lock(self):
        return study_lock(self.storage, self.study.study_name)

    def _trials(self, *states) -> list:
        return self.study.get_trials(deepcopy=False, states=states or None)

    def enter(self, trial) -> None:
        """Record this process as the trial's worker (the first thing a trial does)."""
        self.current = trial.number
        trial.set_user_attr("worker", {"trial": trial.number, **identity()})
        trial.set_user_attr("worker_pid", os.getpid())

    def claim(self, trial, structure: str) -> dict | None:
        """Take the right to evaluate ``structure`` in this trial; a complete twin's result
        to reuse instead (None: evaluate). Waits while another running trial holds it; raises
        TrialPruned when the study already holds its target."""
        import optuna

        while True:
            with self.lock():
                others = [t for t in self._trials() if t.number != trial.number]
                held = [t for t in others if t.state == optuna.trial.TrialState.COMPLETE
                        or (t.state == optuna.trial.TrialState.RUNNING and _own(t, "claim"))]
                if len(held) >= self.target:
                    trial.set_user_attr("surplus", True)
                    raise optuna.TrialPruned(f"the study holds its {self.target} trials")
                twin = next((t.user_attrs["result"] for t in held
                             if t.state == optuna.trial.TrialState.COMPLETE
                             and t.user_attrs.get("result", {}).get("structure") == structure),
                            None)
                busy = any(t.state == optuna.trial.TrialState.RUNNING
                           and t.user_attrs["claim"]["structure"] == structure for t in held)
                if twin is not None or not busy:
                    trial.set_user_attr("claim", {"trial": trial.number, "structure": structure})
                    return twin
            self.recover()  # the twin's worker may be dead
            wait()

    def recover(self) -> None:
        """Fail and queue again the running trials whose worker is gone: dead on this host now,
        silent past the grace period elsewhere (Optuna's heartbeat check)."""
        import optuna

        optuna.storages.fail_stale_trials(self.study)
        for trial in self._trials(optuna.trial.TrialState.RUNNING):
            if _dead_here(trial):
                self.fail_and_retry(trial.number)

    def fail_and_retry(self, number: int) -> None:
        """Fail trial ``number`` if it still runs and queue its retry once (the storage's
        retry): under the lock, so two processes do not both."""
        import optuna

        state = optuna.trial.TrialState
        with self.lock():
            trials = self._trials()
            trial = next(t for t in trials if t.number == number)
            if trial.state == state.RUNNING:
                self.study.tell(number, state=state.FAIL)
            elif trial.state != state.FAIL or any(
                    number in t.system_attrs.get("retry_history", ()) for t in trials):
                return
            self.storage.get_heartbeat_stale_trial_callback()(self.study, trial)

    def run(self, objective: Callable, progress: Callable[[int], None]) -> None:
        """Run trials until the study holds its target, waiting while the trials of other
        processes would make it up; ``progress`` gets the complete count after each trial.
        An interrupt comes only in a wait or in the objective's ``interruptible`` parts, never
        inside a database call."""
        with interrupts.deferred():
            self._run(objective, progress)

    def _run(self, objective: Callable, progress: Callable[[int], None]) -> None:
        import optuna

        while True:
            self.recover()
            states = Counter(t.state for t in self._trials())
            complete = states[optuna.trial.TrialState.COMPLETE]
            if complete >= self.target:
                return
            if complete + states[optuna.trial.TrialState.RUNNING] >= self.target:
                wait()
                continue
            self.current = None
            try:
                self.study.optimize(objective, n_trials=1)
                interrupts.raise_if_received()  # one held back in the trial's last writes
            except BaseException:
                if not interrupts.received():  # a failure: the trial is failed, not retried
                    raise
                if self.current is not None:  # failed by Optuna, or still running
                    self.fail_and_retry(self.current)
                raise KeyboardInterrupt from None  # whatever a library made of the signal
            progress(len(self._trials(optuna.trial.TrialState.COMPLETE)))
