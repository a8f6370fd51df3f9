"""Maximum likelihood in one NLP: every subject's collocation, the parameters as variables.

The decision variables are the fitted parameters (their logarithms, bounded by the ranges their
parameter file documents), each subject's ln V0, ln sigma, and every subject's collocation
states. All subjects' intervals are one CasADi interval function (``optimiser.transcription``,
the optimiser's Radau IIA steps) mapped over all of them, so arms with different doses and
subjects with different initial tumours share the parameters in one solve. The states start
from a scipy simulation at the start point; a few start points (``starts``) guard against a
local optimum. ``solve(z0, fixed=...)`` re-solves with some parameters held, which is what
the profile likelihood (``optimiser.calibration.profile``) needs.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import casadi as ca
import numpy as np

from models.errors import InputError, NumericalError
from models.model import Model
from models.observations import Subject
from models.schedule import Schedule
from optimiser.calibration.likelihood import negative_log_likelihood
from optimiser.nlp import IPOPT_OPTIONS, WARM_OPTIONS
from optimiser.simulate import SimulationError, simulate
from optimiser.transcription import DEGREE, collocation_times, interval_function

SIGMA_RANGE = (0.01, 3.0)  # of ln volume: 1 % to 300 % measurement error
V0_FACTOR = 100.0  # V0 may lie this factor either side of the subject's first measurement
START_RTOL = 1e-6  # the start simulations only need to be close
# Every parameter couples to all of its subjects' states, which makes quasi-dense rows in the KKT
# matrix; MUMPS' QAMD ordering (6) is made for them. On the 4 arms x 10 subjects benchmark
# (47 364 variables, one start): QAMD 6 iterations in 3.0 s, AMD (0) 6 in 2.4 s, METIS (5) 19 in
# 7.1 s, the optimiser's AMF (2) 20 in 16 s. tol 1e-10: intervals need the optimum to 1e-6.
# A start that has not converged in 300 iterations (0.1-0.3 s each) is given up (its record says
# so) rather than left to run to IPOPT's 1000.
FIT_IPOPT_OPTIONS = {"tol": 1e-10, "mumps_pivot_order": 6, "max_iter": 300, **WARM_OPTIONS}


class CalibrationError(InputError):
    """A fit cannot be set up as asked; the message says what to change."""


class FitFailed(NumericalError):
    """IPOPT did not converge from any start point."""


@dataclass(frozen=True)
class Estimate:
    theta: np.ndarray  # fitted parameters, ln of their values in the model's units
    log_v0: np.ndarray  # per subject
    log_sigma: float
    nll: float  # -ln L at the optimum
    z: np.ndarray = field(repr=False)  # the full primal solution (for warm starts)
    lam_x: np.ndarray | None = field(default=None, repr=False)  # its bound multipliers
    lam_g: np.ndarray | None = field(default=None, repr=False)  # and constraint multipliers
    status: str = "Solve_Succeeded"
    iterations: int = 0
    seconds: float = 0.0


@dataclass
class LikelihoodNLP:
    """The NLP of one group of subjects (all of them for a pooled fit)."""

    model: Model
    base: np.ndarray  # every parameter in the model's units
    free: Sequence[str]
    bounds: np.ndarray  # (n_free, 2): the documented range of each fitted parameter
    subjects: Sequence[Subject]
    schedules: dict[str, Schedule]
    detection_limit: float  # mm^3
    substeps: tuple[float, ...] = (1.0,)
    max_step: float = 1.0  # days between NLP nodes where nothing changes
    degree: int = DEGREE
    expand: bool = True  # SX Jacobian and Hessian: slower to build, far faster to evaluate
    timings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        started = time.perf_counter()
        model = self.model
        names = model.parameter_names
        self.free_rows = [names.index(n) for n in self.free]
        self.v0_row = names.index("V0")
        self.grid_step = _common_step(self.schedules, self.subjects)
        self.nx, self.nf, self.ns = model.n_states, len(self.free), len(self.subjects)
        self.plans = [self.fractions(s) for s in self.subjects]
        self.nodes = [_node_times(s, plan, self.grid_step, self.max_step, model)
                      for s, plan in zip(self.subjects, self.plans, strict=True)]
        self.K = [t.size - 1 for t in self.nodes]
        self.offsets = np.concatenate([[0], np.cumsum([k + 1 for k in self.K])])
        n_points = self.degree * len(self.substeps)
        self.n_points = n_points
        total = sum(self.K)

        theta = ca.SX.sym("theta", self.nf)
        log_v0 = ca.SX.sym("log_v0", self.ns)
        log_sigma = ca.SX.sym("log_sigma")
        X = ca.SX.sym("X", self.nx, int(self.offsets[-1]))
        W = ca.SX.sym("W", self.nx, n_points * total)
        self.z_parts = (theta, log_v0, log_sigma, X, W)
        z = ca.vertcat(theta, log_v0, log_sigma, ca.vec(X), ca.vec(W))
        self.n_head = self.nf + self.ns + 1

        columns = [self.parameter_column(theta, log_v0[i]) for i in range(self.ns)]
        starts = ca.horzcat(*[X[:, self.offsets[i]:self.offsets[i] + k]
                              for i, k in enumerate(self.K)])
        ends = ca.horzcat(*[X[:, self.offsets[i] + 1:self.offsets[i] + k + 1]
                            for i, k in enumerate(self.K)])
        P = ca.horzcat(*[ca.repmat(columns[i], 1, k) for i, k in enumerate(self.K)])
        U = np.hstack([plan[:, np.round(t[:-1] / self.grid_step).astype(int)]
                       for plan, t in zip(self.plans, self.nodes, strict=True)])
        lengths = np.concatenate([np.diff(t) for t in self.nodes])[None, :]
        interval = interval_function(model, self.degree, self.substeps)
        residual, x_end = interval.map(total)(starts, W, U, P, lengths)
        initial = ca.horzcat(*[X[:, self.offsets[i]] - model.x0_internal(columns[i])
                               for i in range(self.ns)])
        g = ca.vertcat(ca.vec(initial), ca.vec(residual), ca.vec(ends - x_end))

        observed = [self.offsets[i] + np.searchsorted(self.nodes[i], s.days - 1e-9)
                    for i, s in enumerate(self.subjects)]
        self.observed_columns = np.concatenate(observed)
        P_obs = ca.horzcat(*[ca.repmat(columns[i], 1, len(o)) for i, o in enumerate(observed)])
        n_obs = self.observed_columns.size
        log_volume = model.output_function("log_volume", n_obs)(
            X[:, self.observed_columns.tolist()], P_obs)
        # the measurements are NLP parameters: new data of the same design re-use the solver
        volumes, censored = ca.SX.sym("volumes", n_obs), ca.SX.sym("censored", n_obs)
        nll = negative_log_likelihood(n_obs)(log_volume.T, volumes, censored, log_sigma,
                                             math.log(self.detection_limit))
        self.predict = ca.Function("predict", [z], [log_volume])
        t_graph = time.perf_counter()
        self.solver = ca.nlpsol("fit", "ipopt", {"x": z, "f": nll, "g": g,
                                                 "p": ca.vertcat(volumes, censored)},
                                {"ipopt": {**IPOPT_OPTIONS, **FIT_IPOPT_OPTIONS},
                                 "print_time": False, "expand": self.expand,
                                 # IPOPT backtracks from trial points where the states
                                 # overflow; the warning is noise
                                 "show_eval_warnings": False})
        self.timings["graph"] = t_graph - started
        self.timings["build"] = time.perf_counter() - started

    def with_data(self, subjects: Sequence[Subject]) -> LikelihoodNLP:
        """The same NLP for other measurements of the same design (arms and days)."""
        if [(s.arm, s.days.tolist()) for s in subjects] != \
                [(s.arm, s.days.tolist()) for s in self.subjects]:
            raise CalibrationError("with_data needs the same subjects, arms and days")
        twin = copy.copy(self)
        twin.subjects = list(subjects)
        return twin

    @property
    def volumes(self) -> np.ndarray:
        return np.concatenate([s.volumes for s in self.subjects])

    @property
    def censored(self) -> np.ndarray:
        return (self.volumes < self.detection_limit).astype(float)

    # -- pieces ------------------------------------------------------------------------------
    def parameter_column(self, theta, log_v0):
        """The model's parameter vector of one subject (fitted entries from ``theta``)."""
        rows = [ca.DM(v) for v in self.base]
        for k, row in enumerate(self.free_rows):
            rows[row] = ca.exp(theta[k])
        rows[self.v0_row] = ca.exp(log_v0)
        return ca.vertcat(*rows)

    def fractions(self, subject: Subject) -> np.ndarray:
        """Dose fractions of the subject's arm on the grid up to its last measurement (zero
        after the schedule ends)."""
        plan = self.schedules[subject.arm].fractions(self.model)
        intervals = _grid_intervals(subject, self.grid_step)
        out = np.zeros((len(self.model.controls), intervals))
        n = min(intervals, plan.shape[1])
        out[:, :n] = plan[:, :n]
        return out

    def subject_schedule(self, index: int) -> Schedule:
        """The doses subject ``index`` had, up to its last measurement."""
        plan = self.plans[index]
        return Schedule.from_fractions(
            self.model, dict(zip(self.model.control_names, plan, strict=True)),
            self.grid_step, plan.shape[1] * self.grid_step)

    def vector(self, theta: np.ndarray, v0: float) -> np.ndarray:
        values = self.base.copy()
        values[self.free_rows] = np.exp(theta)
        values[self.v0_row] = v0
        return values

    def first_volumes(self) -> np.ndarray:
        """Each subject's first measurement, the limit where it is below it."""
        return np.array([max(s.volumes[0], self.detection_limit) for s in self.subjects])

    # -- bounds and starts --------------------------------------------------------------------
    def bounds_vectors(self, fixed: dict[int, float] | None = None):
        first = np.log(self.first_volumes())
        lower = np.concatenate([np.log(self.bounds[:, 0]), first - math.log(V0_FACTOR),
                                [math.log(SIGMA_RANGE[0])]])
        upper = np.concatenate([np.log(self.bounds[:, 1]), first + math.log(V0_FACTOR),
                                [math.log(SIGMA_RANGE[1])]])
        for k, value in (fixed or {}).items():
            lower[k] = upper[k] = value
        n_rest = self.nx * (int(self.offsets[-1]) + self.n_points * sum(self.K))
        return (np.concatenate([lower, np.full(n_rest, -np.inf)]),
                np.concatenate([upper, np.full(n_rest, np.inf)]))

    def start(self, theta: np.ndarray) -> np.ndarray:
        """A primal start: these parameters, each V0 at its first measurement, sigma 0.2, and
        the states of a scipy simulation of every subject."""
        v0 = self.first_volumes()
        X, W = [], []
        for index, (subject, nodes, volume) in enumerate(zip(self.subjects, self.nodes, v0,
                                                             strict=True)):
            try:
                trajectory = simulate(self.model, self.vector(theta, volume),
                                      self.subject_schedule(index),
                                      samples_per_interval=1, rtol=START_RTOL)
            except SimulationError as error:
                raise FitFailed(f"the start simulation of subject {subject.name!r} failed "
                                f"({error}); start from other parameter values") from None
            X.append(trajectory.internal_at(nodes))
            W.append(trajectory.internal_at(collocation_times(np.diff(nodes), self.degree,
                                                              self.substeps)))
        return np.concatenate([theta, np.log(v0), [math.log(0.2)],
                               np.hstack(X).ravel(order="F"), np.hstack(W).ravel(order="F")])

    # -- solving ------------------------------------------------------------------------------
    def solve(self, z0: np.ndarray, fixed: dict[int, float] | None = None,
              warm: Estimate | None = None) -> Estimate:
        """From primal ``z0``, and from the multipliers of ``warm`` (a nearby solution)."""
        lower, upper = self.bounds_vectors(fixed)
        z0 = np.clip(z0, lower, upper)
        started = time.perf_counter()
        multipliers = ({"lam_x0": warm.lam_x, "lam_g0": warm.lam_g}
                       if warm is not None and warm.lam_x is not None else {})
        result = self.solver(x0=z0, lbx=lower, ubx=upper, lbg=0, ubg=0,
                             p=np.concatenate([self.volumes, self.censored]), **multipliers)
        stats = self.solver.stats()
        z = np.asarray(result["x"]).ravel()
        return Estimate(theta=z[:self.nf], log_v0=z[self.nf:self.nf + self.ns],
                        log_sigma=float(z[self.nf + self.ns]), nll=float(result["f"]), z=z,
                        lam_x=np.asarray(result["lam_x"]).ravel(),
                        lam_g=np.asarray(result["lam_g"]).ravel(),
                        status=stats["return_status"], iterations=stats["iter_count"],
                        seconds=time.perf_counter() - started)

    def log_predictions(self, estimate: Estimate) -> np.ndarray:
        return np.asarray(self.predict(estimate.z)).ravel()


def simulated_log_volume(model: Model, values: np.ndarray, schedule: Schedule,
                         times: np.ndarray, rtol: float | None = None,
                         samples_per_interval: int = 1) -> np.ndarray:
    """ln volume at ``times`` from a scipy simulation (independent of the NLP's steps)."""
    options = {} if rtol is None else {"rtol": rtol}
    trajectory = simulate(model, values, schedule, samples_per_interval=samples_per_interval,
                          **options)
    states = trajectory.internal_at(times)
    return np.asarray(model.output_function("log_volume", states.shape[1])(
        states, np.tile(values[:, None], states.shape[1]))).ravel()


def converged(estimate: Estimate) -> bool:
    return estimate.status in ("Solve_Succeeded", "Solved_To_Acceptable_Level")


def best_of_starts(nlp: LikelihoodNLP, starts: Sequence[np.ndarray]) -> tuple[Estimate, list]:
    """The best converged optimum over the start points (ln parameter values), and a record of
    every start."""
    record, best = [], None
    for theta in starts:
        started = time.perf_counter()
        estimate = nlp.solve(nlp.start(np.asarray(theta, dtype=float)))
        record.append({"start": np.exp(theta).tolist(), "status": estimate.status,
                       "iterations": estimate.iterations, "neg_log_likelihood": estimate.nll,
                       "seconds": time.perf_counter() - started})
        if converged(estimate) and (best is None or estimate.nll < best.nll):
            best = estimate
    if best is None:
        raise FitFailed(f"the fit did not converge from any of {len(starts)} start points "
                        f"(IPOPT {record[-1]['status']}); fit fewer parameters or check the "
                        "data")
    return best, record


def start_points(bounds: np.ndarray, base: np.ndarray, count: int, seed: int) -> list:
    """The base values, then ``count - 1`` Latin-hypercube points within the ranges (ln)."""
    from scipy.stats import qmc

    low, high = np.log(bounds[:, 0]), np.log(bounds[:, 1])
    points = [np.clip(np.log(base), low, high)]
    if count > 1:
        sample = qmc.LatinHypercube(d=len(low), seed=seed).random(count - 1)
        points += list(low + sample * (high - low))
    return points


def _common_step(schedules: dict[str, Schedule], subjects: Sequence[Subject]) -> float:
    steps = {schedules[s.arm].grid_step for s in subjects}
    if len(steps) != 1:
        raise CalibrationError(f"the arms' schedules use different grid steps {sorted(steps)}; "
                               "give every schedule the same grid_step")
    return steps.pop()


def _grid_intervals(subject: Subject, step: float) -> int:
    """Grid intervals up to the subject's last measurement, which must all lie on the grid."""
    on_grid = np.abs(subject.days / step - np.round(subject.days / step)) < 1e-9
    if not np.all(on_grid):
        day = subject.days[~on_grid][0]
        raise CalibrationError(f"subject {subject.name!r}: day {day:g} is not on the schedules' "
                               f"grid (every {step:g} d); give schedules with a finer grid_step")
    return max(1, round(subject.days[-1] / step))


def _node_times(subject: Subject, plan: np.ndarray, step: float, max_step: float,
                model: Model) -> np.ndarray:
    """The subject's NLP nodes: every measurement day, every day the doses change and every
    dose event, with steps of at most ``max_step`` between (on the grid)."""
    n = plan.shape[1]
    breaks = {0, n, *np.round(subject.days / step).astype(int).tolist()}
    breaks |= {k for k in range(1, n) if np.any(plan[:, k] != plan[:, k - 1])}
    events = [i for i, control in enumerate(model.controls) if control.bolus_into]
    breaks |= {k for k in range(n) if np.any(plan[events, k] > 0)}
    longest = max(1, math.floor(max_step / step + 1e-9))
    nodes = []
    for a, b in itertools.pairwise(sorted(breaks)):
        pieces = math.ceil((b - a) / longest)
        nodes += [a + (b - a) * j / pieces for j in range(pieces)]
    return np.round(np.array([*nodes, n])) * step
