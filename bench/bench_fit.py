"""Benchmark of a pooled fit (4 arms x 10 subjects) against the scipy least-squares baseline.

Synthetic data of model v1 with the volume observation model (``persister_v1`` preset): arms
control, osimertinib days 0-28, days 0-14 and days 0-7; 10 subjects each, measured twice a week
(every 3-4 days) to day 28 with 15 % log-normal error; r_S, k_S and alpha fitted with each
subject's V0 and sigma. Each part is timed: the NLP's build, the fit from ``--starts`` start
points, the 95 % profile intervals and the scipy re-simulation check; then the baseline
(``optimiser.calibration.baseline``: scipy least squares on scipy simulations, from the same
first start) in the same process. The target (issue 16): build + fit within 30 s on the 2-core
machine. Reported, never a failing exit code.

Run from the repository root: ``python bench/bench_fit.py [--starts N] [--no-baseline]``; the
last line is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from models.registry import get_preset
from models.schedule import Schedule
from models.tumour_volume import volume_model
from optimiser.calibration.baseline import least_squares_fit
from optimiser.calibration.estimator import LikelihoodNLP, best_of_starts, start_points
from optimiser.calibration.fit import _resimulate, fit_parameter_set
from optimiser.calibration.profile import profile_interval
from optimiser.calibration.synthetic import synthetic_observations

TARGET_SECONDS = 30.0
FREE = ("r_S", "k_S", "alpha")
DAYS = np.array([0, 3, 7, 10, 14, 17, 21, 24, 28], dtype=float)
HORIZON = 28
ARMS = {"control": 0, "osimertinib_28d": 28, "osimertinib_14d": 14, "osimertinib_7d": 7}


def problem():
    preset = get_preset("persister_v1")
    model = volume_model(preset.model)
    parameters = fit_parameter_set(preset.parameters)
    base = parameters.vector(model.parameters)
    schedules = {arm: Schedule.from_fractions(model, {
        drug: (np.arange(HORIZON) < days).astype(float) * (drug == "osimertinib")
        for drug in model.control_names}, 1.0, float(HORIZON)) for arm, days in ARMS.items()}
    observations = synthetic_observations(model, base, schedules, DAYS, 10, 0.15, seed=16)
    bounds = np.array([[parameters.values[n].lower, parameters.values[n].upper] for n in FREE])
    return model, base, bounds, observations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true")
    arguments = parser.parse_args()
    model, base, bounds, observations = problem()
    rows = [model.parameter_names.index(n) for n in FREE]
    figures = {"subjects": len(observations.subjects),
               "measurements": observations.n_measurements}

    started = time.perf_counter()
    nlp = LikelihoodNLP(model, base, FREE, bounds, observations.subjects,
                        dict(observations.schedules), detection_limit=1e-3)
    figures["build_s"] = time.perf_counter() - started
    figures["variables"] = int(nlp.n_head + nlp.nx * (nlp.offsets[-1] + nlp.n_points
                                                       * sum(nlp.K)))
    started = time.perf_counter()
    starts = start_points(bounds, base[rows], arguments.starts, seed=0)
    estimate, record = best_of_starts(nlp, starts)
    figures["fit_s"] = time.perf_counter() - started
    figures["iterations"] = [r["iterations"] for r in record]
    started = time.perf_counter()
    intervals = [profile_interval(nlp, estimate, k) for k in range(len(FREE))]
    figures["profile_s"] = time.perf_counter() - started
    figures["profile_solves"] = sum(i.lower.solves + i.upper.solves for i in intervals)
    started = time.perf_counter()
    figures["check_difference"], _ = _resimulate(nlp, estimate, nlp.log_predictions(estimate))
    figures["check_s"] = time.perf_counter() - started
    figures["build_and_fit_s"] = figures["build_s"] + figures["fit_s"]
    figures["estimates"] = dict(zip(FREE, np.exp(estimate.theta).tolist(), strict=True))
    figures["intervals"] = {i.name: [i.lower.value, i.upper.value] for i in intervals}
    figures["truth"] = dict(zip(FREE, base[rows].tolist(), strict=True))
    print(f"{figures['subjects']} subjects, {figures['measurements']} measurements, "
          f"{figures['variables']} NLP variables")
    print(f"build {figures['build_s']:.1f} s, fit {figures['fit_s']:.1f} s "
          f"({figures['iterations']} iterations), profiles {figures['profile_s']:.1f} s "
          f"({figures['profile_solves']} solves), check {figures['check_s']:.1f} s "
          f"(max ln difference {figures['check_difference']:.1e})")
    verdict = "PASS" if figures["build_and_fit_s"] <= TARGET_SECONDS else "MISS"
    print(f"{verdict}: build + fit {figures['build_and_fit_s']:.1f} s (target <= "
          f"{TARGET_SECONDS:.0f} s)")
    for interval in intervals:
        print(f"  {interval.name}: {interval.estimate:.4g} ({interval.lower.value} - "
              f"{interval.upper.value}), truth {figures['truth'][interval.name]:.4g}")
    if not arguments.no_baseline:
        started = time.perf_counter()
        baseline = least_squares_fit(nlp, starts[0])
        figures["baseline_s"] = time.perf_counter() - started
        figures["baseline_evaluations"] = baseline.evaluations
        figures["baseline_estimates"] = dict(zip(FREE, np.exp(baseline.theta).tolist(),
                                                 strict=True))
        figures["baseline_nll"], figures["nll"] = baseline.nll, estimate.nll
        figures["speedup_fit"] = figures["baseline_s"] / figures["fit_s"]
        figures["speedup_build_and_fit"] = figures["baseline_s"] / figures["build_and_fit_s"]
        print(f"baseline (scipy least squares) {figures['baseline_s']:.1f} s, "
              f"{baseline.evaluations} evaluations: {figures['speedup_fit']:.1f}x the fit, "
              f"{figures['speedup_build_and_fit']:.1f}x build + fit; -lnL {baseline.nll:.4f} "
              f"against {estimate.nll:.4f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
