"""Discrete search over the structure of a schedule: Optuna outside, CasADi inside.

A trial chooses pulses: how many, where each starts, how long it lasts and at which dose level.
In the ``coupled`` mode the compiled CasADi solver (built once per process) then solves the
relaxed problem restricted to those pulses, started from the pulses' simulated trajectory, and
the rounding MILP turns its doses into levels that keep every linear rule. (Starting from the
unrestricted relaxed optimum instead, with IPOPT's warm-start options, took 0.25-1.4 s per solve
against 0.18-0.43 s: its support is not the trial's.) In the ``simulation`` and ``random``
modes (baselines) the pulses themselves are the schedule. Either way the schedule is scored by
simulation and any rule or path limit it breaks goes to Optuna's constraints support.
Identical pulse structures are solved once per study (a canonical hash), even across workers
and commands.

Studies live in an Optuna storage: an SQLite file under the runs directory by default, or any
storage URL (PostgreSQL for many machines). Workers are processes, each with its own solver;
every process (any worker of any command) runs trials until the study holds its target, and
``optimiser.coordination`` keeps them from overshooting it, repeating a structure or losing a
trial to a crash or an interrupt.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from constraints.rules import MaxPulses
from models.branching import CURE_PROBABILITY
from models.errors import InputError
from optimiser import interrupts
from optimiser.cache import solver_for
from optimiser.coordination import Retry, StudyRun, local_worker, wait
from optimiser.integer import combinatorial_rounding, linear_rules, max_on, rule_excess
from optimiser.objectives import sign
from optimiser.problem import ControlProblem

MODES = ("coupled", "simulation", "random")
# Seconds to wait for a database server before giving up: an unreachable host must fail the
# command in seconds, not after the operating system's TCP time-out (minutes).
CONNECT_TIMEOUT_S = 5
_LIBPQ_DRIVERS = ("psycopg", "psycopg2", "psycopg2cffi")  # they take libpq's connect_timeout
# What SQLite and PostgreSQL say when two processes create Optuna's tables together.
CREATION_RACE_SIGNS = ("already exists", "UNIQUE constraint failed", "duplicate key value")
CREATION_ATTEMPTS = 5
Progress = Callable[[str], None]


class SearchError(InputError):
    """The study cannot be run as asked (storage, name, settings); the message says how."""


@dataclass(frozen=True)
class SearchSettings:
    """How long and where to search. ``trials`` is the number of completed trials the study
    should hold in total: running the same command again resumes an interrupted study."""

    trials: int = 40
    study: str | None = None
    storage: str | None = None  # an Optuna storage URL; default: SQLite under runs_dir
    runs_dir: Path = Path("runs")
    workers: int = 1
    mode: str = "coupled"
    pareto: bool = False
    seed: int = 0
    heartbeat_s: int = 10  # a running trial records a heartbeat this often ...
    grace_s: int = 30  # ... and is declared crashed (and retried) when silent this long
    retries: int = 2

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise SearchError(f"--trials must be at least 1, got {self.trials}; give the number "
                              "of completed trials the study should hold")
        if self.workers < 1:
            raise SearchError(f"--workers must be at least 1, got {self.workers}; give 1 or more "
                              "worker processes")
        if self.mode not in MODES:
            raise SearchError(f"search mode {self.mode!r} is unknown; give --search-mode "
                              f"{', '.join(MODES[:-1])} or {MODES[-1]}")
        if not 0 < self.heartbeat_s < self.grace_s:
            raise SearchError(f"the heartbeat interval ({self.heartbeat_s} s) must be positive "
                              f"and shorter than the grace period ({self.grace_s} s); give e.g. "
                              "--heartbeat 10 --grace 30")

    @property
    def url(self) -> str:
        if self.storage:
            return self.storage
        return f"sqlite:///{(self.runs_dir / 'studies.db').resolve()}"


def _parsed(url: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        return None


# Query parameters that drivers read as credentials (libpq: password, sslpassword; others:
# passwd, pwd, token, secret, api keys): matched as parts of the parameter's name.
SECRET_QUERY_WORDS = ("password", "passwd", "pwd", "secret", "token", "key")


def _is_secret(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_QUERY_WORDS)


def _password_and_host(parsed) -> tuple[str | None, str | None]:
    """The whole password and the real host: an unescaped '@' in a password makes SQLAlchemy
    end it early and read its tail as part of the host."""
    spill, at, host = (parsed.host or "").rpartition("@")
    if not at:
        return parsed.password, parsed.host
    return f"{parsed.password or ''}@{spill}", host


def _secrets(url: str) -> list[str]:
    """Every credential the URL carries: the whole password and secret query values."""
    parsed = _parsed(url)
    if parsed is None:
        return []
    found = [_password_and_host(parsed)[0]]
    for name, value in parsed.query.items():
        if _is_secret(name):
            found += [value] if isinstance(value, str) else list(value)
    return [secret for secret in found if secret]


def masked(url: str) -> str:
    """The storage URL with every credential (password, secret query values) replaced by ***,
    safe to print and to store."""
    parsed = _parsed(url)
    if parsed is None:
        return "<unreadable storage URL>"
    password, host = _password_and_host(parsed)
    query = {name: "***" if _is_secret(name) else value for name, value in parsed.query.items()}
    shown = parsed.set(host=host, password=None if password is None else "***",
                       query=query).render_as_string(hide_password=False)
    return shown.replace("%2A%2A%2A", "***")  # rendering percent-encodes the mask


def open_storage(settings: SearchSettings):
    """The RDB storage with heartbeats; crashed trials are re-queued up to ``retries`` times."""
    import optuna
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    if settings.storage is None:
        try:
            settings.runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SearchError(f"cannot create the runs directory {str(settings.runs_dir)!r} "
                              f"({error.strerror}); choose a writable --runs-dir") from None
    if _in_memory(settings.url):
        raise SearchError(f"cannot open study storage {settings.url} (an in-memory SQLite "
                          "database is private to one connection, and the heartbeat thread and "
                          "the workers each open their own); give a file, e.g. "
                          "sqlite:///runs/studies.db, or leave out --storage")
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        for attempt in range(CREATION_ATTEMPTS):
            try:
                storage = optuna.storages.RDBStorage(
                    settings.url, engine_kwargs=_engine_kwargs(settings.url),
                    heartbeat_interval=settings.heartbeat_s, grace_period=settings.grace_s,
                    heartbeat_stale_trial_callback=Retry(settings.retries))
                if storage.engine.dialect.name == "sqlite":
                    _begin_immediately(storage.engine)
                return storage
            except SQLAlchemyError as error:
                if attempt + 1 == CREATION_ATTEMPTS or not _lost_creation_race(error):
                    raise
                time.sleep(0.1 * (attempt + 1))
    # RuntimeError: tables written by another Optuna version (the schema check)
    except (ArgumentError, SQLAlchemyError, ImportError, ValueError, RuntimeError) as error:
        reason = _without_password(str(error).splitlines()[0], settings.url)
        raise SearchError(f"cannot open study storage {masked(settings.url)} ({reason[:200]}); "
                          f"{_storage_hint(settings.url, error)}") from None


def _lost_creation_race(error: Exception) -> bool:
    """Another process created Optuna's tables at the same moment (two commands started
    together on a new database): opening again finds them."""
    return any(sign in str(error) for sign in CREATION_RACE_SIGNS)


def _in_memory(url: str) -> bool:
    """An SQLite URL without a file (``sqlite://``, ``:memory:``, ``mode=memory``)."""
    parsed = _parsed(url)
    if parsed is None or not parsed.drivername.startswith("sqlite"):
        return False
    database = parsed.database or ""
    return (database in ("", ":memory:") or database.startswith("file::memory:")
            or parsed.query.get("mode") == "memory" or "mode=memory" in database)


def _engine_kwargs(url: str) -> dict:
    """SQLAlchemy engine options: SQLite waits up to 60 s for a lock held by another worker,
    and leaves transactions to SQLAlchemy (``_begin_immediately``); PostgreSQL gives up
    connecting after CONNECT_TIMEOUT_S unless the URL sets its own."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60, "isolation_level": None}}
    parsed = _parsed(url)
    if parsed is None or not parsed.drivername.startswith("postgresql"):
        return {}
    driver = parsed.drivername.partition("+")[2]
    if (driver or "psycopg2") in _LIBPQ_DRIVERS and "connect_timeout" not in parsed.query:
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    return {}


def _begin_immediately(engine) -> None:
    """Every SQLite transaction takes the database's write lock when it begins. Python's
    sqlite3 otherwise starts one only at the first write, after the reads it depends on: two
    processes then both read a queued trial as waiting and both run it (Optuna's
    ``FOR UPDATE`` is what PostgreSQL uses instead). SQLAlchemy's recipe for pysqlite."""
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _without_password(text: str, url: str) -> str:
    """``text`` with the URL's credentials masked where drivers quote them (in a URL or a DSN);
    one of four or more characters is masked anywhere (a shorter one would also mask
    unrelated letters of the message)."""
    parsed = _parsed(url)
    if parsed is not None and parsed.host and "@" in parsed.host:  # the password's tail
        text = text.replace(parsed.host, "***@" + _password_and_host(parsed)[1])
    for secret in _secrets(url):
        for quoted, shown in ((f":{secret}@", ":***@"), (f"password={secret}", "password=***"),
                              (f"password='{secret}'", "password='***'")):
            text = text.replace(quoted, shown)
        text = text.replace(secret, "***") if len(secret) >= 4 else text
    return text


def _storage_hint(url: str, error: Exception) -> str:
    """What to do about a storage that cannot be opened, by kind of URL and error."""
    text = str(error)
    if isinstance(error, RuntimeError):  # Optuna's schema check
        if "storage upgrade" in text:
            return ("its tables were written by an older Optuna; upgrade them with 'optuna "
                    "storage upgrade --storage URL', or give another --storage")
        return ("its tables were written by a newer Optuna or are corrupt; give another "
                "--storage, or update Optuna")
    if _parsed(url) is None:
        return ("give a storage URL such as sqlite:///runs/studies.db or "
                "postgresql+psycopg://user:password@host:5432/database")
    if url.startswith("sqlite"):
        if "not a database" in text or "malformed" in text:
            return ("the file is not an Optuna study database (corrupt or another program's); "
                    "move it away or give another sqlite:///PATH")
        if "unable to open" in text:
            return ("the file's directory must exist and be writable; create it or give "
                    "another sqlite:///PATH")
        return "check the file and that no other program holds it, or give another sqlite:///PATH"
    if isinstance(error, ImportError) or "No module named" in text or "Can't load plugin" in text:
        return ("install the database driver (for PostgreSQL: pip install -e '.[postgres]') or "
                "fix the URL's scheme")
    return ("check the host, port, database name and credentials, and that the server is "
            "running and reachable from this machine")


@dataclass(frozen=True)
class SearchSpace:
    """Pulses of one drug on its allowed intervals ``window`` (indices into the grid); with
    several free drugs each space names its parameters after its drug (``prefix``)."""

    window: np.ndarray
    max_pulses: int
    max_length: int
    levels: tuple[float, ...]
    prefix: str = ""

    def suggest(self, trial) -> list[tuple[int, int, float]]:
        name = self.prefix
        count = trial.suggest_int(f"{name}pulses", 1, self.max_pulses)
        pulses = []
        for k in range(count):
            start = trial.suggest_int(f"{name}start_{k}", 0, len(self.window) - 1)
            length = trial.suggest_int(f"{name}length_{k}", 1, self.max_length)
            level = (trial.suggest_categorical(f"{name}level_{k}", self.levels)
                     if len(self.levels) > 1 else self.levels[0])
            pulses.append((start, length, level))
        return pulses

    def caps(self, pulses: list[tuple[int, int, float]], n_intervals: int) -> np.ndarray:
        """Highest dose fraction per interval that the pulses allow (0 outside them)."""
        caps = np.zeros(n_intervals)
        for start, length, level in pulses:
            covered = self.window[start:start + length]
            caps[covered] = np.maximum(caps[covered], level)
        return caps

    def encode(self, w: np.ndarray) -> dict | None:
        """Trial parameters whose pulses give exactly ``w`` (None if the space cannot)."""
        on = w[self.window]
        name = self.prefix
        params, k, position = {}, 0, 0
        while position < len(on):
            if on[position] == 0:
                position += 1
                continue
            length = 1
            while (position + length < len(on) and on[position + length] == on[position]
                   and length < self.max_length):
                length += 1
            params.update({f"{name}start_{k}": position, f"{name}length_{k}": length})
            if len(self.levels) > 1:
                if on[position] not in self.levels:
                    return None
                params[f"{name}level_{k}"] = float(on[position])
            k, position = k + 1, position + length
        if not 1 <= k <= self.max_pulses:
            return None
        return {f"{name}pulses": k, **params}


def _key(values: np.ndarray) -> str:
    return hashlib.sha256(np.round(values, 9).tobytes()).hexdigest()[:16]


class TrialEvaluator:
    """The objective Optuna calls; one per process (it holds the compiled solver). A trial
    proposes pulses for every free drug (one search space each) and evaluates them once its
    part in the study ``run`` lets it."""

    def __init__(self, problem: ControlProblem, levels: tuple[float, ...], mode: str,
                 run: StudyRun, pareto: bool = False) -> None:
        self.problem, self.levels, self.mode, self.pareto = problem, levels, mode, pareto
        self.run = run
        self.solver = solver_for(problem)
        self.rules = linear_rules(problem)
        self.rule_excess = rule_excess(problem, self.rules)
        names = problem.free_names
        self.spaces = []
        for name in names:
            longest = max(1, max_on(problem, name, self.rules, max(levels)))
            pulse_rules = [c.limit for c in problem.constraints
                           if isinstance(c, MaxPulses) and c.drug == name]
            self.spaces.append(SearchSpace(np.flatnonzero(problem.window_mask(name)),
                                           int(min(pulse_rules, default=6)), longest, levels,
                                           f"{name}." if len(names) > 1 else ""))

    def encode(self, W: np.ndarray) -> dict | None:
        """Trial parameters for free profiles W (n_free x N), None if a space cannot hold
        its drug's profile."""
        params = {}
        for space, w in zip(self.spaces, np.atleast_2d(W), strict=True):
            encoded = space.encode(np.asarray(w, dtype=float))
            if encoded is None:
                return None
            params.update(encoded)
        return params

    def profile(self, caps: np.ndarray) -> tuple[np.ndarray, float]:
        """The doses to score for these pulses (n_free x N), and the restricted relaxed bound
        (coupled)."""
        if self.mode != "coupled":
            return caps, math.nan
        restricted = self.solver.solve(self.problem, initial_free=0.5 * caps, cap_free=caps)
        relaxed = np.array([restricted.free[name] for name in self.problem.free_names])
        return (combinatorial_rounding(relaxed, caps, self.rules, self.levels),
                restricted.lower_bound)

    def exposures(self, W: np.ndarray) -> list[float]:
        """Reference-dose days of each free drug: the Pareto mode's further objectives."""
        return [float(w.sum() * self.problem.grid_step) for w in W]

    def evaluate(self, caps: np.ndarray) -> dict:
        W, bound = self.profile(caps)
        shown = (CURE_PROBABILITY,) if self.problem.lineages else ()
        objective, path_excess, *values = self.solver.screen(self.problem, W, shown)
        violation = max(0.0, self.rule_excess(W), path_excess)
        stored = W[0] if len(W) == 1 else W  # one drug: a flat list, as before
        exposures = self.exposures(W)
        return {"objective": objective, "cost": float(self.solver.sign * objective),
                "violation": violation, "doses": stored.round(9).tolist(),
                "exposure_days": exposures[0] if len(W) == 1 else exposures,
                "restricted_bound": bound, "schedule_key": _key(W),
                **dict(zip(shown, values, strict=True))}

    def shown(self, attrs: dict) -> dict:
        """The trial's figures as optuna-dashboard lists them: each free drug's exposure in
        reference-dose days, P(cure) where the problem carries it, and the screening check."""
        names = self.problem.free_names
        days = np.atleast_1d(attrs["exposure_days"])
        shown = {f"exposure {self.problem.model.control(name).display_name} (reference-dose "
                 f"days)": round(float(d), 6) for name, d in zip(names, days, strict=True)}
        if CURE_PROBABILITY in attrs:
            shown["P(cure)"] = attrs[CURE_PROBABILITY]
        shown["check"] = ("every rule and limit kept (screening simulation)"
                          if attrs["violation"] <= 1e-9 else
                          f"a rule or limit broken by {attrs['violation']:.3g}")
        return shown

    def __call__(self, trial) -> float | tuple[float, float]:
        self.run.enter(trial)
        n = self.problem.n_intervals
        caps = np.array([space.caps(space.suggest(trial), n) for space in self.spaces])
        structure = _key(caps)
        attrs = self.run.claim(trial, structure)
        if attrs is None:
            with interrupts.interruptible():  # CasADi and simulation: no record is open
                attrs = {**self.evaluate(caps), "structure": structure}
        else:
            trial.set_user_attr("duplicate", True)
        trial.set_user_attr("result", attrs)  # one write: each attribute is a transaction
        for key, value in self.shown(attrs).items():
            trial.set_user_attr(key, value)
        trial.set_constraint("rules_and_limits", attrs["violation"])  # feasible when <= 0
        if self.pareto:
            return attrs["cost"], *np.atleast_1d(attrs["exposure_days"])
        return attrs["cost"]


def _sampler(settings: SearchSettings, worker: int):
    import optuna

    seed = settings.seed + 1000 * worker
    if settings.mode == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True,
                                      group=True)


def fingerprint(problem: ControlProblem, levels: tuple[float, ...],
                settings: SearchSettings) -> dict:
    """What a study's values depend on; resuming must not mix problems."""
    return {"structure": hashlib.sha256(repr(problem.structure_key()).encode()).hexdigest()[:16],
            "parameters": problem.parameter_digest,
            "limits": [[c.name, c.limit] for c in (*problem.constraints, *problem.path_limits)],
            "levels": list(levels), "mode": settings.mode, "pareto": settings.pareto}


def metric_names(problem: ControlProblem, pareto: bool) -> list[str]:
    """What each trial value is, for optuna-dashboard: the objective (negated when it is
    maximised, as the study minimises) and, on a Pareto study, each free drug's exposure."""
    objective = problem.objective
    unit = objective.unit(problem.model)
    name = f"{objective.name} ({unit})" if unit else objective.name
    names = [name if sign(objective) > 0 else f"minus {name}"]
    if pareto:
        names += [f"exposure {problem.model.control(drug).display_name} (reference-dose days)"
                  for drug in problem.free_names]
    return names


def _load(settings: SearchSettings, name: str, worker: int = 0,
          exposures: int = 1) -> StudyRun:
    """This process's part in running the study; a Pareto study minimises the cost and each
    free drug's exposure."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = ["minimize"] * (1 + settings.pareto * exposures)
    storage = open_storage(settings)
    study = optuna.create_study(storage=storage, study_name=name,
                                sampler=_sampler(settings, worker), directions=directions,
                                load_if_exists=True)
    return StudyRun(study, storage, settings.trials)


def _worker(problem: ControlProblem, levels: tuple[float, ...], settings: SearchSettings,
            name: str, worker: int) -> None:
    """One worker process: its own solver, trials until the study holds its target. A failure
    ends the process with one line on stderr and exit code 1, an interrupt with 130 (its trial
    failed and queued again); the parent reports the study incomplete."""
    interrupts.install(announce=False)  # the parent says it once
    try:
        run = _load(settings, name, worker, len(problem.free_names))
        evaluator = TrialEvaluator(problem, levels, settings.mode, run, settings.pareto)
        run.run(evaluator, progress=lambda _complete: None)
    except KeyboardInterrupt:
        sys.exit(interrupts.EXIT_INTERRUPTED)
    except Exception as error:  # any failure: one line, not a traceback
        print(f"worker {worker}: {type(error).__name__}: {error}"[:300], file=sys.stderr)
        sys.exit(1)


def _completed(study) -> list:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


@dataclass
class StudyOutcome:
    name: str
    storage: str  # masked
    requested: int
    completed: int
    run_now: int
    seconds: float
    duplicates: int
    feasible: list = field(repr=False, default_factory=list)  # feasible completed trials
    worker_exit_codes: list[int] = field(default_factory=list)

    @property
    def best(self):
        return min(self.feasible, key=lambda t: t.values[0], default=None)

    @property
    def complete(self) -> bool:
        return self.completed >= self.requested

    @property
    def worker_note(self) -> str | None:
        """A warning when a worker ended early although the study is complete: the others
        retried its trial (a crash, an out-of-memory kill)."""
        if not self.complete or not any(self.worker_exit_codes):
            return None
        return (f"warning: a worker ended early (worker exit codes {self.worker_exit_codes}); "
                "the other workers retried its trial and completed the study")

    def front(self) -> list:
        """Non-dominated feasible trials (cost, exposures), one per schedule, by exposure."""
        unique = {t.user_attrs["result"]["schedule_key"]: t for t in self.feasible}.values()
        front = [t for t in unique
                 if not any(all(a <= b for a, b in zip(o.values, t.values, strict=True))
                            and o.values != t.values for o in unique)]
        return sorted(front, key=lambda t: t.values[1:])

    @staticmethod
    def doses(trial, problem: ControlProblem) -> np.ndarray:
        """A trial's free profiles, n_free x N."""
        return np.asarray(trial.user_attrs["result"]["doses"], dtype=float).reshape(
            len(problem.free_names), problem.n_intervals)

    def summary(self) -> dict:
        best = self.best
        return {"study": self.name, "storage": self.storage, "requested_trials": self.requested,
                "completed_trials": self.completed, "trials_this_run": self.run_now,
                "duplicates_skipped": self.duplicates, "seconds": self.seconds,
                "best_trial": best.number if best else None,
                "best_objective": best.user_attrs["result"]["objective"] if best else None,
                "worker_exit_codes": self.worker_exit_codes}


def default_study_name(problem: ControlProblem, levels: tuple[float, ...],
                       settings: SearchSettings) -> str:
    digest = hashlib.sha256(repr(fingerprint(problem, levels, settings)).encode())
    return f"persister-{digest.hexdigest()[:10]}"


def _refuse_other_problem(stored: dict | None, expected: dict, name: str,
                          settings: SearchSettings) -> None:
    """Resuming must not mix problems: refuse a study whose fingerprint differs."""
    if stored is None or stored == expected:
        return
    changed = sorted(k for k in expected if stored.get(k) != expected[k])
    raise SearchError(f"study {name!r} in {masked(settings.url)} was run for a different "
                      f"problem ({', '.join(changed)} differ); choose another --study name")


def check_study(problem: ControlProblem, settings: SearchSettings,
                levels: tuple[float, ...] = (1.0,)) -> None:
    """Open the storage and compare an existing study with this problem, before any solve: a
    bad or unreachable storage URL, a corrupt study file or a study made for another problem
    then fails in seconds instead of after the relaxed solve. ``problem``, ``settings`` and
    ``levels`` must be what ``run_study`` will get. Creates no study (only Optuna's tables)."""
    from sqlalchemy.exc import SQLAlchemyError

    name = settings.study or default_study_name(problem, levels, settings)
    storage = open_storage(settings)
    try:
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:  # a new study: nothing to compare
            return
        stored = storage.get_study_user_attrs(study_id).get("fingerprint")
    except SQLAlchemyError as error:
        reason = _without_password(str(error).splitlines()[0], settings.url)
        raise SearchError(f"cannot read study {name!r} in {masked(settings.url)} "
                          f"({reason[:200]}); {_storage_hint(settings.url, error)}") from None
    finally:
        storage.engine.dispose()
    _refuse_other_problem(stored, fingerprint(problem, levels, settings), name, settings)


def run_study(problem: ControlProblem, settings: SearchSettings,
              levels: tuple[float, ...] = (1.0,), seeds: tuple[np.ndarray, ...] = (),
              progress: Progress | None = None) -> StudyOutcome:
    """Create or resume the study and run it until it holds ``settings.trials`` completed
    trials, alongside any other command on it; ``seeds`` (dose profiles of the free control)
    are enqueued first in a new study."""
    say = progress or (lambda _message: None)
    name = settings.study or default_study_name(problem, levels, settings)
    run = _load(settings, name, exposures=len(problem.free_names))
    study = run.study
    evaluator = TrialEvaluator(problem, levels, settings.mode, run, settings.pareto)
    expected = fingerprint(problem, levels, settings)
    with run.lock():  # one command sets up a new study, the others find it set up
        stored = study.user_attrs.get("fingerprint")
        _refuse_other_problem(stored, expected, name, settings)
        if stored is None:
            study.set_user_attr("fingerprint", expected)
            study.set_metric_names(metric_names(problem, settings.pareto))
        if not study.trials:
            for W in seeds:
                params = evaluator.encode(W)
                if params is not None:
                    study.enqueue_trial(params, skip_if_exists=True)
    started = time.perf_counter()
    pids, codes = {os.getpid()}, []
    if settings.workers == 1:
        run.run(evaluator, lambda complete: say(f"study {name}: {complete}/{settings.trials} "
                                                "trials"))
    else:
        pids, codes = _run_workers(problem, levels, settings, name, study, say)
    seconds = time.perf_counter() - started
    completed = _completed(study)
    feasible = [t for t in completed if t.user_attrs["result"]["violation"] <= 1e-9
                and all(math.isfinite(v) for v in t.values)]
    ours = [t for t in completed if _ran_by(t, pids)]
    duplicates = sum(1 for t in ours if t.user_attrs.get("duplicate"))
    return StudyOutcome(name, masked(settings.url), settings.trials, len(completed),
                        len(ours), seconds, duplicates, feasible, codes)


def _ran_by(trial, pids: set[int]) -> bool:
    """Whether one of these processes of this machine ran the trial."""
    worker = local_worker(trial)
    return worker is not None and worker["pid"] in pids


def _run_workers(problem: ControlProblem, levels: tuple[float, ...], settings: SearchSettings,
                 name: str, study, say: Progress) -> tuple[set[int], list[int]]:
    """Worker processes (spawned: no solver is shared) that each run trials until the study
    holds its target; their pids and exit codes. An interrupt stops them too (SIGTERM, then
    SIGKILL after WORKER_STOP_S): each fails and queues again its running trial."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(problem, levels, settings, name, k),
                                 name=f"persister-worker-{k}")
                 for k in range(settings.workers)]
    try:
        for process in processes:
            process.start()
        with interrupts.deferred():  # not inside the progress line's database read
            while any(process.is_alive() for process in processes):
                wait(0.5)
                say(f"study {name}: {len(_completed(study))}/{settings.trials} trials, "
                    f"{sum(p.is_alive() for p in processes)} workers")
    except KeyboardInterrupt:
        _stop(processes)
        raise
    for process in processes:
        process.join()
    return {p.pid for p in processes}, [p.exitcode for p in processes]


WORKER_STOP_S = 3.0


def _stop(processes: list) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + WORKER_STOP_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
