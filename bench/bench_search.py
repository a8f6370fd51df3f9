"""Benchmark of the Optuna discrete search: worker throughput, and gap to the relaxed bound
against wall time for the coupled search and two simulation-only baselines, in one run.

Absolute seconds depend on the machine, so every figure is a ratio against runs made in the same
process on the same problem (the default: 10-day IGF-1R budget, on/off doses):

* throughput: the coupled search with 1 worker (in this process) and with 4 worker processes,
  each in a fresh study; end to end (``run_now / seconds``, which for 4 workers includes
  spawning them and each building its own CasADi solver) and steady state (trials over the
  span from the first trial's start to the last one's completion);
* quality: the coupled search runs a fixed number of trials without seeds (seed 0) and takes
  wall time T; the simulation-only TPE search and plain random search then get the same T (run in
  chunks on one study until T has passed; only trials completed within T count). Gaps are the
  best feasible objective minus the relaxed lower bound, both in the NLP's discretisation, and
  are read at 25, 50 and 100 % of T from the trials' completion times.
* optionally, the coupled search as the pipeline runs it (``optimise`` with the seeds it
  enqueues: its shift-search schedule and the rounded relaxed optimum), with the same trials.

Targets checked (PASS/MISS, never a failing exit code; this is a report):

* 4 workers give >= 3x the trial throughput of 1;
* the coupled search reaches a gap <= 1 % within T, the simulation and random searches do not.

Run from the repository root: ``python bench/bench_search.py [--quick]``. The last line of the
output is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import optuna

from models.persister import persister_problem
from optimiser.pipeline import optimise, solver_for
from optimiser.search import SearchSettings, StudyOutcome, run_study

BUDGET_DAYS = 10.0
THROUGHPUT_TARGET = 3.0
GAP_TARGET = 0.01  # relative gap, 1 %
FRACTIONS = (0.25, 0.5, 1.0)
SEED = 0
CHUNK_SECONDS = 3.0  # a baseline chunk aims at this much wall time, so T is overshot little


@dataclass
class Run:
    """One search run: its feasible trials (completion times from its own start), trial count
    and the seconds its rate is taken over."""

    label: str
    mode: str
    workers: int
    seconds: float  # run_study's own seconds, or T for the runs given a wall budget
    trials: int  # completed (within T for the runs given a wall budget)
    duplicates: int
    feasible: list  # (seconds from start to completion, objective) of feasible trials
    wall: float = math.nan  # wall time from before the first run_study call to after the last
    first_start: float = math.nan  # seconds from the call to the first trial's start
    trial_seconds: float = math.nan  # mean time of a trial from its start to its completion
    overlap: float = math.nan  # trials running at once on average (sum of times / span)
    steady_rate: float = math.nan
    note: str = ""

    @property
    def rate(self) -> float:
        return self.trials / self.seconds

    def best_by(self, seconds: float = math.inf) -> float:
        values = [value for done, value in self.feasible if done <= seconds + 1e-9]
        return min(values, default=math.inf)


def completions(outcome: StudyOutcome, started: datetime) -> list[tuple[float, float]]:
    return [((t.datetime_complete - started).total_seconds(), t.values[0])
            for t in outcome.feasible]


def steady(outcome: StudyOutcome) -> tuple[float, float, float]:
    """Trials per second from the first trial's start to the last one's completion (the rate
    once the workers are running, without start-up), the mean time of one trial, and how many
    ran at once on average."""
    spans = [(t.datetime_start, t.datetime_complete) for t in outcome.feasible]
    if len(spans) < 2:
        return math.nan, math.nan, math.nan
    span = (max(done for _, done in spans) - min(start for start, _ in spans)).total_seconds()
    durations = [(done - start).total_seconds() for start, done in spans]
    return len(spans) / span, sum(durations) / len(spans), sum(durations) / span


def settings(runs_dir: Path, study: str, trials: int, mode: str, workers: int = 1,
             seed: int = SEED) -> SearchSettings:
    return SearchSettings(trials=trials, study=study, storage=None, runs_dir=runs_dir,
                          workers=workers, mode=mode, seed=seed)


def fixed_trials(problem, runs_dir: Path, label: str, trials: int, workers: int) -> Run:
    """A coupled study of ``trials`` trials in a fresh study."""
    started, clock = datetime.now(), time.perf_counter()
    outcome = run_study(problem, settings(runs_dir, label, trials, "coupled", workers))
    wall = time.perf_counter() - clock
    run = Run(label, "coupled", workers, outcome.seconds, outcome.run_now, outcome.duplicates,
              completions(outcome, started), wall=wall,
              first_start=min((t.datetime_start - started).total_seconds()
                              for t in outcome.feasible))
    # every coupled trial is feasible here (the rounding MILP keeps the rules)
    if len(outcome.feasible) == outcome.run_now:
        run.steady_rate, run.trial_seconds, run.overlap = steady(outcome)
    return run


def timed_study(problem, runs_dir: Path, label: str, mode: str, budget: float) -> Run:
    """A study in ``mode`` given ``budget`` seconds of wall time: chunks of trials on one study
    until the budget has passed; trials completed after it are not counted."""
    started, clock = datetime.now(), time.perf_counter()
    outcome, chunks = None, 0
    while (elapsed := time.perf_counter() - clock) < budget:
        held = outcome.completed if outcome else 0
        chunk = max(5, int(min(budget - elapsed, CHUNK_SECONDS) * held / elapsed)) if held else 5
        # each call builds a new sampler: a new seed per chunk, or random search would replay
        # the same trials in every chunk
        outcome = run_study(problem, settings(runs_dir, label, held + chunk, mode,
                                              seed=SEED + chunks))
        chunks += 1
    wall = time.perf_counter() - clock
    study = optuna.load_study(study_name=label, storage=settings(runs_dir, label, 1, mode).url)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    done = [t for t in complete if (t.datetime_complete - started).total_seconds() <= budget]
    within = [t for t in outcome.feasible
              if (t.datetime_complete - started).total_seconds() <= budget]
    duplicates = sum(1 for t in done if t.user_attrs.get("duplicate"))
    return Run(label, mode, 1, budget, len(done), duplicates,
               [((t.datetime_complete - started).total_seconds(), t.values[0]) for t in within],
               wall=wall, note=f"{len(complete)} trials in {chunks} chunks, {wall:.1f} s in all, "
                               f"{len(done)} of them within T")


def seeded_study(problem, runs_dir: Path, trials: int) -> tuple[Run, float]:
    """The pipeline's own search: ``optimise`` with the study, which enqueues its seeds. The
    clock starts when the pipeline announces the study; the time before it is returned."""
    marks: dict[str, datetime] = {}

    def progress(message: str) -> None:
        if message.startswith("running the discrete search") and "study" not in marks:
            marks["study"] = datetime.now()

    clock = datetime.now()
    result = optimise(problem, progress=progress,
                      search=settings(runs_dir, "seeded-coupled", trials, "coupled"))
    outcome = result.study
    started = marks["study"]
    run = Run("coupled, pipeline seeds", "coupled", 1, outcome.seconds, outcome.run_now,
              outcome.duplicates, completions(outcome, started))
    return run, (started - clock).total_seconds()


def finite(value):
    """``value`` with every non-finite float replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def percent(gap: float) -> str:
    return f"{100 * gap:7.3f}" if math.isfinite(gap) else "      -"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer trials everywhere (a smoke run; gaps are not meaningful)")
    parser.add_argument("--no-seeded", action="store_true",
                        help="skip the coupled search with the pipeline's seeds")
    args = parser.parse_args()
    one_trials, four_trials, quality_trials = (8, 16, 20) if args.quick else (24, 48, 60)
    run_started = time.perf_counter()
    load_start = os.getloadavg()[0]

    problem = persister_problem(BUDGET_DAYS)
    solver = solver_for(problem)  # built once in this process, used by every in-process run
    bound = solver.solve(problem).lower_bound
    print(f"problem: budget {BUDGET_DAYS:g} d, N = {problem.n_intervals}, on/off doses; relaxed "
          f"lower bound {bound:.6f} decades; os.cpu_count() = {os.cpu_count()}; load average "
          f"{load_start:.2f} (other processes slow every figure)")

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        runs_dir = Path(tmp)
        # 1. throughput
        one = fixed_trials(problem, runs_dir, "throughput-1", one_trials, 1)
        four = fixed_trials(problem, runs_dir, "throughput-4", four_trials, 4)
        runs += [one, four]
        # 2. quality against wall time: the coupled search sets T
        coupled = fixed_trials(problem, runs_dir, "quality-coupled", quality_trials, 1)
        budget = coupled.wall
        simulation = timed_study(problem, runs_dir, "quality-simulation", "simulation", budget)
        random = timed_study(problem, runs_dir, "quality-random", "random", budget)
        runs += [coupled, simulation, random]
        seeded, before_study = None, math.nan
        if not args.no_seeded:
            seeded, before_study = seeded_study(problem, runs_dir, quality_trials)
            runs.append(seeded)

    def gap(value: float) -> float:
        return (value - bound) / bound

    print(f"\nrelative gap = (best feasible objective - lower bound) / lower bound; T = "
          f"{budget:.1f} s (the unseeded coupled run's wall time)")
    header = (f"{'run':<26} {'mode':<10} {'wk':>2} {'trials':>6} {'dup':>4} {'wall s':>7} "
              f"{'trial/s':>7} {'steady':>7} {'best':>9} {'gap dec':>8} "
              f"{'gap%@T/4':>8} {'gap%@T/2':>8} {'gap%@T':>8}")
    print(header)
    print("-" * len(header))
    for run in runs:
        at = [percent(gap(run.best_by(f * budget))) for f in FRACTIONS]
        if run in (one, four):
            at = ["       -"] * 3  # not run against T
        best = run.best_by()
        steady = f"{run.steady_rate:7.2f}" if math.isfinite(run.steady_rate) else "      -"
        print(f"{run.label:<26} {run.mode:<10} {run.workers:>2} {run.trials:>6} "
              f"{run.duplicates:>4} {run.seconds:7.1f} {run.rate:7.2f} {steady} "
              f"{best:9.5f} {best - bound:8.5f} {at[0]:>8} {at[1]:>8} {at[2]:>8}")
    for run in (one, four):
        print(f"  {run.label}: first trial started {run.first_start:.1f} s after the call"
              f"{' (spawn, imports, a solver build per worker)' if run.workers > 1 else ''}; "
              f"a trial takes {run.trial_seconds:.2f} s from start to completion, "
              f"{run.overlap:.2f} run at once on average")
    for run in (simulation, random):
        print(f"  {run.label}: {run.note}")
    if seeded is not None:
        print(f"  {seeded.label}: {before_study:.1f} s of relaxed solve, rounding and shift "
              "search before the study (not in its wall time)")

    ratio = four.rate / one.rate
    steady_ratio = four.steady_rate / one.steady_rate
    coupled_gap = gap(coupled.best_by())
    others = {run.mode: gap(run.best_by()) for run in (simulation, random)}
    throughput_ok = ratio >= THROUGHPUT_TARGET
    quality_ok = coupled_gap <= GAP_TARGET and all(g > GAP_TARGET for g in others.values())
    print("\ntargets")
    print(f"  4 workers >= {THROUGHPUT_TARGET:g}x the throughput of 1: {verdict(throughput_ok)} "
          f"({ratio:.2f}x end to end, {steady_ratio:.2f}x steady state, on "
          f"{os.cpu_count()} cores: at most 2 trials run at once, each IPOPT solve is "
          "single-threaded, the workers share one SQLite file and each builds its own solver)")
    print(f"  coupled gap <= {100 * GAP_TARGET:g} % within T, simulation and random not: "
          f"{verdict(quality_ok)} (coupled {100 * coupled_gap:.3f} %, simulation "
          f"{100 * others['simulation']:.3f} %, random {100 * others['random']:.3f} %, "
          f"T = {budget:.1f} s)")
    if args.quick:
        print("  note: --quick runs few trials; the figures are a smoke test, not a result")
    total = time.perf_counter() - run_started
    print(f"\ntotal run time {total:.1f} s; load average {os.getloadavg()[0]:.2f}")

    report = {
        "quick": args.quick,
        "cpu_count": os.cpu_count(),
        "load_average_start": load_start,
        "lower_bound": bound,
        "T_seconds": budget,
        "runs": [{"label": run.label, "mode": run.mode, "workers": run.workers,
                  "trials": run.trials, "duplicates": run.duplicates, "seconds": run.seconds,
                  "trials_per_second": run.rate, "steady_trials_per_second": run.steady_rate,
                  "wall_seconds": run.wall, "first_trial_start_seconds": run.first_start,
                  "mean_trial_seconds": run.trial_seconds, "trials_at_once": run.overlap,
                  "best_objective": run.best_by(),
                  "gap_decades": run.best_by() - bound, "relative_gap": gap(run.best_by()),
                  "relative_gap_at": {str(f): gap(run.best_by(f * budget)) for f in FRACTIONS}}
                 for run in runs],
        "throughput_ratio": ratio,
        "steady_throughput_ratio": steady_ratio,
        "seeded_seconds_before_study": before_study,
        "target_throughput": verdict(throughput_ok),
        "target_gap": verdict(quality_ok),
        "total_seconds": total,
    }
    print(json.dumps(finite(report)))


if __name__ == "__main__":
    main()
