"""The measurement model: log-normal volumes, values below a detection limit censored.

One CasADi function serves the NLP (symbolic predictions) and every numeric check (the scipy
baseline, the residual tables), so the likelihood they maximise is the same expression.
A measured volume ``v`` above the limit contributes the log-normal density
``-ln(v sigma sqrt(2 pi)) - (ln v - m)^2 / (2 sigma^2)`` around the predicted ln volume ``m``;
one below it (including a recorded 0) contributes ``ln Phi((ln limit - m) / sigma)``, the
probability of measuring below the limit.
"""

from __future__ import annotations

from functools import cache

import casadi as ca
import numpy as np

TAIL_FROM = -5.0
CONTINUED_FRACTION_TERMS = 60  # erfc to 1e-15 relative for arguments above 3.5


@cache
def negative_log_likelihood(n: int) -> ca.Function:
    """(predicted ln volumes, measured volumes, censored flags, ln sigma, ln limit) -> -ln L,
    for ``n`` measurements."""
    m = ca.SX.sym("m", n)
    volumes = ca.SX.sym("v", n)
    censored = ca.SX.sym("c", n)
    log_sigma, log_limit = ca.SX.sym("log_sigma"), ca.SX.sym("log_limit")
    sigma = ca.exp(log_sigma)
    # the log of a censored (zero) volume is never used: it is replaced by the limit first
    log_v = ca.log(ca.if_else(censored, ca.exp(log_limit), volumes))
    measured = 0.5 * ((log_v - m) / sigma) ** 2 + log_sigma + 0.5 * np.log(2 * np.pi) + log_v
    below = -log_normal_cdf((log_limit - m) / sigma)
    total = ca.sum1(ca.if_else(censored, below, measured))
    return ca.Function("nll", [m, volumes, censored, log_sigma, log_limit], [total])


def log_normal_cdf(z):
    """ln Phi(z), accurate far into the lower tail: 1 + erf loses every digit below z = -8
    (Phi 6e-16), so from z = -5 on down it is the continued fraction of erfc."""
    central = ca.log(0.5 * (1 + ca.erf(ca.fmax(z, TAIL_FROM) / np.sqrt(2))))
    x = ca.fmax(-z, -TAIL_FROM) / np.sqrt(2)  # erfc's argument, >= 3.5 where used
    fraction = x
    for k in range(CONTINUED_FRACTION_TERMS, 0, -1):
        fraction = x + (k / 2) / fraction
    tail = -x ** 2 - ca.log(fraction) - 0.5 * np.log(np.pi) - np.log(2)
    return ca.if_else(z < TAIL_FROM, tail, central)


def residuals(log_predicted: np.ndarray, volumes: np.ndarray, limit: float) -> np.ndarray:
    """ln(measured / predicted) of the measurements above the limit, NaN for censored ones."""
    above = volumes >= limit
    out = np.full(volumes.shape, np.nan)
    out[above] = np.log(volumes[above]) - log_predicted[above]
    return out
