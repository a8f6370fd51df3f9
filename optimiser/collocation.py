"""Direct collocation of a ControlProblem in CasADi, compiled once per problem structure.

Each grid interval holds piecewise-constant controls and one Radau IIA step of degree 5 (stage
order 5, L-stable, so the stiff switching and reversion terms of the log-scaled cell equations
are safe). Measured against the scipy check (rtol 1e-10) on five schedules of the default
problem, the largest error of the objective is 6e-5 decades with one degree-5 step, against
1.3e-4 with the three degree-3 steps used before, 5.7e-4 with one degree-4 step and 5.4e-4
with two degree-3 steps; the degree-5 step has 5 collocation points per interval instead of 9,
which halves the cost of an IPOPT iteration (bench/README.md). The interval equations are one
CasADi function mapped over all intervals. Where the problem has a ``tail_step``, the
drug-free rest of the horizon takes longer steps (``ControlProblem.nlp_steps``): 56 instead of
100 intervals on the default problem. Values that change between solves (model
parameters, fixed dose profiles, windows, constraint limits) are NLP parameters or bounds, so a
new budget or parameter set re-solves without rebuilding.

Integer schedules are scored by re-solving the NLP with the controls fixed, so the gap to the
relaxed bound compares like with like (same discretisation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import casadi as ca
import numpy as np

from optimiser.problem import ControlProblem

EXPOSURE_PENALTY = 1e-6  # objective units per day of full dose
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


SIMULATOR_OPTIONS = {"abstol": 1e-7, "reltol": 1e-7, "max_num_steps": 100000}


class SolverError(RuntimeError):
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

    objective: float  # the problem's objective at the solution
    lower_bound: float  # valid bound on the objective over the relaxed problem (penalty removed)
    free: dict[str, np.ndarray]
    states: np.ndarray  # internal coordinates at the NLP nodes, (n_states, (K + 1) * scenarios)
    status: str
    success: bool
    iterations: int
    seconds: float
    primal: np.ndarray = field(repr=False)
    lam_x: np.ndarray = field(repr=False)
    lam_g: np.ndarray = field(repr=False)


def _radau_matrices(degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Derivative matrix C[r, j] = L_r'(tau_j) and end weights D[r] = L_r(1)."""
    tau = np.append(0.0, ca.collocation_points(degree, "radau"))
    C = np.zeros((degree + 1, degree + 1))
    D = np.zeros(degree + 1)
    for r in range(degree + 1):
        basis = np.poly1d([1.0])
        for m in range(degree + 1):
            if m != r:
                basis *= np.poly1d([1.0, -tau[m]]) / (tau[r] - tau[m])
        D[r] = basis(1.0)
        derivative = np.polyder(basis)
        C[r] = [derivative(t) for t in tau]
    return C, D


class CollocationSolver:
    """Compiles the NLP of one problem structure; ``solve`` takes any problem of that structure."""

    def __init__(self, problem: ControlProblem, degree: int = 5, substeps: int = 1) -> None:
        started = time.perf_counter()
        self.structure = problem.structure_key()
        self.degree, self.substeps = degree, substeps
        model = problem.model
        self.nx, self.nu, self.np = model.n_states, len(model.controls), len(model.parameters)
        self.N = problem.n_intervals  # control intervals
        self.steps = problem.nlp_steps  # NLP intervals: the first H are control intervals
        self.K, self.H = K, H = len(self.steps), problem.controlled_intervals
        self.free_rows = [model.control_names.index(c) for c in problem.free_names]
        self.fixed_rows = [model.control_names.index(c) for c in problem.fixed_names]
        self.n_free, self.n_fixed = len(self.free_rows), len(self.fixed_rows)
        self.n_collocation = degree * substeps
        self._interval = self._interval_function(model)

        # A robust problem has S scenarios: one state trajectory per parameter set, all under the
        # same doses; each scenario's columns are contiguous in X and W.
        self.S = S = problem.n_scenarios
        self.worst = S > 1 and problem.scenario_mode == "worst"
        X = ca.MX.sym("X", self.nx, (K + 1) * S)
        W = ca.MX.sym("W", self.nx, self.n_collocation * K * S)
        U_free = ca.MX.sym("U", self.n_free, H)
        p = ca.MX.sym("p", self.np, S)
        U_fixed = ca.MX.sym("U_fixed", self.n_fixed, H)
        U = self._assemble_controls(U_free, U_fixed)
        U_all = ca.horzcat(U, ca.DM.zeros(self.nu, K - H))

        nodes = [X[:, s * (K + 1):(s + 1) * (K + 1)] for s in range(S)]
        residual, x_end = self._interval.map(K * S)(
            ca.horzcat(*[x[:, :K] for x in nodes]), W, ca.repmat(U_all, 1, S),
            ca.horzcat(*[ca.repmat(p[:, s], 1, K) for s in range(S)]),
            ca.repmat(ca.DM(self.steps).T, 1, S))
        rows = {name: U[i, :] for i, name in enumerate(model.control_names)}
        usages = [c.usage(rows, problem.grid_step) for c in problem.relaxed_constraints]
        # Path limits hold at every collocation point (the last one of each step is its end).
        self._path_outputs = [model.output_function(limit.output).map(W.shape[1])
                              for limit in problem.path_limits]
        per_point = ca.horzcat(*[ca.repmat(p[:, s], 1, self.n_collocation * K) for s in range(S)])
        paths = [ca.vec(output(W, per_point)) for output in self._path_outputs]
        output = model.output_function(problem.objective)
        outcomes = ca.vertcat(*[output(nodes[s][:, K], p[:, s]) for s in range(S)])
        # Worst case: minimise t subject to t >= every scenario's objective (epigraph form).
        t = ca.MX.sym("t", 1 if self.worst else 0)
        epigraph = [outcomes - t] if self.worst else []
        g = ca.vertcat(*[nodes[s][:, 0] - model.x0_internal(p[:, s]) for s in range(S)],
                       ca.vec(residual), ca.vec(ca.horzcat(*[x[:, 1:] for x in nodes]) - x_end),
                       *usages, *paths, *epigraph)
        self._usage_rows = [u.numel() for u in usages] + [path.numel() for path in paths]
        self.n_equalities = g.numel() - sum(self._usage_rows) - (S if self.worst else 0)
        objective = t if self.worst else ca.sum1(outcomes) / S
        # A tiny exposure penalty makes the optimum unique where extra drug no longer helps
        # (flat objective, e.g. a budget beyond what the tumour needs); without it IPOPT wanders
        # for hundreds of iterations there. It loosens the lower bound by at most
        # EXPOSURE_PENALTY * max_exposure, which solve() subtracts.
        exposure = ca.sum2(ca.sum1(U_free)) * problem.grid_step
        self.max_exposure = self.n_free * H * problem.grid_step * max(
            model.control(c).upper for c in problem.free_names)
        self._sizes = (X.numel(), W.numel(), U_free.numel())
        nlp = {"x": ca.vertcat(ca.vec(X), ca.vec(W), ca.vec(U_free), t),
               "p": ca.vertcat(ca.vec(p), ca.vec(U_fixed)),
               "f": objective + EXPOSURE_PENALTY * exposure, "g": g}
        self._nlp = nlp
        self._solvers: dict[str, ca.Function] = {}
        self._simulator = self._build_simulator(model, problem.grid_step)
        self._batch_simulators: dict[int, ca.Function] = {}
        self._solver("cold")
        self.build_seconds = time.perf_counter() - started

    # -- construction ----------------------------------------------------------------------------
    def _interval_function(self, model) -> ca.Function:
        C, D = _radau_matrices(self.degree)
        x0 = ca.SX.sym("x0", self.nx)
        Wc = ca.SX.sym("Wc", self.nx, self.n_collocation)
        u = ca.SX.sym("u", self.nu)
        p = ca.SX.sym("p", self.np)
        length = ca.SX.sym("length")  # of the interval, days
        h = length / self.substeps
        residuals, x_start = [], x0
        for s in range(self.substeps):
            points = [x_start] + [Wc[:, s * self.degree + j] for j in range(self.degree)]
            for j in range(1, self.degree + 1):
                slope = sum(C[r, j] * points[r] for r in range(self.degree + 1))
                residuals.append(h * model.f_internal(points[j], u, p) - slope)
            x_start = sum(D[r] * points[r] for r in range(self.degree + 1))
        return ca.Function("interval", [x0, Wc, u, p, length],
                           [ca.vertcat(*residuals), x_start],
                           ["x0", "W", "u", "p", "length"], ["residual", "x_end"])

    def _assemble_controls(self, free, fixed):
        rows = [None] * self.nu
        for k, i in enumerate(self.free_rows):
            rows[i] = free[k, :]
        for k, i in enumerate(self.fixed_rows):
            rows[i] = fixed[k, :]
        return ca.vertcat(*rows)

    def _build_simulator(self, model, grid_step: float) -> ca.Function:
        """One interval by CVODES (BDF, tolerance 1e-7): the states at its collocation times
        and at its end. The simulator runs it interval by interval while any control may be on
        (CVODES restarts at each switch) and then integrates the drug-free rest in one run."""
        x, u, p = ca.MX.sym("x", self.nx), ca.MX.sym("u", self.nu), ca.MX.sym("p", self.np)
        dae = {"x": x, "p": ca.vertcat(u, p), "ode": model.f_internal(x, u, p)}
        integrator = ca.integrator("interval_ode", "cvodes", dae, 0.0,
                                   self._collocation_times([grid_step]), SIMULATOR_OPTIONS)
        states = integrator(x0=x, p=ca.vertcat(u, p))["xf"]
        self._dae = dae
        return ca.Function("step", [x, u, p], [states[:, -1], states])

    def _collocation_times(self, steps: Sequence[float]) -> list[float]:
        """The collocation times of consecutive intervals of these lengths, from the first's
        start."""
        tau = np.asarray(ca.collocation_points(self.degree, "radau"))
        starts = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
        return [start + length / self.substeps * (s + t)
                for start, length in zip(starts, steps, strict=True)
                for s in range(self.substeps) for t in tau]

    def _solver(self, start: str) -> ca.Function:
        """IPOPT for a ``start`` of "cold", "warm" (from a solution) or "safe" (the retry)."""
        if start not in self._solvers:
            extra = {"cold": {}, "warm": WARM_OPTIONS, "safe": SAFE_OPTIONS}[start]
            # Expanded to SX: faster solves, and robust. Measured with 4 worst-case scenarios:
            # expanded, 9.2 s build and 43 iterations; unexpanded MX, 1.3 s build but NaN trial
            # points and no convergence in 1000 iterations. The build grows about linearly
            # (1.8 s for one scenario, 26 s for eight).
            self._solvers[start] = ca.nlpsol("relaxed", "ipopt", self._nlp,
                                             {"ipopt": dict(IPOPT_OPTIONS, **extra),
                                              "print_time": False, "expand": True,
                                              # IPOPT backtracks from trial points where the
                                              # constraints overflow; the warning is noise.
                                              "show_eval_warnings": False})
        return self._solvers[start]

    # -- use -------------------------------------------------------------------------------------
    def _check_structure(self, problem: ControlProblem) -> None:
        if problem.structure_key() != self.structure:
            raise ValueError("problem structure differs from the compiled one; build a new "
                             "CollocationSolver")

    def _controls(self, problem: ControlProblem, free: np.ndarray) -> np.ndarray:
        """All controls on the control grid, shape (n_controls, N)."""
        U = np.zeros((self.nu, self.N))
        U[self.free_rows] = free
        U[self.fixed_rows] = problem.fixed_profile()
        return U

    def _mapped_simulator(self, head: int, count: int) -> ca.Function:
        """``count`` independent runs of (x0, U, P, p) -> (states at the end of each interval,
        at each collocation time): the first ``head`` intervals one by one (controls U and
        parameters P per interval), the rest of the NLP grid with every control off in one
        CVODES run, which keeps its step size across the drug-free tail (measured on the
        default problem: 2.6 ms against 5.8 ms per simulation, restarting in each of the 60
        tail intervals). Creating these is cheap; one is kept per (head, count). Serial: a
        "thread" map measured no faster (the CVODES runs did not overlap)."""
        if (head, count) not in self._batch_simulators:
            x0, p = ca.MX.sym("x0", self.nx), ca.MX.sym("p", self.np)
            U, P = ca.MX.sym("U", self.nu, head), ca.MX.sym("P", self.np, head)
            nodes, points, x_end = [], [], x0
            if head:
                X, W = self._simulator.mapaccum(head)(x0, U, P)
                nodes, points, x_end = [X], [W], X[:, -1]
            if head < self.K:
                tail = ca.integrator("drug_free", "cvodes", self._dae, 0.0,
                                     self._collocation_times(self.steps[head:]),
                                     SIMULATOR_OPTIONS)
                W = tail(x0=x_end, p=ca.vertcat(ca.DM.zeros(self.nu), p))["xf"]
                nodes.append(W[:, self.n_collocation - 1::self.n_collocation])  # tau = 1
                points.append(W)
            run = ca.Function("simulate", [x0, U, P, p],
                              [ca.horzcat(*nodes), ca.horzcat(*points)])
            self._batch_simulators[head, count] = run.map(count)
        return self._batch_simulators[head, count]

    def simulate_many(self, problem: ControlProblem,
                      frees: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each free-control profile (n_free x N): states at the NLP's nodes and
        collocation points, in its discretisation and layout (scenarios side by side); one
        mapped call for the whole batch."""
        if not frees:
            return []
        head = problem.drug_free_from
        starts, controls, parameters, vectors = [], [], [], []
        for free in frees:
            U = self._controls(problem, free)[:, :head]
            for p in problem.scenario_vectors:
                starts.append(np.asarray(problem.model.x0_internal(p)).ravel())
                controls.append(U)
                parameters.append(np.tile(p[:, None], head))
                vectors.append(p)
        X, W = self._mapped_simulator(head, len(starts))(
            np.column_stack(starts), np.hstack(controls), np.hstack(parameters),
            np.column_stack(vectors))
        X = np.asarray(X).reshape(self.nx, self.K, len(starts), order="F")
        W = np.asarray(W).reshape(self.nx, -1, len(starts), order="F")
        runs = []
        for first in range(0, len(starts), self.S):
            scenarios = range(first, first + self.S)
            runs.append((np.hstack([np.hstack([starts[r][:, None], X[:, :, r]])
                                    for r in scenarios]),
                         np.hstack([W[:, :, r] for r in scenarios])))
        return runs

    def simulate(self, problem: ControlProblem, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``simulate_many`` for one profile."""
        return self.simulate_many(problem, [free])[0]

    def scenario_objectives(self, problem: ControlProblem, X: np.ndarray) -> np.ndarray:
        """The objective output at the horizon of each scenario, from NLP-node states ``X``."""
        output = problem.model.output_function(problem.objective)
        ends = X[:, self.K::self.K + 1]
        return np.array([float(output(ends[:, s], p))
                         for s, p in enumerate(problem.scenario_vectors)])

    def screen_many(self, problem: ControlProblem,
                    frees: Sequence[np.ndarray]) -> list[tuple[float, float]]:
        """For each profile: its objective by simulation, and by how much (relative to its
        limit) it breaks the worst path limit at the collocation points the NLP constrains
        (<= 0: kept)."""
        screened = []
        for X, W in self.simulate_many(problem, frees):
            per_point = np.repeat(problem.scenario_vectors.T, W.shape[1] // self.S, axis=1)
            excess = -np.inf
            for limit, output in zip(problem.path_limits, self._path_outputs, strict=True):
                excess = max(excess, limit.excess(np.asarray(output(W, per_point))))
            screened.append((problem.combine(self.scenario_objectives(problem, X)), excess))
        return screened

    def screen(self, problem: ControlProblem, free: np.ndarray) -> tuple[float, float]:
        """``screen_many`` for one profile."""
        return self.screen_many(problem, [free])[0]

    def objectives_of(self, problem: ControlProblem,
                      frees: Sequence[np.ndarray]) -> list[float]:
        """The objective of each profile by simulation, or +inf where a path limit is broken."""
        return [objective if excess <= 0 else np.inf
                for objective, excess in self.screen_many(problem, frees)]

    def objective_of(self, problem: ControlProblem, free: np.ndarray) -> float:
        """``objectives_of`` for one profile."""
        return self.objectives_of(problem, [free])[0]

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
        n_t, n_epigraph = (1, self.S) if self.worst else (0, 0)  # t is free; its rows <= 0
        lbx = np.concatenate([-inf, lower[:, :H].ravel(order="F"), np.full(n_t, -np.inf)])
        ubx = np.concatenate([inf, upper[:, :H].ravel(order="F"), np.full(n_t, np.inf)])
        # Scoring a fixed profile is a simulation in the NLP's discretisation: its rules and
        # limits are judged by the checker, not imposed. Imposed, a glucose peak a hair above
        # the limit at a collocation point (the screen and the check allow a 1e-4 slack) made
        # such solves infeasible (found by the property test).
        limits = [np.full(rows, np.inf if fix_free is not None else c.limit) for c, rows in zip(
            [*problem.relaxed_constraints, *problem.path_limits], self._usage_rows, strict=True)]
        ubg = np.concatenate([np.zeros(self.n_equalities), *limits, np.zeros(n_epigraph)])
        lbg = np.concatenate([np.zeros(self.n_equalities),
                              np.full(sum(self._usage_rows) + n_epigraph, -np.inf)])
        arguments = {"lbx": lbx, "ubx": ubx, "lbg": lbg, "ubg": ubg,
                     "p": np.concatenate([problem.scenario_vectors.ravel(),
                                          problem.fixed_profile()[:, :H].ravel(order="F")])}
        if warm_start is not None:
            arguments.update(x0=warm_start.primal, lam_x0=warm_start.lam_x,
                             lam_g0=warm_start.lam_g)
        else:
            guess = initial_free if initial_free is not None else self.feasible_guess(problem)
            guess = np.clip(guess, lower, upper)
            X, W = self.simulate(problem, guess)
            t0 = np.full(n_t, self.scenario_objectives(problem, X).max())
            arguments["x0"] = np.concatenate([X.ravel(order="F"), W.ravel(order="F"),
                                              guess[:, :H].ravel(order="F"), t0])
        solver = self._solver("safe" if safe else "warm" if warm_start is not None else "cold")
        result = solver(**arguments)
        stats = solver.stats()
        primal = np.asarray(result["x"]).ravel()
        free = np.zeros((self.n_free, self.N))
        free[:, :H] = primal[nX + nW:nX + nW + nU].reshape(self.n_free, H, order="F")
        free = np.clip(free, lower, upper)
        states = primal[:nX].reshape(self.nx, -1, order="F")
        return Solution(
            objective=problem.combine(self.scenario_objectives(problem, states)),
            lower_bound=float(result["f"]) - EXPOSURE_PENALTY * self.max_exposure,
            free=dict(zip(problem.free_names, free, strict=True)),
            states=states,
            status=str(stats["return_status"]), success=bool(stats["success"]),
            iterations=int(stats["iter_count"]), seconds=time.perf_counter() - started,
            primal=primal, lam_x=np.asarray(result["lam_x"]).ravel(),
            lam_g=np.asarray(result["lam_g"]).ravel())

    def feasible_guess(self, problem: ControlProblem) -> np.ndarray:
        """Spread each free control's budget evenly over its window (feasible for budgets)."""
        lower, upper = self.free_bounds(problem)
        guess = upper.copy()
        for constraint in problem.relaxed_constraints:
            rows = {n: ca.DM(guess[k]).T for k, n in enumerate(problem.free_names)}
            used = float(ca.mmax(constraint.usage({**rows, **self._fixed_rows(problem)},
                                                  problem.grid_step)))
            if used > constraint.limit > 0:
                guess *= 0.99 * constraint.limit / used
            elif used > constraint.limit:
                guess[:] = 0.0
        return np.maximum(guess, lower)

    def _fixed_rows(self, problem: ControlProblem) -> dict:
        fixed = problem.fixed_profile()
        return {n: ca.DM(fixed[k]).T for k, n in enumerate(problem.fixed_names)}
