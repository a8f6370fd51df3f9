"""End-to-end profile of the main job, ``optimise --budget 10d``, each run from a fresh shell.

Each run is a new process (``optimise --budget 10d --json``), timed from outside, so start-up
(interpreter, imports) counts; the phases come from the run's own ``timings_s``. Start-up is
wall time minus the pipeline's total minus the time spent printing. Targets: <= 10 s cold from a
fresh shell with a relative gap to the relaxed bound <= 1 %.

Run from the repository root: ``python bench/bench_main.py [--runs 3]``. The last line of the
output is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time

WALL_TARGET_S = 10.0
GAP_TARGET = 0.01
PHASES = ("build_s", "relaxed_s", "search_s", "score_s", "check_s")


def one_run(command: list[str]) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh-shell runs (median taken)")
    arguments = parser.parse_args()
    command = [shutil.which("optimise") or "optimise", "--budget", "10d", "--json"]
    runs = [one_run(command) for _ in range(arguments.runs)]
    median = {key: statistics.median(r[key] for r in runs)
              for key in ("wall_s", *PHASES, "start_up_and_output_s", "gap_relative")}
    for k, r in enumerate(runs):
        print(f"run {k + 1}: wall {r['wall_s']:.2f} s, objective {r['objective']:.6f}, bound "
              f"{r['lower_bound']:.6f}, gap {100 * r['gap_relative']:.3f} %, check "
              f"{'passed' if r['check_passed'] else 'FAILED'}, days {r['days']}")
    print("median phases: " + ", ".join(f"{key[:-2]} {median[key]:.2f} s"
                                        for key in ("start_up_and_output_s", *PHASES)))
    same = all(r["days"] == runs[0]["days"] and r["objective"] == runs[0]["objective"]
               for r in runs)
    met = (median["wall_s"] <= WALL_TARGET_S and median["gap_relative"] <= GAP_TARGET
           and all(r["check_passed"] for r in runs))
    print(f"median wall {median['wall_s']:.2f} s (target <= {WALL_TARGET_S:g} s), gap "
          f"{100 * median['gap_relative']:.3f} % (target <= {100 * GAP_TARGET:g} %): "
          f"{'PASS' if met else 'MISS'}; identical schedule in every run: {same}")
    print(json.dumps({"runs": runs, "median": median, "identical": same}))


if __name__ == "__main__":
    main()
