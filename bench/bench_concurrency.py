"""Benchmark of commands sharing one study: does a second command make the study finish sooner,
and what does the coordination (the study lock, claims, recovery checks) cost?

In one run, on the same problem (``--preset persister_v1 --budget 10d``, coupled search) and a
fresh SQLite file each time (or ``--storage URL`` for PostgreSQL, one new study name each):

* baseline: one ``optimise`` command with ``--trials N``;
* shared: two such commands started together on one study, which must end with exactly N
  complete trials between them, no structure evaluated twice and none left running.

Reported: wall seconds of each (from the first start to the last exit), the ratio shared /
baseline, the trials each shared command ran, the reused (duplicate) trials, structures
evaluated twice (must be 0), and the median trial time from start to completion, which in the
shared run includes waiting for the study lock and the other command's solves on the same two
cores. Run from the repository root: ``python bench/bench_concurrency.py [--trials 24]
[--storage URL]``; the last line is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna


def _command(trials: int, study: str, storage: str) -> list[str]:
    return [sys.executable, "-m", "optimiser", "--preset", "persister_v1", "--budget", "10d",
            "--trials", str(trials), "--study", study, "--storage", storage, "--json"]


def _run(commands: int, trials: int, storage: str) -> dict:
    study = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    processes = [subprocess.Popen(_command(trials, study, storage), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(commands)]
    outputs = [process.communicate() for process in processes]
    wall = time.perf_counter() - started
    for process, (_out, err) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise SystemExit(f"a command failed ({process.returncode}): {err[-500:]}")
    loaded = optuna.load_study(study_name=study, storage=storage)
    trials_ = loaded.get_trials()
    states = Counter(t.state.name for t in trials_)
    complete = [t for t in trials_ if t.state.name == "COMPLETE"]
    evaluated = [t.user_attrs["result"]["structure"] for t in complete
                 if not t.user_attrs.get("duplicate")]
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in complete]
    summaries = [json.loads(out)["study"] for out, _err in outputs]
    if not storage.startswith("sqlite"):
        optuna.delete_study(study_name=study, storage=storage)
    return {"commands": commands, "wall_s": round(wall, 2), "states": dict(states),
            "exact": states["COMPLETE"] == trials and not states["RUNNING"],
            "evaluated_twice": len(evaluated) - len(set(evaluated)),
            "duplicates": sum(bool(t.user_attrs.get("duplicate")) for t in complete),
            "trials_per_command": [s["trials_this_run"] for s in summaries],
            "median_trial_s": round(statistics.median(durations), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--storage", help="a storage URL; default: a new SQLite file")
    arguments = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as directory:
        def storage(name: str) -> str:
            return arguments.storage or f"sqlite:///{Path(directory) / name}.db"

        baseline = _run(1, arguments.trials, storage("baseline"))
        shared = _run(2, arguments.trials, storage("shared"))
    ratio = shared["wall_s"] / baseline["wall_s"]
    print(f"baseline: 1 command, {arguments.trials} trials: {baseline['wall_s']} s, "
          f"median trial {baseline['median_trial_s']} s, exact {baseline['exact']}")
    print(f"shared:   2 commands, {arguments.trials} trials: {shared['wall_s']} s "
          f"({ratio:.2f}x the baseline's time), per command {shared['trials_per_command']}, "
          f"median trial {shared['median_trial_s']} s, reused {shared['duplicates']}, "
          f"evaluated twice {shared['evaluated_twice']}, exact {shared['exact']}")
    print(json.dumps({"baseline": baseline, "shared": shared, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
