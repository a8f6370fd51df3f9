"""Fast simulation of many candidate schedules, for the rounding, the local search and the study.

CVODES (BDF, tolerance 1e-7) runs interval by interval while any control may be on (it restarts
at each switch) and integrates the drug-free rest in one run; a batch of candidates is one
mapped call. The states come out in the transcription's layout, so the objective and the limits
are evaluated by the very expressions the NLP uses (``transcription.View``).
"""

from __future__ import annotations

from collections.abc import Sequence

import casadi as ca
import numpy as np

from optimiser.objectives import sign
from optimiser.problem import ControlProblem
from optimiser.transcription import Transcription, View, collocation_times, limit_values

SIMULATOR_OPTIONS = {"abstol": 1e-7, "reltol": 1e-7, "max_num_steps": 100000}


class Screening:
    """Simulates candidate free-control profiles (n_free x N) of one problem structure."""

    def __init__(self, transcription: Transcription, grid_step: float, model) -> None:
        self.t = transcription
        x, u, p = (ca.MX.sym("x", self.t.nx), ca.MX.sym("u", self.t.nu),
                   ca.MX.sym("p", self.t.np))
        self._dae = {"x": x, "p": ca.vertcat(u, p), "ode": model.f_internal(x, u, p)}
        times = collocation_times([grid_step], self.t.degree, self.t.substeps)
        integrator = ca.integrator("interval_ode", "cvodes", self._dae, 0.0, times,
                                   SIMULATOR_OPTIONS)
        start = model.bolus_internal(x, u) if model.has_boluses else x  # the dose events
        states = integrator(x0=start, p=ca.vertcat(u, p))["xf"]
        self._step = ca.Function("step", [x, u, p], [states[:, -1], states])
        self._batches: dict[tuple[int, int], ca.Function] = {}
        self._backward: dict[int, ca.Function] = {}

    def _backward_step(self) -> ca.Function:
        """One NLP interval of the extinction states, backward: given w at its end and the
        simulated model states at its start and collocation points, Newton solves the
        transcription's own collocation equations for w at the start and at the points."""
        t = self.t
        nx, nl, n, nz = t.nx, t.nl, t.n_collocation, t.nz
        w_end, x0, Xc = ca.SX.sym("w_end", nl), ca.SX.sym("x0", nx), ca.SX.sym("Xc", nx, n)
        u, p, length = ca.SX.sym("u", t.nu), ca.SX.sym("p", t.np), ca.SX.sym("length")
        unknown = ca.SX.sym("v", nl * n)  # w at the start, then at all points but the last
        w_points = ca.horzcat(ca.reshape(unknown[nl:], nl, n - 1), w_end)
        residual = t.interval(ca.vertcat(x0, unknown[:nl]), ca.vertcat(Xc, w_points), u, p,
                              length)[0]
        rows = [j * nz + nx + i for j in range(n) for i in range(nl)]
        known = ca.vertcat(w_end, x0, ca.vec(Xc), u, p, length)
        solve = ca.rootfinder("backward_interval", "newton",
                              ca.Function("equations", [unknown, known], [residual[rows]]),
                              {"abstol": 1e-12, "max_iter": 30, "error_on_fail": False})
        W_end, X0, XC = ca.MX.sym("w_end", nl), ca.MX.sym("x0", nx), ca.MX.sym("Xc", nx, n)
        U, P, L = ca.MX.sym("u", t.nu), ca.MX.sym("p", t.np), ca.MX.sym("length")
        solution = solve(ca.repmat(W_end, n, 1), ca.vertcat(W_end, X0, ca.vec(XC), U, P, L))
        return ca.Function("backward_step", [W_end, X0, XC, U, P, L],
                           [solution[:nl], ca.horzcat(ca.reshape(solution[nl:], nl, n - 1),
                                                      W_end)])

    def _backward_many(self, count: int) -> ca.Function:
        """``count`` backward sweeps over every NLP interval (intervals given last first)."""
        if count not in self._backward:
            self._backward[count] = self._backward_step().mapaccum(self.t.K).map(count)
        return self._backward[count]

    def lineages(self, X: np.ndarray, W: np.ndarray, controls: np.ndarray,
                 vectors: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The extinction states of simulated runs (one per column block of X and W, with
        their control columns and parameter vectors): w at the nodes, (nl, (K + 1) * runs),
        and at the collocation points, (nl, points * runs)."""
        t = self.t
        K, n, runs = t.K, t.n_collocation, len(vectors)
        U = np.zeros((t.nu, K))  # the NLP's intervals; no drug after the given columns
        U[:, :controls.shape[1]] = controls
        reverse = np.arange(K)[::-1]
        starts = X.reshape(t.nx, K + 1, runs, order="F")[:, :K]
        points = W.reshape(t.nx, n, K, runs, order="F")
        w_start, w_points = self._backward_many(runs)(
            np.zeros((t.nl, runs)),
            starts[:, reverse].reshape(t.nx, -1, order="F"),
            points[:, :, reverse].reshape(t.nx, -1, order="F"),
            np.tile(U[:, reverse], runs),
            np.column_stack([np.tile(v[:, None], K) for v in vectors]),
            np.tile(t.steps[reverse], runs)[None, :])
        w_start = np.asarray(w_start).reshape(t.nl, K, runs, order="F")[:, reverse]
        w_points = np.asarray(w_points).reshape(t.nl, n, K, runs, order="F")[:, :, reverse]
        nodes = np.concatenate([w_start, np.zeros((t.nl, 1, runs))], axis=1)
        return nodes.reshape(t.nl, -1, order="F"), w_points.reshape(t.nl, -1, order="F")

    def _mapped(self, head: int, count: int) -> ca.Function:
        """``count`` independent runs of (x0, U, P, p) -> (states at the end of each interval,
        at each collocation time): the first ``head`` intervals one by one (controls U and
        parameters P per interval), the rest of the NLP grid with every control off in one
        CVODES run, which keeps its step size across the drug-free tail (measured on the
        default problem: 2.6 ms against 5.8 ms per simulation, restarting in each of the 60
        tail intervals). Creating these is cheap; one is kept per (head, count). Serial: a
        "thread" map measured no faster (the CVODES runs did not overlap)."""
        if (head, count) not in self._batches:
            t = self.t
            x0, p = ca.MX.sym("x0", t.nx), ca.MX.sym("p", t.np)
            U, P = ca.MX.sym("U", t.nu, head), ca.MX.sym("P", t.np, head)
            nodes, points, x_end = [], [], x0
            if head:
                X, W = self._step.mapaccum(head)(x0, U, P)
                nodes, points, x_end = [X], [W], X[:, -1]
            if head < t.K:
                tail = ca.integrator("drug_free", "cvodes", self._dae, 0.0,
                                     collocation_times(t.steps[head:], t.degree, t.substeps),
                                     SIMULATOR_OPTIONS)
                W = tail(x0=x_end, p=ca.vertcat(ca.DM.zeros(t.nu), p))["xf"]
                nodes.append(W[:, t.n_collocation - 1::t.n_collocation])  # tau = 1
                points.append(W)
            run = ca.Function("simulate", [x0, U, P, p],
                              [ca.horzcat(*nodes), ca.horzcat(*points)])
            self._batches[head, count] = run.map(count)
        return self._batches[head, count]

    def simulate_many(self, problem: ControlProblem,
                      frees: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each free-control profile (n_free x N): states at the NLP's nodes and
        collocation points, in its discretisation and layout (scenarios side by side); one
        mapped call for the whole batch."""
        if not frees:
            return []
        t = self.t
        head = problem.drug_free_from
        starts, controls, parameters, vectors = [], [], [], []
        for free in frees:
            U = t.controls(problem, free)[:, :head]
            for p in problem.scenario_vectors:
                starts.append(np.asarray(problem.model.x0_internal(p)).ravel())
                controls.append(U)
                parameters.append(np.tile(p[:, None], head))
                vectors.append(p)
        X, W = self._mapped(head, len(starts))(
            np.column_stack(starts), np.hstack(controls), np.hstack(parameters),
            np.column_stack(vectors))
        X = np.asarray(X).reshape(t.nx, t.K, len(starts), order="F")
        W = np.asarray(W).reshape(t.nx, -1, len(starts), order="F")
        runs = []
        for first in range(0, len(starts), t.S):
            scenarios = range(first, first + t.S)
            nodes = np.hstack([np.hstack([starts[r][:, None], X[:, :, r]]) for r in scenarios])
            points = np.hstack([W[:, :, r] for r in scenarios])
            if t.nl:
                w_nodes, w_points = self.lineages(
                    nodes, points, controls[first], [vectors[r] for r in scenarios])
                nodes, points = np.vstack([nodes, w_nodes]), np.vstack([points, w_points])
            runs.append((nodes, points))
        return runs

    def views(self, problem: ControlProblem, free: np.ndarray, X: np.ndarray,
              W: np.ndarray) -> list[View]:
        """Numeric views of a simulated (or solved) profile, one per scenario."""
        return self.t.split(X, W, self.t.controls(problem, free), problem.scenario_vectors.T)

    def scenario_objectives(self, problem: ControlProblem, views: list[View]) -> np.ndarray:
        """The objective of each scenario (its own sense, not signed)."""
        return np.array([float(problem.objective.expression(v)) for v in views])

    def limit_excess(self, problem: ControlProblem, views: list[View]) -> float:
        """By how much the worst limit is broken at the points the NLP constrains (<= 0:
        kept; relative for path limits, in output units for terminal ones)."""
        excess = -np.inf
        for limit in problem.path_limits:
            values = np.concatenate([np.asarray(limit_values(limit, v)).ravel() for v in views])
            excess = max(excess, limit.excess(values))
        return excess

    def screen_many(self, problem: ControlProblem, frees: Sequence[np.ndarray],
                    outputs: Sequence[str] = ()) -> list[tuple[float, ...]]:
        """For each profile: its objective by simulation, combined over the scenarios, by
        how much it breaks the worst limit (<= 0: kept), then the mean over the scenarios of
        each of ``outputs`` at the horizon (what a study shows beside its trials)."""
        screened = []
        for free, (X, W) in zip(frees, self.simulate_many(problem, frees), strict=True):
            views = self.views(problem, free, X, W)
            shown = [float(np.mean([float(v.output_at_end(name)) for v in views]))
                     for name in outputs]
            screened.append((problem.combine(self.scenario_objectives(problem, views)),
                             self.limit_excess(problem, views), *shown))
        return screened

    def costs(self, problem: ControlProblem, frees: Sequence[np.ndarray]) -> list[float]:
        """What the integer search minimises: the objective signed by its sense, or +inf
        where a limit is broken."""
        factor = sign(problem.objective)
        return [factor * objective if excess <= 0 else np.inf
                for objective, excess in self.screen_many(problem, frees)]
