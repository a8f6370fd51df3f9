"""How the integer search (rounding + local search, no Optuna) grows with the grid.

The default problem (the built-in preset, budget 10 d) once, and Sager's Lotka-Volterra fishing
problem (``models.benchmarks``; w on/off, no budget) at 60 to 960 control intervals. For each:
the relaxed solve, then ``optimiser.pipeline.integer_search`` from it, timed alone; the
integer objective is the screened (CVODES) value of its schedule. The exponent b of
time ~ N^b is a least-squares fit in log-log coordinates over the Lotka-Volterra sizes. Targets
(issue 17): b <= 1.3 and at most 30 s at 480 intervals.

Run from the repository root: ``python bench/bench_integer.py [--sizes 60 120 240 480 960]``.
The last line of the output is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from models.benchmarks import NO_PARAMETERS, lotka_volterra_fishing
from models.registry import get_preset
from optimiser.build import problem_from_preset
from optimiser.nlp import CollocationSolver
from optimiser.objectives import Integral
from optimiser.pipeline import integer_search
from optimiser.problem import ControlProblem

SIZES = (60, 120, 240, 480, 960)
EXPONENT_TARGET, LV_480_TARGET_S = 1.3, 30.0


def measure(problem: ControlProblem) -> dict:
    solver = CollocationSolver(problem)
    relaxed = solver.solve_reliably(problem, "the relaxed solve")
    started = time.perf_counter()
    _, value, evaluations, _ = integer_search(problem, solver, relaxed, (1.0,))
    return {"search_s": time.perf_counter() - started, "integer": float(value),
            "relaxed": relaxed.lower_bound, "evaluations": evaluations}


def fishing(intervals: int) -> ControlProblem:
    horizon = 12.0
    return ControlProblem(lotka_volterra_fishing(), NO_PARAMETERS, Integral("deviation"),
                          free={"w": (0.0, horizon)}, horizon=horizon,
                          grid_step=horizon / intervals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--preset", default="persister", help="the default problem's preset")
    arguments = parser.parse_args()
    default = measure(problem_from_preset(get_preset(arguments.preset), budget_days=10.0))
    print(f"default problem ({arguments.preset}): search {default['search_s']:.2f} s, "
          f"{default['evaluations']} evaluations, integer {default['integer']:.6f}, "
          f"bound {default['relaxed']:.6f}", flush=True)
    rows = []
    for n in arguments.sizes:
        row = {"N": n, **measure(fishing(n))}
        rows.append(row)
        print(f"Lotka-Volterra N={n}: search {row['search_s']:.2f} s, {row['evaluations']} "
              f"evaluations, integer {row['integer']:.6f}, relaxed {row['relaxed']:.6f}",
              flush=True)
    exponent = None
    if len(rows) > 1:
        exponent = float(np.polyfit(np.log([r["N"] for r in rows]),
                                    np.log([r["search_s"] for r in rows]), 1)[0])
        print(f"fitted exponent b (time ~ N^b): {exponent:.2f} (target <= {EXPONENT_TARGET})")
    at_480 = [r["search_s"] for r in rows if r["N"] == 480]
    if at_480:
        print(f"Lotka-Volterra at 480 intervals: {at_480[0]:.1f} s (target <= "
              f"{LV_480_TARGET_S:g} s)")
    print(json.dumps({"default": default, "lotka_volterra": rows, "exponent": exponent}))


if __name__ == "__main__":
    main()
