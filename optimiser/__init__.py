"""How the best schedule is found, checked and reported; the ``optimise`` CLI lives in ``cli``."""

from optimiser.check import CheckReport, check_schedule
from optimiser.objectives import (
    Cure,
    Exposure,
    ExposureRegulariser,
    Integral,
    Objective,
    ScenarioMean,
    Terminal,
    WorstCase,
)
from optimiser.pipeline import Result, optimise
from optimiser.problem import ControlProblem, ProblemError
from optimiser.simulate import Trajectory, simulate

__all__ = ["CheckReport", "ControlProblem", "Cure", "Exposure", "ExposureRegulariser", "Integral",
           "Objective", "ProblemError", "Result", "ScenarioMean", "Terminal", "Trajectory",
           "WorstCase", "check_schedule", "optimise", "simulate"]
