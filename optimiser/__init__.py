"""How the best schedule is found, checked and reported; the ``optimise`` CLI lives in ``cli``."""

from optimiser.check import CheckReport, check_schedule
from optimiser.defaults import persister_problem
from optimiser.pipeline import Result, optimise
from optimiser.problem import ControlProblem, ProblemError
from optimiser.simulate import Trajectory, simulate

__all__ = ["CheckReport", "ControlProblem", "ProblemError", "Result", "Trajectory",
           "check_schedule", "optimise", "persister_problem", "simulate"]
