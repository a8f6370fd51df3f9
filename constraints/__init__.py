"""What a schedule may do: budgets and dosing rules, read by both the optimiser and the checker."""

from constraints.base import Constraint, ConstraintReport
from constraints.budget import BudgetError, DaysOnBudget, parse_budget, parse_days
from constraints.rules import MaxPulses, MaxRun, MinHoliday, RuleError

__all__ = ["BudgetError", "Constraint", "ConstraintReport", "DaysOnBudget", "MaxPulses", "MaxRun",
           "MinHoliday", "RuleError", "parse_budget", "parse_days"]
