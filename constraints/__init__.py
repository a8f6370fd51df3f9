"""What a schedule may do: budgets, dosing rules and output limits, read by both the optimiser
and the checker."""

from constraints.base import Constraint, ConstraintReport
from constraints.budget import (
    AmountBudget,
    AucBudget,
    BudgetError,
    DaysOnBudget,
    parse_budget,
    parse_days,
)
from constraints.path import OutputLimit, PathLimitError, TerminalLimit
from constraints.rules import DoseLevels, MaxPulses, MaxRun, MinHoliday, NotTogether, RuleError

__all__ = ["AmountBudget", "AucBudget", "BudgetError", "Constraint", "ConstraintReport",
           "DaysOnBudget", "DoseLevels", "MaxPulses", "MaxRun", "MinHoliday", "NotTogether",
           "OutputLimit", "PathLimitError", "RuleError", "TerminalLimit", "parse_budget",
           "parse_days"]
