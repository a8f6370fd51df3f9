"""Which parameters decide the outcome: Sobol indices (SALib, Saltelli's scheme, first and total
order) over the spread parameters of the built-in ensemble, for two outputs:

(a) the cure chance of one fixed schedule, the nominal optimum of the robustness experiment
    (osimertinib days 0-39, IGF-1R inhibitor on days 0-4,8,22,28,33,38), as log10 of the expected
    surviving lineages (P(cure) = exp(-10**value)), because P(cure) itself saturates near 1;
(b) the best start day s of a single 10-day inhibitor block (days s..s+9, s = 0..30): the argmin
    of (a)'s output over the 31 blocks, a discrete output.

The ensemble's log-normal spreads are not used as they are: for Sobol each spread parameter is
drawn uniformly on log10 between the lower and upper its parameter set documents (linearly where
the lower is 0), so the indices say what matters across each parameter's whole plausible range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from importlib.metadata import version

import numpy as np
import pandas as pd

from experiments.framework import (
    Experiment,
    ExperimentOutput,
    ExperimentSettings,
    Step,
    block_profile,
)
from models.days import compact_days
from models.parameters import ParameterSet
from models.persister import default_ensemble, persister_problem
from optimiser.objectives import Cure
from optimiser.pipeline import solver_for
from optimiser.plots import new_figure, require

BUDGET_DAYS = 10
NOMINAL_DAYS = (0, 1, 2, 3, 4, 8, 22, 28, 33, 38)
BLOCK_STARTS = tuple(range(31))
FULL = {"base_samples": 64, "parameters": None}  # None: every spread parameter
# A few parameters that move both outputs, so the reduced run's indices are not all zero.
REDUCED = {"base_samples": 4, "parameters": ("k_P", "rho_osi", "alpha")}
RESAMPLES = 100
CONFIDENCE = 0.95
# output column prefix -> what it is (figure titles, findings)
OUTPUTS = {"cure": "(a) log10 expected surviving lineages, fixed schedule",
           "start": "(b) best start day of a 10-day inhibitor block"}
INDICES = ("S1", "S1_conf", "ST", "ST_conf")
SCREENING = ("CasADi CVODES with the backward extinction equations, daily grid "
             "(the integer search's screening)")


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    sizes = REDUCED if settings.reduced else FULL
    ensemble = default_ensemble()
    names = sorted(sizes["parameters"] or ensemble.spreads)
    ranges = sampling_ranges(settings.parameters, names)
    problem = persister_problem(budget_days=BUDGET_DAYS, objective=Cure(),
                                parameters=settings.parameters)
    solver = solver_for(problem)
    nominal = block_profile(problem, 0, 0)
    nominal[list(NOMINAL_DAYS)] = 1.0
    profiles = [w[None, :] for w in
                [nominal, *(block_profile(problem, s, BUDGET_DAYS) for s in BLOCK_STARTS)]]

    def outputs(values: np.ndarray) -> np.ndarray:
        """Both outputs for each row of parameter values (in sampling space)."""
        rows = []
        for k, row in enumerate(values):
            draw = settings.parameters.with_values(**to_parameters(row, ranges))
            costs = solver.objectives_of(replace(problem, parameters=draw), profiles)
            rows.append((costs[0], BLOCK_STARTS[int(np.argmin(costs[1:]))]))
            if (k + 1) % 32 == 0 or k + 1 == len(values):
                step(k + 1, len(values), f"{k + 1} of {len(values)} parameter sets")
        return np.array(rows, dtype=float)

    bounds = {name: (low, high) for name, (_, low, high) in ranges.items()}
    indices, samples = sobol_indices(bounds, outputs, list(OUTPUTS), sizes["base_samples"],
                                     settings.seed)
    at_nominal = solver.objectives_of(problem, profiles)
    nominal_start = BLOCK_STARTS[int(np.argmin(at_nominal[1:]))]
    data = pd.DataFrame({"parameter": names,
                         "sampling": [ranges[n][0] for n in names],
                         "lower": [settings.parameters.values[n].lower or 0.0 for n in names],
                         "upper": [settings.parameters.values[n].upper for n in names]})
    data = pd.concat([data, indices.reset_index(drop=True)], axis=1)
    data = data.sort_values("cure_ST", ascending=False, ignore_index=True)
    return ExperimentOutput(
        data=data, table=_table(data), figure=_figure(data),
        findings=_findings(data, samples, at_nominal[0], nominal_start, sizes["base_samples"]),
        settings={"ensemble": ensemble.name, "parameters_varied": len(names),
                  "base_samples": sizes["base_samples"], "model_evaluations": len(samples),
                  "sampler": "SALib sobol.sample (Saltelli), scrambled Sobol sequence, no "
                             "second order", "sampler_seed": settings.seed,
                  "bootstrap_resamples": RESAMPLES, "confidence_level": CONFIDENCE,
                  "salib": version("SALib"), "budget_days": BUDGET_DAYS,
                  "fixed_schedule_igf1r_days": compact_days(NOMINAL_DAYS),
                  "block_starts": f"{BLOCK_STARTS[0]}-{BLOCK_STARTS[-1]}",
                  "screening": SCREENING},
        formats={"lower": ".3g", "upper": ".3g"})


def sampling_ranges(parameters: ParameterSet,
                    names: list[str]) -> dict[str, tuple[str, float, float]]:
    """Per parameter: ``("log10", log10 lower, log10 upper)``, or ``("linear", lower, upper)``
    where the documented lower is 0 (a log scale cannot reach it)."""
    ranges = {}
    for name in names:
        value = parameters.values[name]
        lower = value.lower or 0.0
        if value.upper is None or not lower < value.upper:
            raise ValueError(f"parameter {name!r} needs a finite range [lower, upper] to be "
                             f"sampled; got [{lower:g}, {value.upper}]")
        ranges[name] = (("linear", lower, value.upper) if lower == 0 else
                        ("log10", math.log10(lower), math.log10(value.upper)))
    return ranges


def to_parameters(row: np.ndarray,
                  ranges: Mapping[str, tuple[str, float, float]]) -> dict[str, float]:
    """One sample row (sampling space) as parameter values."""
    return {name: float(10 ** x if scale == "log10" else x)
            for (name, (scale, _, _)), x in zip(ranges.items(), row, strict=True)}


def sobol_indices(bounds: Mapping[str, tuple[float, float]],
                  function: Callable[[np.ndarray], np.ndarray], outputs: list[str],
                  base_samples: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """First- and total-order Sobol indices of each column of ``function`` (rows of samples ->
    rows of outputs) for inputs uniform within ``bounds``, with bootstrap confidence
    half-widths: one row per input, columns ``<output>_S1``, ``_S1_conf``, ``_ST``,
    ``_ST_conf``. Also returns the samples, (D + 2) * ``base_samples`` rows."""
    require("SALib")  # the plot extra, with the other experiments' needs
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": len(bounds), "names": list(bounds),
               "bounds": [list(b) for b in bounds.values()]}
    samples = sobol_sample.sample(problem, base_samples, calc_second_order=False, seed=seed)
    values = np.asarray(function(samples), dtype=float).reshape(len(samples), len(outputs))
    columns = {}
    for k, output in enumerate(outputs):
        result = sobol_analyze.analyze(problem, values[:, k], calc_second_order=False,
                                       num_resamples=RESAMPLES, conf_level=CONFIDENCE,
                                       seed=seed)
        columns.update({f"{output}_{index}": np.asarray(result[index]) for index in INDICES})
    return pd.DataFrame(columns, index=list(bounds)), samples


def _table(data: pd.DataFrame) -> pd.DataFrame:
    def shown(output: str, index: str) -> list[str]:
        return [f"{v:.2f}±{c:.2f}" for v, c in
                zip(data[f"{output}_{index}"], data[f"{output}_{index}_conf"], strict=True)]

    return pd.DataFrame({"parameter": data["parameter"], "scale": data["sampling"],
                         "(a) S1": shown("cure", "S1"), "(a) ST": shown("cure", "ST"),
                         "(b) S1": shown("start", "S1"), "(b) ST": shown("start", "ST")})


def _top(data: pd.DataFrame, output: str, count: int = 3) -> str:
    top = data.sort_values(f"{output}_ST", ascending=False).head(count)
    return ", ".join(f"{row.parameter} (ST {row[f'{output}_ST']:.2f} ± "
                     f"{row[f'{output}_ST_conf']:.2f}, S1 {row[f'{output}_S1']:.2f})"
                     for _, row in top.iterrows())


def _findings(data: pd.DataFrame, samples: np.ndarray, nominal_value: float,
              nominal_start: int, base_samples: int) -> str:
    linear = data.loc[data["sampling"] == "linear", "parameter"]
    return (
        f"Sobol indices over {len(data)} parameters of the ensemble, each drawn uniformly on "
        f"log10 between the lower and upper its parameter set documents (linearly for "
        f"{', '.join(linear) or 'none'}, whose lower is 0), not from the ensemble's log-normal "
        f"spreads: SALib's Saltelli scheme with N = {base_samples}, {len(samples)} model "
        f"evaluations, {SCREENING}; ± is the {CONFIDENCE:.0%} bootstrap half-width "
        f"({RESAMPLES} resamples). S1 is the share of an output's variance a parameter explains "
        "alone, ST with all its interactions. (a) log10 expected surviving lineages of the "
        f"fixed schedule (IGF-1R inhibitor days {compact_days(NOMINAL_DAYS)}; "
        f"{nominal_value:.2f} at the nominal parameters, P(cure) "
        f"{math.exp(-10 ** nominal_value):.4f}); the most influential: {_top(data, 'cure')}; "
        f"the S1 sum to {data['cure_S1'].sum():.2f}. (b) the best start day of one 10-day "
        f"block (day {nominal_start} at the nominal parameters); the most influential: "
        f"{_top(data, 'start')}; the S1 sum to {data['start_S1'].sum():.2f}. (b) is discrete (an "
        "argmin over 31 start days), so its indices apportion the variance of a step function: "
        "they rank the parameters, but its small ones are noisier than (a)'s. With this N, "
        "indices below their ± are not distinguishable from 0, and ST can fall below S1 by up "
        "to the ± from sampling alone.")


def _figure(data: pd.DataFrame):
    figure = new_figure(12.0, 0.32 * len(data) + 2.0)
    axes = figure.subplots(1, 2, sharey=True)
    order = data.iloc[::-1]  # largest ST of (a) on top
    y = np.arange(len(order))
    for ax, (output, title) in zip(axes, OUTPUTS.items(), strict=True):
        for offset, index, colour in ((0.2, "S1", "C0"), (-0.2, "ST", "C3")):
            ax.barh(y + offset, order[f"{output}_{index}"], height=0.4, color=colour,
                    xerr=order[f"{output}_{index}_conf"], error_kw={"lw": 0.8, "capsize": 2},
                    label=index)
        ax.axvline(0.0, color="black", lw=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(f"Sobol index ({CONFIDENCE:.0%} interval)")
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, order["parameter"])
    axes[0].set_ylim(-0.7, len(order) - 0.3)
    axes[1].legend(loc="lower right")
    figure.suptitle("Sobol sensitivity over each parameter's documented range")
    return figure


EXPERIMENT = Experiment("sensitivity", "Sobol sensitivity of cure and timing to the parameters",
                        run)
