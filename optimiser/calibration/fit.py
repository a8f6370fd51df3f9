"""A whole fit: the groups of subjects, each fitted, profiled and re-simulated.

``fit_observations`` fits the named parameters of a model (with the volume observation model,
``models.tumour_volume``) to measured volumes: one NLP per group (all subjects pooled, one per
arm or one per subject), the best of a few starts, a 95 % profile interval per parameter, and an
independent re-simulation of every subject at the estimates with scipy, whose predicted volumes
must match the NLP's at the measurement days. Each subject's initial volume ``V0`` is fitted
(within 100x of its first measurement), so a first measurement with its own error does not pin
the curve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from models.model import Model
from models.observations import Observations, Subject
from models.parameters import ParameterSet, convert, finite_number, read_toml
from models.tumour_volume import volume_model, volume_parameters
from optimiser.calibration.estimator import (
    CalibrationError,
    Estimate,
    LikelihoodNLP,
    best_of_starts,
    simulated_log_volume,
    start_points,
)
from optimiser.calibration.likelihood import residuals
from optimiser.calibration.profile import Interval, profile_interval

GROUPINGS = ("pooled", "arm", "subject")
DETECTION_LIMIT_MM3 = 1.0  # assumption: calipers do not resolve tumours below about 1 mm^3
CHECK_TOLERANCE = 1e-3  # ln volume: the NLP's predictions against the scipy re-simulation
CURVE_SAMPLES = 4  # per grid step, for the figure
CHECK_RTOL = 1e-10


@dataclass(frozen=True)
class FitOptions:
    free: tuple[str, ...]
    by: str = "pooled"
    dead_cells: bool = False
    detection_limit: float = DETECTION_LIMIT_MM3  # mm^3
    starts: int = 3
    seed: int = 0
    max_step: float = 1.0  # days between NLP nodes where nothing changes
    substeps: tuple[float, ...] = (1.0,)  # Radau steps per grid step (the preset's regimen)


@dataclass
class GroupFit:
    """One group's result: the estimate, the intervals, the per-subject fit and its check."""

    name: str
    subjects: Sequence[Subject]
    nlp: LikelihoodNLP
    estimate: Estimate
    intervals: list[Interval]
    starts: list[dict]
    log_predictions: np.ndarray  # at every measurement, in the subjects' order
    check_difference: float  # max |ln volume| between the NLP and the scipy re-simulation
    curves: list[tuple[np.ndarray, np.ndarray]]  # per subject: (days, volume mm^3)
    timings: dict = field(default_factory=dict)

    @property
    def n_measurements(self) -> int:
        return sum(s.days.size for s in self.subjects)

    @property
    def n_estimated(self) -> int:
        """Fitted parameters, one V0 per subject and sigma."""
        return len(self.intervals) + len(self.subjects) + 1

    @property
    def aic(self) -> float:
        return 2 * self.estimate.nll + 2 * self.n_estimated

    @property
    def sigma(self) -> float:
        return math.exp(self.estimate.log_sigma)

    def values(self) -> dict[str, float]:
        return {interval.name: interval.estimate for interval in self.intervals}

    def subject_residuals(self) -> dict[str, np.ndarray]:
        """ln(measured / fitted) per subject (NaN where censored)."""
        out, start = {}, 0
        for subject in self.subjects:
            stop = start + subject.days.size
            out[subject.name] = residuals(self.log_predictions[start:stop], subject.volumes,
                                          self.nlp.detection_limit)
            start = stop
        return out


@dataclass
class FitResult:
    options: FitOptions
    observations: Observations
    parameters: ParameterSet  # the base set (preset's plus the volume model's)
    model: Model
    groups: list[GroupFit]


def fit_parameter_set(parameters: ParameterSet) -> ParameterSet:
    """``parameters`` with the observation model's parameters (V0, density, k_clear) added
    where it lacks them."""
    volume = volume_parameters()
    return ParameterSet(parameters.name, {**volume.values, **parameters.values},
                        parameters.description)


def with_ranges(parameters: ParameterSet, path: Path) -> ParameterSet:
    """``parameters`` with the ranges of a range file: ``[ranges.NAME]`` tables with
    ``lower``, ``upper`` (in the parameter's unit in the set) and ``reason``; the reason is
    appended to the entry's source."""
    data = read_toml(path, "range file").get("ranges")
    if not isinstance(data, Mapping) or not data:
        raise CalibrationError(f"range file {str(path)!r} has no [ranges.NAME] tables; give "
                               "lower, upper and reason for each parameter")
    values = dict(parameters.values)
    for name, entry in data.items():
        if name not in values:
            raise CalibrationError(f"range file {str(path)!r}: {name!r} is not in parameter set "
                                   f"{parameters.name!r}; give one of {sorted(values)}")
        if not isinstance(entry, Mapping) or not all(k in entry for k in
                                                     ("lower", "upper", "reason")):
            raise CalibrationError(f"range file {str(path)!r}: [ranges.{name}] needs lower, "
                                   "upper and reason")
        lower = finite_number(entry["lower"], f"range file {str(path)!r}: {name} lower")
        upper = finite_number(entry["upper"], f"range file {str(path)!r}: {name} upper")
        values[name] = replace(values[name], lower=lower, upper=upper,
                               source=f"{values[name].source}; range: {entry['reason']}")
    return replace(parameters, values=values)


def validate_free(model: Model, parameters: ParameterSet, free: Sequence[str]) -> np.ndarray:
    """The documented ranges of the fitted parameters, (n, 2); a parameter that cannot be
    fitted is refused with the reason."""
    if not free:
        raise CalibrationError("--free names no parameter; give e.g. --free r_S,k_S,alpha")
    if len(set(free)) != len(free):
        raise CalibrationError(f"--free names a parameter twice ({','.join(free)}); name each "
                               "once")
    ranges = []
    for name in free:
        if name == "V0":
            raise CalibrationError("V0 is fitted per subject in every fit; leave it out of "
                                   "--free")
        if name not in model.parameter_names:
            raise CalibrationError(f"--free {name!r} is not a parameter of model "
                                   f"{model.name!r}; give some of {model.parameter_names}")
        entry = parameters.values[name]
        declared = model.parameters[model.parameter_names.index(name)]
        if entry.lower is None or entry.upper is None:
            raise CalibrationError(f"parameter {name!r} has no documented range in "
                                   f"{parameters.name!r}; add lower and upper to fit it")
        low, high = (convert(entry.lower, entry.unit, declared.unit, f"parameter {name!r}"),
                     convert(entry.upper, entry.unit, declared.unit, f"parameter {name!r}"))
        if not 0 < low < high:
            raise CalibrationError(f"parameter {name!r}: its range [{entry.lower:g}, "
                                   f"{entry.upper:g}] {entry.unit} must be positive and "
                                   "non-empty to fit it on a log scale; give 0 < lower < upper")
        ranges.append((low, high))
    return np.array(ranges)


def groups_of(observations: Observations, by: str) -> list[tuple[str, list[Subject]]]:
    if by not in GROUPINGS:
        raise CalibrationError(f"--by {by!r} is not one of {list(GROUPINGS)}; give pooled, arm "
                               "or subject")
    subjects = list(observations.subjects)
    if by == "pooled":
        return [("pooled", subjects)]
    if by == "arm":
        return [(arm, [s for s in subjects if s.arm == arm]) for arm in observations.arms]
    return [(s.name, [s]) for s in subjects]


def prepare(base_model: Model, parameters: ParameterSet, observations: Observations,
            options: FitOptions) -> tuple[Model, ParameterSet, np.ndarray]:
    """Every check of a fit before any build: the model with its volume outputs, the parameter
    set with the volume parameters, and the fitted parameters' ranges."""
    model = volume_model(base_model, dead_cells=options.dead_cells)
    parameters = fit_parameter_set(parameters)
    bounds = validate_free(model, parameters, options.free)
    if not options.detection_limit > 0:
        raise CalibrationError(f"--detection-limit {options.detection_limit:g} mm^3 must be "
                               "positive; give the smallest volume the calipers resolve")
    groups_of(observations, options.by)
    for schedule in observations.schedules.values():
        schedule.fractions(model)  # every arm's drugs exist in the model
    parameters.vector(model.parameters)
    return model, parameters, bounds


def fit_observations(base_model: Model, parameters: ParameterSet, observations: Observations,
                     options: FitOptions,
                     progress: Callable[[str], None] | None = None) -> FitResult:
    """Fit every group; ``progress`` hears a line per stage."""
    say = progress or (lambda _: None)
    model, parameters, bounds = prepare(base_model, parameters, observations, options)
    base = parameters.vector(model.parameters)
    groups = groups_of(observations, options.by)
    fits = []
    for number, (name, subjects) in enumerate(groups, 1):
        label = f"group {number}/{len(groups)} ({name})"
        fits.append(_fit_group(model, base, bounds, name, subjects, observations, options,
                               lambda line, label=label: say(f"{label}: {line}")))
    return FitResult(options, observations, parameters, model, fits)


def _fit_group(model: Model, base: np.ndarray, bounds: np.ndarray, name: str,
               subjects: list[Subject], observations: Observations, options: FitOptions,
               say: Callable[[str], None]) -> GroupFit:
    timings = {}
    started = time.perf_counter()
    say(f"building the NLP of {len(subjects)} subjects")
    nlp = LikelihoodNLP(model, base, options.free, bounds, subjects,
                        dict(observations.schedules), options.detection_limit,
                        substeps=options.substeps, max_step=options.max_step)
    timings["build"] = time.perf_counter() - started
    rows = [model.parameter_names.index(n) for n in options.free]
    say(f"fitting from {options.starts} start points")
    started = time.perf_counter()
    estimate, record = best_of_starts(nlp, start_points(bounds, base[rows], options.starts,
                                                        options.seed))
    timings["fit"] = time.perf_counter() - started
    started = time.perf_counter()
    intervals = []
    for index, parameter in enumerate(options.free):
        say(f"profiling {parameter}")
        intervals.append(profile_interval(nlp, estimate, index))
    timings["profile"] = time.perf_counter() - started
    started = time.perf_counter()
    predictions = nlp.log_predictions(estimate)
    difference, curves = _resimulate(nlp, estimate, predictions)
    timings["check"] = time.perf_counter() - started
    if difference > CHECK_TOLERANCE:
        say(f"warning: the re-simulation differs from the NLP by {difference:.2g} in ln volume")
    return GroupFit(name, subjects, nlp, estimate, intervals, record, predictions, difference,
                    curves, timings)


def _resimulate(nlp: LikelihoodNLP, estimate: Estimate,
                predictions: np.ndarray) -> tuple[float, list]:
    """Each subject at the estimates with scipy (tight tolerances): the largest difference
    from the NLP's ln volumes at the measurement days, and the curves for the figure."""
    worst, curves, start = 0.0, [], 0
    for index, subject in enumerate(nlp.subjects):
        schedule = nlp.subject_schedule(index)
        days = np.linspace(0.0, schedule.horizon, CURVE_SAMPLES * max(1, round(
            schedule.horizon / schedule.grid_step)) + 1)
        log_volume = simulated_log_volume(
            nlp.model, nlp.vector(estimate.theta, math.exp(estimate.log_v0[index])), schedule,
            np.concatenate([subject.days, days]), rtol=CHECK_RTOL,
            samples_per_interval=CURVE_SAMPLES)
        stop = start + subject.days.size
        worst = max(worst, float(np.max(np.abs(log_volume[:subject.days.size]
                                                - predictions[start:stop]))))
        curves.append((days, np.exp(log_volume[subject.days.size:])))
        start = stop
    return worst, curves
