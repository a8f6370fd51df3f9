"""The estimator against independent computations: the likelihood against scipy.stats, the
CasADi optimum against scipy least squares on scipy simulations, the profile ends against
re-solves, a parameter the data cannot identify, and the files a fit writes."""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest
from scipy import stats

from models.ensemble import Ensemble
from models.parameters import ParameterSet
from models.registry import get_preset
from models.schedule import Schedule
from models.tumour_volume import volume_model
from optimiser.calibration.baseline import least_squares_fit
from optimiser.calibration.estimator import CalibrationError, LikelihoodNLP, best_of_starts
from optimiser.calibration.fit import (
    FitOptions,
    fit_observations,
    fit_parameter_set,
    validate_free,
    with_ranges,
)
from optimiser.calibration.likelihood import negative_log_likelihood
from optimiser.calibration.outputs import ensemble_toml, fitted_parameters
from optimiser.calibration.profile import ASYMPTOTIC_THRESHOLD, threshold
from optimiser.calibration.synthetic import synthetic_observations

PRESET = get_preset("persister_v1")
MODEL = volume_model(PRESET.model)
PARAMETERS = fit_parameter_set(PRESET.parameters)
BASE = PARAMETERS.vector(MODEL.parameters)
NAMES = MODEL.parameter_names


def arm(horizon: int, days_on: int) -> Schedule:
    return Schedule.from_fractions(MODEL, {
        drug: (np.arange(horizon) < days_on).astype(float) * (drug == "osimertinib")
        for drug in MODEL.control_names}, 1.0, float(horizon))


def bounds(free):
    return np.array([[PARAMETERS.values[n].lower, PARAMETERS.values[n].upper] for n in free])


def truth(free):
    return BASE[[NAMES.index(n) for n in free]]


def test_likelihood_equals_scipy_stats():
    rng = np.random.default_rng(1)
    m = rng.normal(3.0, 1.0, 12)
    volumes = np.exp(m + rng.normal(0, 0.3, 12))
    volumes[[2, 7]] = [0.0, 0.4]  # a recorded 0 and a value below the limit
    limit, sigma = 0.5, 0.27
    censored = (volumes < limit).astype(float)
    value = float(negative_log_likelihood(12)(m, volumes, censored, math.log(sigma),
                                              math.log(limit)))
    above = censored == 0
    expected = -(np.sum(stats.lognorm.logpdf(volumes[above], s=sigma, scale=np.exp(m[above])))
                 + np.sum(stats.norm.logcdf((math.log(limit) - m[~above]) / sigma)))
    assert value == pytest.approx(expected, rel=1e-12)


def test_threshold_is_the_f_based_one_and_tends_to_chi_square():
    # n = 288 measurements, p = 35 fitted quantities: (n/2) ln(1 + F(0.95; 1, 253) / 253)
    assert threshold(288, 35) == pytest.approx(144 * math.log(1 + stats.f.ppf(0.95, 1, 253)
                                                              / 253), rel=1e-12)
    assert threshold(288, 35) == pytest.approx(2.20, abs=0.01)
    assert pytest.approx(stats.chi2.ppf(0.95, 1) / 2) == ASYMPTOTIC_THRESHOLD
    assert threshold(10**7, 3) == pytest.approx(ASYMPTOTIC_THRESHOLD, rel=1e-5)


def test_casadi_optimum_equals_scipy_least_squares():
    """The issue's independent check: same likelihood, scipy integration and least squares;
    the NLP with four Radau steps a day so its discretisation is far below 1e-6."""
    schedules = {"control": arm(14, 0), "tki": arm(14, 14)}
    observations = synthetic_observations(MODEL, BASE, schedules, np.arange(0, 15, 2.0), 2,
                                          0.15, seed=3)
    free = ["r_S", "k_S"]
    nlp = LikelihoodNLP(MODEL, BASE, free, bounds(free), observations.subjects,
                        dict(observations.schedules), 1e-6, substeps=(0.25, 0.5, 0.75, 1.0))
    estimate, _ = best_of_starts(nlp, [np.log(truth(free))])
    baseline = least_squares_fit(nlp, np.log(truth(free)))
    assert baseline.status > 0
    np.testing.assert_allclose(np.exp(estimate.theta), np.exp(baseline.theta), rtol=1e-6)
    np.testing.assert_allclose(np.exp(estimate.log_v0), np.exp(baseline.log_v0), rtol=1e-6)
    assert math.exp(estimate.log_sigma) == pytest.approx(baseline.sigma, rel=1e-6)
    assert estimate.nll == pytest.approx(baseline.nll, abs=1e-6)


@pytest.fixture(scope="module")
def control_only_fit():
    """Control mice only: growth is measured, the drug's kill rate cannot be."""
    observations = synthetic_observations(MODEL, BASE, {"control": arm(21, 0)},
                                          np.arange(0, 22, 3.0), 6, 0.15, seed=5)
    return fit_observations(PRESET.model, PRESET.parameters, observations,
                            FitOptions(free=("r_S", "k_S"), starts=1))


def test_a_parameter_the_data_do_not_inform_is_flagged(control_only_fit):
    group = control_only_fit.groups[0]
    growth, kill = group.intervals
    assert kill.verdict == "not identifiable"
    assert kill.lower.value is None and kill.upper.value is None
    # both range ends were reached with the profile still below the threshold
    assert kill.lower.points[-1][0] == pytest.approx(PARAMETERS.values["k_S"].lower)
    assert kill.upper.points[-1][0] == pytest.approx(PARAMETERS.values["k_S"].upper)
    assert all(rise < kill.threshold for _, rise in kill.lower.points + kill.upper.points)
    assert growth.identifiable
    assert growth.lower.value < 0.2 < growth.upper.value


def test_profile_ends_are_where_the_likelihood_rises_by_the_threshold(control_only_fit):
    group = control_only_fit.groups[0]
    growth = group.intervals[0]
    for end in (growth.lower.value, growth.upper.value):
        solution = group.nlp.solve(group.estimate.z, fixed={0: math.log(end)})
        assert solution.nll - group.estimate.nll == pytest.approx(growth.threshold, abs=0.03)
    assert group.check_difference < 1e-3  # the scipy re-simulation agrees


def test_fitted_set_and_ensemble(control_only_fit, tmp_path):
    group = control_only_fit.groups[0]
    fitted = fitted_parameters(control_only_fit, group, datetime.date(2026, 12, 3))
    digest = control_only_fit.observations.digest
    assert fitted.values["r_S"].source == f"fit: {digest}, 2026-12-03"
    assert fitted.values["r_S"].value == pytest.approx(group.intervals[0].estimate)
    assert fitted.values["K"] == PARAMETERS.values["K"]  # copied with its source
    path = tmp_path / "fitted.toml"
    path.write_text(fitted.to_toml())
    again = ParameterSet.from_toml(path)
    assert again.values == fitted.values
    PRESET.model.parameter_vector(again)  # the preset's model takes it as it is
    ensemble_path = tmp_path / "ensemble.toml"
    ensemble_path.write_text(ensemble_toml(control_only_fit, group))
    ensemble = Ensemble.from_toml(ensemble_path)
    growth = group.intervals[0]
    half = (math.log(growth.upper.value) - math.log(growth.lower.value)) / 2
    assert ensemble.spreads["r_S"].gsd == pytest.approx(
        math.exp(half / math.sqrt(2 * growth.threshold)), rel=1e-5)
    assert ensemble.spreads["k_S"].gsd is None  # not identifiable: uniform over the range
    draws = ensemble.sample(again, 200, seed=1)
    k = np.array([d.values["k_S"].value for d in draws])
    assert PARAMETERS.values["k_S"].lower <= k.min() and k.max() <= PARAMETERS.values[
        "k_S"].upper


@pytest.mark.parametrize("free,fragments", [
    ((), ("names no parameter", "give e.g.")),
    (("r_S", "r_S"), ("names a parameter twice", "name each once")),
    (("V0",), ("fitted per subject", "leave it out")),
    (("nope",), ("is not a parameter of model", "give some of")),
    (("turnover",), ("must be positive and non-empty", "0 < lower < upper")),
])
def test_free_parameters_are_checked(free, fragments):
    with pytest.raises(CalibrationError) as caught:
        validate_free(MODEL, PARAMETERS, free)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_range_file(tmp_path):
    path = tmp_path / "ranges.toml"
    path.write_text('[ranges.k_S]\nlower = 0.01\nupper = 4.0\nreason = "wider"\n')
    widened = with_ranges(PARAMETERS, path)
    assert (widened.values["k_S"].lower, widened.values["k_S"].upper) == (0.01, 4.0)
    assert widened.values["k_S"].source.endswith("; range: wider")
    path.write_text('[ranges.k_X]\nlower = 0.01\nupper = 4.0\nreason = "x"\n')
    with pytest.raises(CalibrationError, match="is not in parameter set"):
        with_ranges(PARAMETERS, path)
    path.write_text('[ranges.k_S]\nlower = 0.01\n')
    with pytest.raises(CalibrationError, match="needs lower, upper and reason"):
        with_ranges(PARAMETERS, path)
