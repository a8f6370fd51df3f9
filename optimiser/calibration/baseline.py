"""The independent estimator: ``scipy.optimize.least_squares`` on scipy simulations.

Without censored values the log-normal likelihood's sigma has the closed form
``sigma^2 = mean squared ln residual``, and -ln L is then increasing in the sum of squared ln
residuals, so least squares in (ln parameters, ln V0 per subject) has the same optimum as the
NLP. Nothing here shares the NLP's discretisation: every prediction is a scipy integration
(``optimiser.simulate``) at tight tolerances, and the Jacobian is scipy's finite differences
(a subject's ln V0 only moves its own residuals, which the sparsity pattern tells scipy). It is
the check of the estimator in the tests and the baseline of ``bench/bench_fit.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from optimiser.calibration.estimator import (
    V0_FACTOR,
    CalibrationError,
    LikelihoodNLP,
    simulated_log_volume,
)

RTOL = 1e-10


@dataclass(frozen=True)
class BaselineFit:
    theta: np.ndarray  # ln of the fitted parameters
    log_v0: np.ndarray
    sigma: float  # the closed-form MLE
    nll: float  # -ln L at the optimum, the NLP's expression
    evaluations: int
    status: int


def least_squares_fit(nlp: LikelihoodNLP, theta0: np.ndarray,
                      log_v0: np.ndarray | None = None) -> BaselineFit:
    """The maximum-likelihood estimate of ``nlp``'s problem by least squares from ``theta0``
    (and ``log_v0``, default each subject's first measurement)."""
    volumes = nlp.volumes
    if np.any(volumes < nlp.detection_limit):
        raise CalibrationError("the least-squares baseline has no censored values; give data "
                               "above the detection limit")
    first = np.log(nlp.first_volumes())
    start = np.concatenate([theta0, first if log_v0 is None else log_v0])
    lower = np.concatenate([np.log(nlp.bounds[:, 0]), first - math.log(V0_FACTOR)])
    upper = np.concatenate([np.log(nlp.bounds[:, 1]), first + math.log(V0_FACTOR)])
    counts = [s.days.size for s in nlp.subjects]

    def residuals(q: np.ndarray) -> np.ndarray:
        return np.log(volumes) - _log_predictions(nlp, q[:nlp.nf], q[nlp.nf:])

    sparsity = lil_matrix((sum(counts), nlp.nf + nlp.ns), dtype=int)
    sparsity[:, :nlp.nf] = 1
    row = 0
    for index, count in enumerate(counts):
        sparsity[row:row + count, nlp.nf + index] = 1
        row += count
    result = least_squares(residuals, np.clip(start, lower, upper), bounds=(lower, upper),
                           jac_sparsity=sparsity, x_scale="jac", xtol=1e-14, ftol=1e-14,
                           gtol=1e-12, diff_step=1e-7, max_nfev=2000)
    sigma = float(np.sqrt(np.mean(result.fun ** 2)))
    n = volumes.size
    nll = n * math.log(sigma) + n / 2 + n / 2 * math.log(2 * math.pi) + float(
        np.sum(np.log(volumes)))
    return BaselineFit(result.x[:nlp.nf], result.x[nlp.nf:], sigma, nll, result.nfev,
                       result.status)


def _log_predictions(nlp: LikelihoodNLP, theta: np.ndarray, log_v0: np.ndarray) -> np.ndarray:
    return np.concatenate([
        simulated_log_volume(nlp.model, nlp.vector(theta, math.exp(log_v0[index])),
                             nlp.subject_schedule(index), subject.days, rtol=RTOL)
        for index, subject in enumerate(nlp.subjects)])
