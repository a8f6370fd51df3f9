"""What the Cure() objective costs against Terminal (log10 residual cells), in one run.

The Cure objective adds three extinction states per node and collocation point to the NLP, a
backward Newton sweep to every screened candidate and scipy backward sweeps to the check. This
measures, on the default 10-day problem and alternating the two objectives in the same
process: the NLP build, the cold relaxed solve, the warm re-solve after a budget change (its
solver compiled beforehand), one
batch of 64 screened candidates, the check of the reported schedule and the whole pipeline.
Ratios are Cure / Terminal. Absolute seconds depend on the machine; the ratios much less.

Run from the repository root: ``python bench/bench_cure.py [--repeats N]``. The last line of the
output is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from models.persister import persister_problem
from optimiser.cache import SOLVERS
from optimiser.check import check_schedule
from optimiser.nlp import CollocationSolver
from optimiser.objectives import Cure, Terminal
from optimiser.pipeline import optimise

OBJECTIVES = {"terminal": Terminal("log10_total_cells"), "cure": Cure()}
CANDIDATES = 64


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def measure(objective) -> dict[str, float]:
    """One round of every measurement for one objective (a fresh solver, no cache)."""
    problem = persister_problem(budget_days=10, objective=objective)
    solver, build = timed(CollocationSolver, problem)
    relaxed, cold = timed(solver.solve_reliably, problem, "bench")
    other = problem.with_limits(**{"days-on budget": 9.0})
    solver.solve_reliably(other, "bench", warm_start=relaxed)  # compiles the warm solver
    _, warm = timed(solver.solve_reliably, problem.with_limits(**{"days-on budget": 11.0}),
                    "bench", warm_start=relaxed)
    rng = np.random.default_rng(0)
    allowed = problem.window_mask("igf1r_inhibitor")
    frees = []
    for _ in range(CANDIDATES):
        free = np.zeros((1, problem.n_intervals))
        free[0, rng.choice(np.flatnonzero(allowed), 10, replace=False)] = 1.0
        frees.append(free)
    _, screening = timed(solver.objectives_of, problem, frees)
    SOLVERS.clear()
    result, pipeline = timed(optimise, problem)
    _, check = timed(check_schedule, problem, result.schedule, result.objective)
    return {"build_s": build, "relaxed_cold_s": cold, "relaxed_warm_s": warm,
            f"screen_{CANDIDATES}_s": screening, "check_s": check, "pipeline_s": pipeline,
            "objective": result.objective, "gap": result.gap,
            "check_passed": float(result.check.passed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rounds: dict[str, list[dict]] = {name: [] for name in OBJECTIVES}
    for _ in range(args.repeats):  # alternate, so drift on the machine hits both alike
        for name, objective in OBJECTIVES.items():
            SOLVERS.clear()
            rounds[name].append(measure(objective))
    medians = {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
               for name, runs in rounds.items()}
    print(f"median of {args.repeats} alternating rounds (seconds)")
    print(f"  {'':<18} {'terminal':>10} {'cure':>10} {'ratio':>8}")
    for key in medians["terminal"]:
        if not key.endswith("_s"):
            continue
        terminal, cure = medians["terminal"][key], medians["cure"][key]
        print(f"  {key:<18} {terminal:>10.3f} {cure:>10.3f} {cure / terminal:>8.2f}")
    for name in OBJECTIVES:
        print(f"  {name}: objective {medians[name]['objective']:.4f}, gap "
              f"{medians[name]['gap']:.4f}, check passed {bool(medians[name]['check_passed'])}")
    print(json.dumps({"repeats": args.repeats, "medians": medians}))


if __name__ == "__main__":
    main()
