"""The independent check every reported schedule goes through.

The schedule is re-simulated with scipy's Radau integrator (not the CasADi discretisation), the
objective is compared with the optimiser's prediction, and every constraint is evaluated on the
schedule itself. A failure is reported as such; it is never presented as a success.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from constraints.base import ConstraintReport
from models.schedule import Schedule
from optimiser.problem import ControlProblem
from optimiser.simulate import ATOL, RTOL, Trajectory, integrator_name, simulate

OBJECTIVE_TOLERANCE = 1e-3  # in objective units (decades for a log10 objective)


@dataclass
class CheckReport:
    passed: bool
    predicted_objective: float
    resimulated_objective: float
    difference: float
    tolerance: float
    constraints: list[ConstraintReport]
    problems: list[str] = field(default_factory=list)
    trajectory: Trajectory | None = field(default=None, repr=False)  # nominal parameters
    scenario_objectives: list[float] = field(default_factory=list)  # robust problems only
    summary: dict = field(default_factory=dict)  # the preset's outcome figures, nominal
    integrator: str = "scipy Radau"  # optimiser.simulate.integrator_name of the model

    @property
    def objective_alone_disagrees(self) -> bool:
        """Whether the only problem is the objective's disagreement with the re-simulation
        (every constraint kept, the re-simulation finite): an error of the optimiser's
        discretisation, which a finer one removes (``optimiser.pipeline.optimise``)."""
        return (all(c.passed for c in self.constraints)
                and math.isfinite(self.resimulated_objective) and self.difference > self.tolerance)

    def figures(self) -> dict:
        """The independent figures, for JSON output."""
        summary = {
            "passed": self.passed,
            "integrator": f"{self.integrator} (rtol {RTOL:g}, atol {ATOL:g})",
            "predicted_objective": self.predicted_objective,
            "resimulated_objective": self.resimulated_objective,
            "difference": self.difference,
            "tolerance": self.tolerance,
            "constraints": [vars(c) for c in self.constraints],
            "problems": self.problems,
        }
        if self.scenario_objectives:
            summary["scenario_objectives"] = self.scenario_objectives
        summary.update(self.summary)
        return summary


def check_schedule(problem: ControlProblem, schedule: Schedule, predicted_objective: float,
                   tolerance: float = OBJECTIVE_TOLERANCE) -> CheckReport:
    """A robust problem's objective is re-simulated in every scenario and combined as the
    optimiser combined it; limits must hold in every scenario (path limits at every sample in
    their window, terminal limits at the horizon)."""
    model = problem.model
    trajectory = simulate(model, problem.parameter_vector, schedule)
    scenarios = ([simulate(model, p, schedule) for p in problem.scenario_vectors]
                 if problem.scenarios else [trajectory])
    values = [problem.objective.checked(t, schedule) for t in scenarios]
    reports = [c.check(schedule, model) for c in problem.constraints]
    reports += [limit.report(np.concatenate([limit.values_on(t) for t in scenarios]))
                for limit in problem.path_limits]
    unjudged = CheckReport(False, math.nan, problem.combine(values), math.nan, tolerance,
                           reports, [], trajectory, values if problem.scenarios else [],
                           problem.summary(trajectory) if problem.summary is not None else {},
                           integrator_name(model))
    return judged(unjudged, predicted_objective)


def judged(report: CheckReport, predicted_objective: float) -> CheckReport:
    """``report``'s re-simulation judged against ``predicted_objective``: a schedule scored
    again on a finer discretisation is not simulated again."""
    resimulated, tolerance = report.resimulated_objective, report.tolerance
    difference = abs(resimulated - predicted_objective)
    problems = [f"constraint violated: {r.describe()}" for r in report.constraints
                if not r.passed]
    if not (math.isfinite(resimulated) and difference <= tolerance):
        problems.append(f"re-simulated objective {resimulated:.6g} differs from the optimiser's "
                        f"{predicted_objective:.6g} by {difference:.3g} (tolerance {tolerance:g})")
    return replace(report, passed=not problems, predicted_objective=predicted_objective,
                   difference=difference, problems=problems)
