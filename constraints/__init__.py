"""What a schedule may do: budgets and dosing rules, read by both the optimiser and the checker."""

from constraints.base import Constraint, ConstraintReport
from constraints.budget import BudgetError, DaysOnBudget, parse_budget

__all__ = ["BudgetError", "Constraint", "ConstraintReport", "DaysOnBudget", "parse_budget"]
