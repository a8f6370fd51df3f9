"""How the methods compare on one problem: the relaxed bound, the pipeline, three Optuna
searches with the same number of trials, and a scipy-only SLSQP baseline, every result
re-simulated by the same independent integrator."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.framework import (
    Experiment,
    ExperimentOutput,
    ExperimentSettings,
    Step,
    free_profile,
)
from models.days import compact_days
from models.persister import IGF1R_INHIBITOR, persister_problem
from optimiser.baseline import run_baseline, simulated_objective
from optimiser.pipeline import optimise, solver_for
from optimiser.plots import new_figure
from optimiser.problem import ControlProblem
from optimiser.search import SearchSettings, run_study
from optimiser.simulate import RTOL


@dataclass(frozen=True)
class Size:
    budget_days: float
    trials: int  # per Optuna search: the same count for all three
    slsqp_maxiter: int  # SLSQP stops on iterations only (never on time): reproducible


FULL = Size(budget_days=10.0, trials=60, slsqp_maxiter=40)
REDUCED = Size(budget_days=3.0, trials=6, slsqp_maxiter=1)
SEARCHES = (("coupled", "Optuna coupled (CasADi in each trial)"),
            ("simulation", "Optuna TPE, simulation only"),
            ("random", "random search"))


@dataclass
class Found:
    """One method's answer: a dose profile of the free drug (all N intervals)."""

    profile: np.ndarray
    seconds: float
    evaluations: int
    evaluation_kind: str
    integer: bool


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    size = REDUCED if settings.reduced else FULL
    problem = persister_problem(budget_days=size.budget_days, parameters=settings.parameters)
    solver = solver_for(problem)
    relaxed = solver.solve(problem)
    methods: list[tuple[str, Callable[[], Found]]] = [
        ("relaxed bound (CasADi/IPOPT)", lambda: Found(
            relaxed.free[IGF1R_INHIBITOR], relaxed.seconds, relaxed.iterations,
            "IPOPT iterations", False)),
        ("pipeline (relaxation, rounding, local search)", lambda: _pipeline(problem, settings)),
        *((label, lambda mode=mode: _search(problem, mode, size.trials, settings.seed))
          for mode, label in SEARCHES),
        ("scipy SLSQP, finite differences (relaxed)", lambda: _slsqp(problem, size)),
    ]
    rows = []
    for k, (label, method) in enumerate(methods):
        found = method()
        objective = simulated_objective(problem, found.profile)
        rows.append({
            "method": label,
            "log10_residual_cells": objective,
            "gap_decades": objective - relaxed.lower_bound,
            "wall_time_s": found.seconds,
            "evaluations": found.evaluations,
            "evaluation_kind": found.evaluation_kind,
            "integer": "yes" if found.integer else "no",
            "igf1r_exposure_days": float(found.profile.sum() * problem.grid_step),
            "igf1r_days": (compact_days(problem.interval_starts[found.profile > 0])
                           if found.integer else "fractional doses"),
        })
        step(k + 1, len(methods), f"{label}: log10 {objective:.4f} in {found.seconds:.1f} s")
    data = pd.DataFrame(rows)
    return ExperimentOutput(
        data=data, figure=_figure(data), table=data.drop(columns=["evaluation_kind"]),
        findings=_findings(data, relaxed.lower_bound, solver.build_seconds, size),
        settings={"budget_days": size.budget_days, "trials_per_search": size.trials,
                  "slsqp_maxiter": size.slsqp_maxiter,
                  "objective": f"re-simulated by scipy Radau rtol {RTOL:g}",
                  "lower_bound_log10_cells": relaxed.lower_bound},
        formats={"log10_residual_cells": ".4f", "gap_decades": ".4f", "wall_time_s": ".2f",
                 "igf1r_exposure_days": ".3f"})


def _timed(function: Callable, *args, **kwargs) -> tuple:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def _pipeline(problem: ControlProblem, settings: ExperimentSettings) -> Found:
    result, seconds = _timed(optimise, problem, command=settings.command)
    return Found(free_profile(problem, result.schedule), seconds, result.evaluations,
                 "CVODES simulations", True)


def _search(problem: ControlProblem, mode: str, trials: int, seed: int) -> Found:
    """A fresh study in a temporary SQLite file, without seeds, so it starts from nothing."""
    with tempfile.TemporaryDirectory(prefix="persister-method-comparison-") as runs:
        search = SearchSettings(trials=trials, study=f"method-comparison-{mode}",
                                runs_dir=Path(runs), mode=mode, seed=seed)
        outcome, seconds = _timed(run_study, problem, search)
    best = outcome.best
    profile = (np.asarray(best.user_attrs["result"]["doses"]) if best is not None
               else np.full(problem.n_intervals, np.nan))
    return Found(profile, seconds, outcome.completed, "trials", True)


def _slsqp(problem: ControlProblem, size: Size) -> Found:
    """From the relaxed solve's default start (the budget spread evenly over the window)."""
    start = solver_for(problem).feasible_guess(problem)[0]
    baseline = run_baseline(problem, start, size.slsqp_maxiter)
    profile = np.zeros(problem.n_intervals)
    profile[problem.window_mask(IGF1R_INHIBITOR)] = baseline.u_window
    return Found(profile, baseline.seconds, baseline.simulations, "scipy simulations", False)


def _findings(data: pd.DataFrame, bound: float, build_seconds: float, size: Size) -> str:
    rows = data.set_index("method")
    integer = data[data["integer"] == "yes"]
    best = integer.loc[integer["log10_residual_cells"].idxmin()]

    def describe(label: str) -> str:
        row = rows.loc[label]
        return (f"{row['log10_residual_cells']:.4f} (gap {row['gap_decades']:.4f}) in "
                f"{row['wall_time_s']:.1f} s")

    relaxed, slsqp = data.iloc[0], data.iloc[-1]
    searches = "; ".join(f"{label} {describe(label)}" for _, label in SEARCHES)
    return (
        f"Budget {size.budget_days:g} days; the relaxed lower bound is {bound:.4f} decades "
        f"(NLP discretisation). Every objective is the scipy Radau re-simulation of the "
        f"method's schedule; the gap subtracts the bound from it, so the relaxed row's own gap "
        f"({relaxed['gap_decades']:.1e}) is the discretisation difference plus the bound's "
        f"exposure-penalty allowance. Best integer schedule: {best['method']}, "
        f"{best['log10_residual_cells']:.4f} ({best['igf1r_days']}). Pipeline: "
        f"{describe(data.iloc[1]['method'])}. The three Optuna searches get the same number of "
        f"trials ({size.trials} each, seed as given, no seeds enqueued, fresh study): "
        f"{searches}. The SLSQP baseline (finite-difference gradients, at most "
        f"{size.slsqp_maxiter} iterations, no time limit) reaches "
        f"{slsqp['log10_residual_cells']:.4f} after {slsqp['evaluations']} simulations in "
        f"{slsqp['wall_time_s']:.1f} s, against {relaxed['wall_time_s']:.2f} s for the CasADi "
        f"relaxed solve ({slsqp['wall_time_s'] / relaxed['wall_time_s']:.0f}x; the solver build, "
        f"{build_seconds:.1f} s, is paid once per problem structure and is in no row). "
        "Objectives are deterministic for a seed; wall times are not.")


def _figure(data: pd.DataFrame):
    figure = new_figure(11.0, 4.5)
    gap_axis, time_axis = figure.subplots(1, 2, sharey=True)
    positions = np.arange(len(data))[::-1]
    colours = ["C0" if flag == "yes" else "C7" for flag in data["integer"]]
    gap_axis.barh(positions, np.maximum(data["gap_decades"], 1e-5), color=colours)
    gap_axis.set_xscale("log")
    gap_axis.set_yticks(positions, data["method"], fontsize=8)
    gap_axis.set_xlabel("gap to the relaxed bound (decades; grey = fractional doses)")
    time_axis.barh(positions, data["wall_time_s"], color=colours)
    time_axis.set_xscale("log")
    time_axis.set_xlabel("wall time (s)")
    for axis, column, spec in ((gap_axis, "gap_decades", ".3g"), (time_axis, "wall_time_s", ".2f")):
        axis.grid(True, axis="x", alpha=0.3)
        for position, value in zip(positions, data[column], strict=True):
            axis.annotate(format(value, spec), (max(value, 1e-5), position), fontsize=7,
                          xytext=(3, 0), textcoords="offset points", va="center")
        axis.margins(x=0.15)
    figure.suptitle("methods on one problem: quality and cost")
    return figure


EXPERIMENT = Experiment("method_comparison", "Methods compared on the default problem", run)
