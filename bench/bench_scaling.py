"""How solve time grows with the grid: the default problem on 50 to 800 control intervals.

The horizon (100 d), the treatment (40 d) and the 10-day budget stay fixed while the grid step
goes from 2 d to 1/8 d, so the NLP grows from 50 to 800 intervals (one Radau IIA degree-5 step
each; the drug-free tail keeps the control grid here, ``tail_step=None``, so that N is the size
of the NLP and not only of its treated part). For each size: the build, a cold solve, and a
warm re-solve after the budget changes from 12 d to 10 d (the search's inner re-solve). The
exponent b of time ~ N^b is a least-squares fit in log-log coordinates; the target is about
linear (b <= 1.2) from 50 to 800 intervals.

Run from the repository root: ``python bench/bench_scaling.py`` (about 2 minutes). The last
line of the output is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import numpy as np

from models.persister import persister_problem
from optimiser.nlp import CollocationSolver

GRID_STEPS = (2.0, 1.0, 0.5, 0.25, 0.125)  # days: 50, 100, 200, 400 and 800 intervals
EXPONENT_TARGET = 1.2
REPEATS = 3


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Slope of log(seconds) against log(size), least squares."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def measure(grid_step: float) -> dict:
    problem = replace(persister_problem(grid_step=grid_step), tail_step=None)
    wider = replace(persister_problem(grid_step=grid_step, budget_days=12.0), tail_step=None)
    started = time.perf_counter()
    solver = CollocationSolver(problem)
    build = time.perf_counter() - started
    colds = [solver.solve(problem) for _ in range(REPEATS)]
    start = solver.solve(wider)
    solver.solve(problem, warm_start=start)  # builds the warm-start IPOPT instance
    warms = [solver.solve(problem, warm_start=start) for _ in range(REPEATS)]
    assert all(s.success for s in [*colds, *warms]), "a solve failed"
    cold, warm = (statistics.median(s.seconds for s in runs) for runs in (colds, warms))
    return {"intervals": problem.n_intervals, "grid_step_d": grid_step,
            "variables": int(sum(solver._sizes)), "build_s": build, "cold_s": cold,
            "cold_iterations": colds[0].iterations, "warm_s": warm,
            "warm_iterations": warms[0].iterations,
            "cold_ms_per_iteration": 1e3 * cold / colds[0].iterations,
            "lower_bound": colds[0].lower_bound}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    rows = []
    print(f"{'N':>5} {'grid d':>7} {'variables':>9} {'build s':>8} {'cold s':>7} {'its':>4} "
          f"{'warm s':>7} {'its':>4} {'ms/it':>6} {'lower bound':>12}")
    for grid_step in GRID_STEPS:
        r = measure(grid_step)
        rows.append(r)
        print(f"{r['intervals']:>5} {grid_step:>7g} {r['variables']:>9} {r['build_s']:>8.2f} "
              f"{r['cold_s']:>7.3f} {r['cold_iterations']:>4} {r['warm_s']:>7.3f} "
              f"{r['warm_iterations']:>4} {r['cold_ms_per_iteration']:>6.1f} "
              f"{r['lower_bound']:>12.6f}", flush=True)
    sizes = [r["intervals"] for r in rows]
    fits = {f"{key}_exponent": exponent(sizes, [r[key] for r in rows])
            for key in ("cold_s", "warm_s", "cold_ms_per_iteration", "build_s")}
    for key, value in fits.items():
        print(f"fitted exponent b of {key[:-9]} ~ N^b, N = {sizes[0]}-{sizes[-1]}: {value:.2f}")
    met = fits["cold_s_exponent"] <= EXPONENT_TARGET
    print(f"cold solve about linear (b <= {EXPONENT_TARGET}): {'PASS' if met else 'MISS'}")
    print(json.dumps({"rows": rows, **fits}))


if __name__ == "__main__":
    main()
