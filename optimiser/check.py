"""The independent check every reported schedule goes through.

The schedule is re-simulated with scipy's Radau integrator (not the CasADi discretisation), the
objective is compared with the optimiser's prediction, and every constraint is evaluated on the
schedule itself. A failure is reported as such; it is never presented as a success.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from constraints.base import ConstraintReport
from models.schedule import Schedule
from optimiser.problem import ControlProblem
from optimiser.simulate import Trajectory, simulate

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
    trajectory: Trajectory | None = field(default=None, repr=False)

    def figures(self) -> dict:
        """The independent figures, for JSON output."""
        summary = {
            "passed": self.passed,
            "integrator": "scipy Radau (rtol 1e-10, atol 1e-10)",
            "predicted_objective": self.predicted_objective,
            "resimulated_objective": self.resimulated_objective,
            "difference": self.difference,
            "tolerance": self.tolerance,
            "constraints": [vars(c) for c in self.constraints],
            "problems": self.problems,
        }
        if self.trajectory is not None and "total_cells" in self.trajectory.model.output_names:
            total = self.trajectory.output("total_cells")
            k = int(np.argmin(total))
            summary.update(
                minimum_cells=float(total[k]), day_of_minimum=float(self.trajectory.times[k]),
                final_cells=float(total[-1]), cure_probability=float(math.exp(-total[-1])))
        return summary


def check_schedule(problem: ControlProblem, schedule: Schedule, predicted_objective: float,
                   tolerance: float = OBJECTIVE_TOLERANCE) -> CheckReport:
    model = problem.model
    trajectory = simulate(model, problem.parameter_vector, schedule)
    resimulated = trajectory.final_output(problem.objective)
    difference = abs(resimulated - predicted_objective)
    reports = [c.check(schedule, model) for c in problem.constraints]
    problems = [f"constraint violated: {r.describe()}" for r in reports if not r.passed]
    if not (math.isfinite(resimulated) and difference <= tolerance):
        problems.append(f"re-simulated objective {resimulated:.6g} differs from the optimiser's "
                        f"{predicted_objective:.6g} by {difference:.3g} (tolerance {tolerance:g})")
    return CheckReport(not problems, predicted_objective, resimulated, difference, tolerance,
                       reports, problems, trajectory)
