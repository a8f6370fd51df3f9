"""95 % profile-likelihood intervals, and which parameters the data cannot bound.

The profile of a fitted parameter is the least -ln L with that parameter held and every other
variable re-fitted. Its 95 % interval ends where the profile rises ``chi2(1, 0.95) / 2 = 1.92``
above the optimum. Each end is found on the signed root ``r = sqrt(2 (profile - optimum))``,
which is close to linear in the (ln) parameter, by secant steps from the optimum with warm
starts; that takes 3-5 solves per end. Where the profile stays below the threshold up to the
end of the parameter's documented range, that end is open: the data do not bound the parameter
there, and no interval end is invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from optimiser.calibration.estimator import Estimate, LikelihoodNLP, converged

LEVEL = 0.95
THRESHOLD = chi2.ppf(LEVEL, 1) / 2  # 1.92 in -ln L
ROOT = math.sqrt(2 * THRESHOLD)  # 1.96 in the signed root
FIRST_STEP = 0.05  # ln units: 5 % of the value
ROOT_TOLERANCE = 0.01  # of the signed root: the interval end within about 0.5 % of r
MAX_SOLVES = 12  # per end


@dataclass(frozen=True)
class ProfileEnd:
    value: float | None  # the interval end (model units); None: open within the range
    solves: int
    points: tuple[tuple[float, float], ...]  # (value, profile -ln L - optimum) visited


@dataclass(frozen=True)
class Interval:
    name: str
    estimate: float
    lower: ProfileEnd
    upper: ProfileEnd
    better_optimum: float | None = None  # a profile solve found a lower -ln L (by this much)

    @property
    def identifiable(self) -> bool:
        """Both ends bounded by the data within the documented range."""
        return self.lower.value is not None and self.upper.value is not None

    @property
    def verdict(self) -> str:
        if self.identifiable:
            return "identifiable"
        if self.lower.value is None and self.upper.value is None:
            return "not identifiable"
        return "bounded below only" if self.upper.value is None else "bounded above only"


def profile_interval(nlp: LikelihoodNLP, estimate: Estimate, index: int) -> Interval:
    """The 95 % profile interval of fitted parameter ``index`` around ``estimate``."""
    lower_bound, upper_bound = np.log(nlp.bounds[index])
    ends, better = [], []
    for direction, bound in ((-1, lower_bound), (+1, upper_bound)):
        end, gain = _end(nlp, estimate, index, direction, bound)
        ends.append(end)
        better.append(gain)
    gains = [g for g in better if g is not None]
    return Interval(nlp.free[index], float(np.exp(estimate.theta[index])), ends[0], ends[1],
                    max(gains) if gains else None)


def _end(nlp: LikelihoodNLP, estimate: Estimate, index: int, direction: int,
         bound: float) -> tuple[ProfileEnd, float | None]:
    """Secant steps outward on the signed root until it brackets 1.96, then regula falsi."""
    centre = float(estimate.theta[index])
    if abs(bound - centre) < 1e-9:  # the optimum sits on the range end: open there
        return ProfileEnd(None, 0, ()), None
    below = [(centre, 0.0)]  # (ln value, r) points below the threshold, outermost last
    above: tuple[float, float] | None = None
    value, warm, points, gain = _clip(centre + direction * FIRST_STEP, bound, direction), \
        estimate, [], None
    for solves in range(1, MAX_SOLVES + 1):
        solution = nlp.solve(warm.z, fixed={index: value}, warm=warm)
        rise = solution.nll - estimate.nll if converged(solution) else math.inf
        if math.isfinite(rise):
            warm = solution  # the next solve starts from the nearest profile point
            if rise < -1e-6:
                gain = max(gain or 0.0, -rise)
        points.append((float(np.exp(value)), float(rise)))
        r = math.sqrt(2 * max(rise, 0.0)) if math.isfinite(rise) else 2 * ROOT
        if abs(r - ROOT) < ROOT_TOLERANCE:
            return ProfileEnd(float(np.exp(value)), solves, tuple(points)), gain
        if r < ROOT and abs(value - bound) < 1e-12:
            return ProfileEnd(None, solves, tuple(points)), gain
        if r < ROOT:
            below.append((value, r))
        else:
            above = (value, r)
        (v0, r0), (v1, r1) = below[-2] if len(below) > 1 else below[-1], below[-1]
        if above is None:  # extrapolate outward, at most 4x as far from the optimum
            slope = (r1 - r0) / abs(v1 - v0) if v1 != v0 else 0.0
            step = (ROOT - r1) / slope if slope > 1e-9 else math.inf
            value = _clip(v1 + direction * min(step, 3 * abs(v1 - centre)), bound, direction)
        else:  # regula falsi between the outermost point below and the one above
            fraction = (ROOT - r1) / (above[1] - r1)
            value = v1 + min(max(fraction, 0.1), 0.9) * (above[0] - v1)
    # the tolerance was not reached: the next secant estimate is the end
    return ProfileEnd(float(np.exp(value)), MAX_SOLVES, tuple(points)), gain


def _clip(value: float, bound: float, direction: int) -> float:
    return min(value, bound) if direction > 0 else max(value, bound)
