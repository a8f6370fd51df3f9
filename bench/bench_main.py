"""End-to-end profile of the main job, ``optimise --budget 10d``, each run from a fresh shell.

Each run is a new process (``optimise --budget 10d --json``), timed from outside, so start-up
(interpreter, imports) counts; the phases come from the run's own ``timings_s``. Start-up is
wall time minus the pipeline's total minus the time spent printing. Targets: <= 2 s cold from a
fresh shell (issue 17), and at least 5x faster than commit a390ada in the same alternating
run (``--baseline`` a worktree of it; that commit's built-in model is v1, so compare it with
``--preset persister_v1``).

Run from the repository root: ``python bench/bench_main.py [--runs 3] [--preset NAME]
[--baseline CHECKOUT]``. The last line of the
output is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

WALL_TARGET_S = 2.0
SPEED_UP_TARGET = 5.0
PHASES = ("build_s", "relaxed_s", "search_s", "score_s", "check_s")


def one_run(command: list[str], environment: dict | None = None,
            directory: str | None = None) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False,
                               env=environment, cwd=directory)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"the main job failed (exit {completed.returncode}): "
                         f"{completed.stderr.strip()}")
    report = json.loads(completed.stdout)
    timings = report["timings_s"]
    return {"wall_s": wall, **{phase: timings[phase] for phase in PHASES},
            "start_up_and_output_s": wall - timings["total_s"],
            "objective": report["objective"]["log10_residual_cells"],
            "lower_bound": report["lower_bound"]["log10_residual_cells"],
            "gap_relative": report["gap_relative"], "days": report["igf1r_days"],
            "check_passed": report["check"]["passed"]}


def checkout_command(checkout: str, options: list[str]) -> tuple[list[str], dict, str]:
    """The main job of another checkout (e.g. an older commit), run from its own sources."""
    environment = dict(os.environ, PYTHONPATH=checkout)
    return ([sys.executable, "-c", "from optimiser.cli import run; run()", "--budget", "10d",
             "--json", *options], environment, checkout)


def summary(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs)
            for key in ("wall_s", *PHASES, "start_up_and_output_s", "gap_relative")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh-shell runs (median taken)")
    parser.add_argument("--preset", help="preset of this checkout's run (default: built-in)")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="another checkout whose main job (its built-in defaults) runs "
                             "alternately with this one, e.g. a worktree of commit a390ada")
    arguments = parser.parse_args()
    options = ["--preset", arguments.preset] if arguments.preset else []
    command = ([shutil.which("optimise") or "optimise", "--budget", "10d", "--json", *options],
               None)
    runs, baseline = [], []
    for _ in range(arguments.runs):
        runs.append(one_run(*command))
        if arguments.baseline:
            baseline.append(one_run(*checkout_command(arguments.baseline, [])))
    median = summary(runs)
    for name, group in (("this checkout", runs), ("baseline", baseline)):
        for k, r in enumerate(group):
            print(f"{name} run {k + 1}: wall {r['wall_s']:.2f} s, objective "
                  f"{r['objective']:.6f}, bound {r['lower_bound']:.6f}, gap "
                  f"{100 * r['gap_relative']:.3f} %, check "
                  f"{'passed' if r['check_passed'] else 'FAILED'}, days {r['days']}")
    print("median phases: " + ", ".join(f"{key[:-2]} {median[key]:.2f} s"
                                        for key in ("start_up_and_output_s", *PHASES)))
    same = all(r["days"] == runs[0]["days"] and r["objective"] == runs[0]["objective"]
               for r in runs)
    met = (median["wall_s"] <= WALL_TARGET_S and all(r["check_passed"] for r in runs))
    print(f"median wall {median['wall_s']:.2f} s (target <= {WALL_TARGET_S:g} s), gap "
          f"{100 * median['gap_relative']:.3f} %: {'PASS' if met else 'MISS'}; identical "
          f"schedule in every run: {same}")
    figures = {"runs": runs, "median": median, "identical": same}
    if baseline:
        base = summary(baseline)
        figures.update(baseline_runs=baseline, baseline_median=base,
                       speed_up=base["wall_s"] / median["wall_s"])
        print(f"baseline median wall {base['wall_s']:.2f} s; speed-up "
              f"{figures['speed_up']:.2f}x (target >= {SPEED_UP_TARGET:g}x)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
