"""The relaxed NLP of a ControlProblem: variables, bounds, IPOPT options and starts.

The transcription (``optimiser.transcription``) gives the defect equations; this module adds
the objective (``optimiser.objectives``, signed by its sense, with the exposure regulariser),
the linear constraints' rows, the limits' rows and, for a worst case, the epigraph variable, and
compiles IPOPT once per problem structure. Values that change between solves (model
parameters, fixed dose profiles, windows, constraint limits) are NLP parameters or bounds, so a
new budget or parameter set re-solves without rebuilding. Integer schedules are scored by
re-solving with the controls fixed, so the gap to the relaxed bound compares like with like
(same discretisation). ``CollocationSolver`` also holds the screening simulator of the same
structure (``optimiser.screening``), which the integer search uses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import casadi as ca
import numpy as np
import scipy.sparse.linalg

from models.errors import NumericalError
from optimiser.derivatives import nlp_derivatives
from optimiser.interrupts import raise_if_received
from optimiser.objectives import ExposureRegulariser, sign
from optimiser.problem import ControlProblem
from optimiser.screening import Screening
from optimiser.transcription import Transcription, limit_values

EXPOSURE_PENALTY = 1e-6  # objective units per day of full dose
# Newton on the defect equations of a fixed profile (CollocationSolver._collocate): from the
# screening simulation it converges in 2-4 steps; the step tolerance is relative to the states.
NEWTON_ITERATIONS, NEWTON_TOLERANCE = 12, 1e-12
IPOPT_OPTIONS = {"tol": 1e-9, "acceptable_tol": 1e-7, "max_iter": 1000, "print_level": 0,
                 "sb": "yes", "mu_strategy": "adaptive",
                 # MUMPS' default automatic scaling (77) stalled on the stiff log-scaled
                 # collocation equations (restoration failures at 3 substeps). Diagonal scaling
                 # (1) converges there too and is cheaper than the iterative scaling (8) tried
                 # before: warm re-solves 0.068 against 0.098 s with 9-11 against 11 iterations.
                 # MUMPS reserves 1000 % extra workspace by default, allocated and zeroed at
                 # every factorisation; 5 % suffices here (IPOPT enlarges it when it does not).
                 # AMF ordering (2) factorises fastest here: 0.28 s cold against 0.42 s (auto).
                 "mumps_scaling": 1, "mumps_mem_percent": 5, "mumps_pivot_order": 2}
# Measured on the default problem (budget changes 8-12 d): mu_init 1e-3 with bound pushes of 1e-5
# takes 6-12 iterations; mu_init 1e-6 with pushes of 1e-9 took 9-17 and stalled near flat optima.
WARM_OPTIONS = {"warm_start_init_point": "yes", "mu_init": 1e-3, "warm_start_bound_push": 1e-5,
                "warm_start_mult_bound_push": 1e-5, "warm_start_slack_bound_push": 1e-5}

# The retry after a failed solve: IPOPT's default monotone barrier from its default mu_init and
# a larger push off the bounds, slower but steadier than the adaptive strategy.
SAFE_OPTIONS = {"mu_strategy": "monotone", "mu_init": 0.1, "bound_push": 1e-2,
                "bound_frac": 1e-2}
HINTS = {
    "Infeasible_Problem_Detected": "the limits and rules cannot all be kept; relax them (a "
                                   "larger budget, a higher limit, fewer rules)",
    "Restoration_Failed": "IPOPT could not find a point that keeps the limits; relax them, or "
                          "check that they can be kept at all (e.g. with no drug)",
    "Maximum_Iterations_Exceeded": "try a coarser --grid or a shorter --horizon, and check the "
                                   "parameter set for extreme values",
    "Invalid_Number_Detected": "the model produced NaN or inf; check the parameter set for "
                               "extreme values",
}
DEFAULT_HINT = "re-run with PERSISTER_DEBUG=1 and report it with the command"


class SolverError(NumericalError):
    """IPOPT failed, also from a safer start; the message carries its status and a hint."""

    def __init__(self, what: str, failed: Solution, attempts: int) -> None:
        self.status, self.iterations = failed.status, failed.iterations
        self.hint = HINTS.get(failed.status, DEFAULT_HINT)
        super().__init__(f"{what} did not converge: IPOPT {failed.status} after "
                         f"{failed.iterations} iterations ({attempts} attempts, the last from a "
                         f"safer start); {self.hint}")

    def figures(self) -> dict:
        return {"status": self.status, "iterations": self.iterations, "hint": self.hint}


@dataclass
class Solution:
    """One NLP solve; ``free`` holds the optimised dose fractions per control."""

    objective: float  # the problem's objective at the solution (in its own sense)
    # valid bound on the objective over the relaxed problem (regulariser allowance removed): a
    # lower bound for objectives to minimise, an upper bound for those to maximise
    lower_bound: float
    free: dict[str, np.ndarray]
    # internal coordinates at the NLP nodes, (n_states, (K + 1) * scenarios), then the
    # extinction states where the problem has them
    states: np.ndarray
    status: str
    success: bool
    iterations: int
    seconds: float
    primal: np.ndarray = field(repr=False)
    lam_x: np.ndarray = field(repr=False)
    lam_g: np.ndarray = field(repr=False)




class CollocationSolver:
    """Compiles the NLP of one problem structure; ``solve`` takes any problem of that structure."""

    def __init__(self, problem: ControlProblem, degree: int = 5) -> None:
        started = time.perf_counter()
        self.structure = problem.structure_key()
        self.transcription = t = Transcription(problem, degree)
        self.N, self.K, self.H, self.S = t.N, t.K, t.H, t.S
        self.n_free = t.n_free
        self.sign = sign(problem.objective)
        rows = {name: t.U[i, :] for i, name in enumerate(problem.model.control_names)}
        usages = [c.usage(problem.relaxed_rows(c, rows), problem.grid_step)
                  for c in problem.relaxed_constraints]
        limits = [ca.vertcat(*[limit_values(limit, v) for v in t.views])
                  for limit in problem.path_limits]
        outcomes = ca.vertcat(*[problem.objective.expression(v) for v in t.views])
        outcomes = outcomes if self.sign > 0 else -outcomes
        # Worst case: minimise s subject to s >= every scenario's signed objective (epigraph).
        self.worst = self.S > 1 and problem.scenario_mode == "worst"
        epigraph = ca.MX.sym("s", 1 if self.worst else 0)
        g_rest = ca.vertcat(*usages, *limits, *([outcomes - epigraph] if self.worst else []))
        g = ca.vertcat(t.defects, g_rest)
        self._usage_rows = [u.numel() for u in usages]
        self._limit_rows = [limit.numel() for limit in limits]
        self.n_equalities = t.defects.numel()
        regulariser = ExposureRegulariser(EXPOSURE_PENALTY)
        self.allowance = regulariser.allowance(problem)
        objective = epigraph if self.worst else ca.sum1(outcomes) / self.S
        self._sizes = (t.X.numel(), t.W.numel(), t.U_free.numel())
        self._nlp = {"x": ca.vertcat(ca.vec(t.X), ca.vec(t.W), ca.vec(t.U_free), epigraph),
                     "p": ca.vertcat(ca.vec(t.p), ca.vec(t.U_fixed)),
                     "f": objective + regulariser.expression(t.U_free, problem.grid_step),
                     "g": g}
        self._derivatives = nlp_derivatives(t, self._nlp["x"], self._nlp["p"],
                                            self._nlp["f"], g_rest)
        self._solvers: dict[str, ca.Function] = {}
        # The mean signed outcome's gradient in every NLP variable, for ranking moves
        # (objective_gradient); the epigraph variable of a worst case carries no slope.
        self._outcome_gradient = ca.Function("outcome_gradient", [self._nlp["x"],
                                                                  self._nlp["p"]],
                                             [ca.gradient(ca.sum1(outcomes) / self.S,
                                                          self._nlp["x"])])
        self.screening = Screening(t, problem.grid_step, problem.model)
        self._solver("cold")
        self.build_seconds = time.perf_counter() - started

    def _solver(self, start: str) -> ca.Function:
        """IPOPT for a ``start`` of "cold", "warm" (from a solution) or "safe" (the retry)."""
        if start not in self._solvers:
            extra = {"cold": {}, "warm": WARM_OPTIONS, "safe": SAFE_OPTIONS}[start]
            # The derivatives come from one interval's (optimiser.derivatives): built in
            # about a second whatever the size, shared by the three solvers.
            self._solvers[start] = ca.nlpsol("relaxed", "ipopt", self._nlp,
                                             {"ipopt": dict(IPOPT_OPTIONS, **extra),
                                              "print_time": False, **self._derivatives,
                                              # IPOPT backtracks from trial points where the
                                              # constraints overflow; the warning is noise.
                                              "show_eval_warnings": False})
        return self._solvers[start]

    # -- screening (the integer search's simulations) ----------------------------------------------
    def simulate_many(self, problem: ControlProblem,
                      frees: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.screening.simulate_many(problem, frees)

    def simulate(self, problem: ControlProblem, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``simulate_many`` for one profile."""
        return self.simulate_many(problem, [free])[0]

    def screen_many(self, problem: ControlProblem, frees: Sequence[np.ndarray],
                    outputs: Sequence[str] = ()) -> list[tuple[float, ...]]:
        return self.screening.screen_many(problem, frees, outputs)

    def screen(self, problem: ControlProblem, free: np.ndarray,
               outputs: Sequence[str] = ()) -> tuple[float, ...]:
        """``screen_many`` for one profile."""
        return self.screen_many(problem, [free], outputs)[0]

    def objectives_of(self, problem: ControlProblem,
                      frees: Sequence[np.ndarray]) -> list[float]:
        """The signed objective of each profile by simulation (what the integer search
        minimises), or +inf where a limit is broken."""
        return self.screening.costs(problem, frees)

    def objective_of(self, problem: ControlProblem, free: np.ndarray) -> float:
        """``objectives_of`` for one profile."""
        return self.objectives_of(problem, [free])[0]

    def objective_gradient(self, problem: ControlProblem, free: np.ndarray) -> np.ndarray:
        """d(signed objective)/d(dose fraction), n_free x N, at a profile: one simulation and
        one adjoint solve of the NLP's defect equations there (mean over scenarios). First
        order only: it ranks the integer search's moves, which are then simulated."""
        x = self._primal(free, *self.simulate(problem, free))
        nX, nW, nU = self._sizes
        H, n_y = self.H, nX + nW
        p = self._parameter_values(problem)
        _, jacobian = self._defect_jacobian(x, p)
        slope = np.asarray(self._outcome_gradient(x, p)).ravel()
        adjoint = scipy.sparse.linalg.spsolve(jacobian[:, :n_y].T.tocsc(), slope[:n_y])
        gradient = slope[n_y:n_y + nU] - jacobian[:, n_y:n_y + nU].T @ adjoint
        full = np.zeros((self.n_free, self.N))
        full[:, :H] = gradient.reshape(self.n_free, H, order="F")
        return full

    def _defect_jacobian(self, x: np.ndarray, p: np.ndarray):
        """The defect equations' values and their Jacobian in every NLP variable (CSC)."""
        g, jacobian = self._derivatives["jac_g"](x, p)
        return (np.asarray(g).ravel()[:self.n_equalities],
                jacobian[:self.n_equalities, :].sparse().tocsc())

    def _primal(self, free: np.ndarray, X: np.ndarray, W: np.ndarray) -> np.ndarray:
        """The NLP's variables at states X, W and a free profile (epigraph variable 0)."""
        return np.concatenate([X.ravel(order="F"), W.ravel(order="F"),
                               free[:, :self.H].ravel(order="F"),
                               np.zeros(1 if self.worst else 0)])

    def _collocate(self, problem: ControlProblem, free: np.ndarray) -> Solution | None:
        """The states of a fixed profile in the NLP's discretisation, by Newton's method on
        the defect equations (square in the states) from the screening simulation: what a
        scoring solve with IPOPT returns, at a fraction of its cost (model v2: 2.2 s with
        IPOPT). None if Newton does not converge (the caller falls back to IPOPT)."""
        started = time.perf_counter()
        nX, nW, _ = self._sizes
        n_y, p = nX + nW, self._parameter_values(problem)
        x = self._primal(free, *self.simulate(problem, free))
        iterations, converged = 0, False
        while not converged:
            if iterations == NEWTON_ITERATIONS:
                return None
            iterations += 1
            defects, jacobian = self._defect_jacobian(x, p)
            if not np.all(np.isfinite(defects)):
                return None
            step = scipy.sparse.linalg.spsolve(jacobian[:, :n_y], defects)
            if not np.all(np.isfinite(step)):
                return None
            x[:n_y] -= step
            converged = np.max(np.abs(step)) <= NEWTON_TOLERANCE * (1.0 + np.max(np.abs(x[:n_y])))
        states = x[:nX].reshape(self.transcription.nz, -1, order="F")
        points = x[nX:n_y].reshape(self.transcription.nz, -1, order="F")
        views = self.screening.views(problem, free, states, points)
        objective = problem.combine(self.screening.scenario_objectives(problem, views))
        return Solution(objective=objective, lower_bound=objective,
                        free=dict(zip(problem.free_names, free, strict=True)), states=states,
                        status="Newton_Converged", success=True, iterations=iterations,
                        seconds=time.perf_counter() - started, primal=x,
                        lam_x=np.zeros(x.size), lam_g=np.zeros(self._nlp["g"].numel()))

    def _parameter_values(self, problem: ControlProblem) -> np.ndarray:
        return np.concatenate([problem.scenario_vectors.ravel(),
                               problem.fixed_profile()[:, :self.H].ravel(order="F")])

    # -- solves ------------------------------------------------------------------------------------
    def _check_structure(self, problem: ControlProblem) -> None:
        if problem.structure_key() != self.structure:
            raise ValueError("problem structure differs from the compiled one; build a new "
                             "CollocationSolver")

    def free_bounds(self, problem: ControlProblem) -> tuple[np.ndarray, np.ndarray]:
        lower = np.zeros((self.n_free, self.N))
        upper = np.zeros((self.n_free, self.N))
        for k, name in enumerate(problem.free_names):
            control = problem.model.control(name)
            mask = problem.window_mask(name)
            lower[k, mask], upper[k, mask] = control.lower, control.upper
        return lower, upper

    def solve_reliably(self, problem: ControlProblem, what: str, **options) -> Solution:
        """``solve``; if IPOPT fails, once more from a safer start (the profile at its lower
        bounds, i.e. no drug, or the fixed profile, with SAFE_OPTIONS); SolverError if that
        fails too, so no unconverged point is ever taken for an optimum."""
        first = self.solve(problem, **options)
        if first.success:
            return first
        kept = {k: v for k, v in options.items() if k in ("fix_free", "cap_free")}
        start = kept.get("fix_free", self.free_bounds(problem)[0])
        second = self.solve(problem, initial_free=start, safe=True, **kept)
        if second.success:
            return second
        raise SolverError(what, second, attempts=2)

    def solve(self, problem: ControlProblem, initial_free: np.ndarray | None = None,
              warm_start: Solution | None = None, fix_free: np.ndarray | None = None,
              cap_free: np.ndarray | None = None, safe: bool = False) -> Solution:
        """Relaxed solve; with ``cap_free`` (n_free x N) the free controls stay below it (a
        restricted relaxation, e.g. to chosen pulses); with ``fix_free`` they are fixed and the
        solve returns the states and objective of that profile; ``safe`` uses SAFE_OPTIONS.
        The Solution says whether IPOPT converged; ``solve_reliably`` acts on it."""
        self._check_structure(problem)
        if fix_free is not None and not safe:
            collocated = self._collocate(problem, np.asarray(fix_free, dtype=float))
            if collocated is not None:
                return collocated
        started = time.perf_counter()
        lower, upper = self.free_bounds(problem)
        if cap_free is not None:
            upper = np.minimum(upper, cap_free)
            lower = np.minimum(lower, upper)
        if fix_free is not None:
            lower = upper = np.asarray(fix_free, dtype=float)
        nX, nW, nU = self._sizes
        H = self.H  # the NLP's control columns; the free controls are zero after them
        inf = np.full(nX + nW, np.inf)
        n_s, n_epigraph = (1, self.S) if self.worst else (0, 0)  # s is free; its rows <= 0
        lbx = np.concatenate([-inf, lower[:, :H].ravel(order="F"), np.full(n_s, -np.inf)])
        ubx = np.concatenate([inf, upper[:, :H].ravel(order="F"), np.full(n_s, np.inf)])
        # Scoring a fixed profile is a simulation in the NLP's discretisation: its rules and
        # limits are judged by the checker, not imposed. Imposed, a glucose peak a hair above
        # the limit at a collocation point (the screen and the check allow a 1e-4 slack) made
        # such solves infeasible (found by the property test).
        scoring = fix_free is not None
        usage_upper = [np.full(rows, np.inf if scoring else c.limit) for c, rows in zip(
            problem.relaxed_constraints, self._usage_rows, strict=True)]
        limit_bounds = [np.full((rows, 2), (-np.inf, np.inf) if scoring else limit.bounds())
                        for limit, rows in zip(problem.path_limits, self._limit_rows,
                                               strict=True)]
        n_usage = sum(self._usage_rows)
        ubg = np.concatenate([np.zeros(self.n_equalities), *usage_upper,
                              *[b[:, 1] for b in limit_bounds], np.zeros(n_epigraph)])
        lbg = np.concatenate([np.zeros(self.n_equalities), np.full(n_usage, -np.inf),
                              *[b[:, 0] for b in limit_bounds], np.full(n_epigraph, -np.inf)])
        arguments = {"lbx": lbx, "ubx": ubx, "lbg": lbg, "ubg": ubg,
                     "p": self._parameter_values(problem)}
        if warm_start is not None:
            arguments.update(x0=warm_start.primal, lam_x0=warm_start.lam_x,
                             lam_g0=warm_start.lam_g)
        else:
            guess = initial_free if initial_free is not None else self.feasible_guess(problem)
            guess = np.clip(guess, lower, upper)
            X, W = self.simulate(problem, guess)
            views = self.screening.views(problem, guess, X, W)
            s0 = np.full(n_s, (self.sign * self.screening.scenario_objectives(problem, views))
                         .max())
            arguments["x0"] = np.concatenate([X.ravel(order="F"), W.ravel(order="F"),
                                              guess[:, :H].ravel(order="F"), s0])
        solver = self._solver("safe" if safe else "warm" if warm_start is not None else "cold")
        try:
            result = solver(**arguments)
        finally:  # CasADi turns Ctrl-C into a failed solve or a RuntimeError
            raise_if_received()
        stats = solver.stats()
        primal = np.asarray(result["x"]).ravel()
        free = np.zeros((self.n_free, self.N))
        free[:, :H] = primal[nX + nW:nX + nW + nU].reshape(self.n_free, H, order="F")
        free = np.clip(free, lower, upper)
        states = primal[:nX].reshape(self.transcription.nz, -1, order="F")
        points = primal[nX:nX + nW].reshape(self.transcription.nz, -1, order="F")
        views = self.screening.views(problem, free, states, points)
        return Solution(
            objective=problem.combine(self.screening.scenario_objectives(problem, views)),
            lower_bound=self.sign * (float(result["f"]) - self.allowance),
            free=dict(zip(problem.free_names, free, strict=True)),
            states=states,
            status=str(stats["return_status"]), success=bool(stats["success"]),
            iterations=int(stats["iter_count"]), seconds=time.perf_counter() - started,
            primal=primal, lam_x=np.asarray(result["lam_x"]).ravel(),
            lam_g=np.asarray(result["lam_g"]).ravel())

    def feasible_guess(self, problem: ControlProblem) -> np.ndarray:
        """Spread each free control's budget evenly over its window (feasible for budgets):
        every constraint scales down the rows of the free drugs it reads."""
        lower, upper = self.free_bounds(problem)
        guess = upper.copy()
        fixed = problem.fixed_profile()
        fixed_rows = {n: ca.DM(fixed[k]).T for k, n in enumerate(problem.fixed_names)}
        for constraint in problem.relaxed_constraints:
            rows = {n: ca.DM(guess[k]).T for k, n in enumerate(problem.free_names)}
            used = float(ca.mmax(constraint.usage(
                problem.relaxed_rows(constraint, {**rows, **fixed_rows}), problem.grid_step)))
            read = [k for k, n in enumerate(problem.free_names) if n in constraint.drugs]
            if used > constraint.limit > 0:
                guess[read] *= 0.99 * constraint.limit / used
            elif used > constraint.limit:
                guess[read] = 0.0
        return np.maximum(guess, lower)
