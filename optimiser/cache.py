"""Compiled solvers, one per problem structure and process (building one takes 0.1-30 s).

Values (budgets, parameters, limits) are bounds or NLP parameters, so every problem of one
structure shares a solver. IPOPT with MUMPS is not thread-safe: worker processes each build
their own; nothing here is shared between processes.
"""

from __future__ import annotations

from collections.abc import Iterator

from optimiser.nlp import CollocationSolver
from optimiser.problem import ControlProblem


class SolverCache:
    """Solvers by ``ControlProblem.structure_key()``, oldest first."""

    def __init__(self) -> None:
        self._solvers: dict[tuple, CollocationSolver] = {}

    def solver_for(self, problem: ControlProblem) -> CollocationSolver:
        key = problem.structure_key()
        if key not in self._solvers:
            self._solvers[key] = CollocationSolver(problem)
        return self._solvers[key]

    def evict(self, keep: int) -> list[tuple]:
        """Drop the oldest solvers until ``keep`` remain; returns the dropped keys."""
        dropped = list(self._solvers)[:max(0, len(self._solvers) - keep)]
        for key in dropped:
            del self._solvers[key]
        return dropped

    def clear(self) -> None:
        self._solvers.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._solvers

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._solvers)

    def __len__(self) -> int:
        return len(self._solvers)


SOLVERS = SolverCache()


def solver_for(problem: ControlProblem) -> CollocationSolver:
    """The compiled solver for this problem's structure (built once per process)."""
    return SOLVERS.solver_for(problem)
