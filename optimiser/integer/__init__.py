"""From a relaxed dose profile to an integer schedule over every free drug at once: the rules'
rows (``rules``), the rounding MILP (``rounding``) and the local search (``local_search``)."""

from optimiser.integer.local_search import contiguous_blocks, ranked_value, shift_search
from optimiser.integer.rounding import combinatorial_rounding, solve_milp
from optimiser.integer.rules import LinearRules, linear_rules, max_on, rule_excess

__all__ = ["LinearRules", "combinatorial_rounding", "contiguous_blocks", "linear_rules",
           "max_on", "ranked_value", "rule_excess", "shift_search", "solve_milp"]
