"""The two roots every error of the project derives from.

``InputError``: the input is at fault (a file, an option, a model or problem definition); the
message says what to give instead, and the CLI exits 2. ``NumericalError``: a solver or an
integrator failed on an input that was acceptable; the CLI exits 1. Both keep the built-in base
they had (ValueError, RuntimeError), so existing ``except`` clauses still catch them.
"""


class InputError(ValueError):
    """Bad input; the message names it and the fix."""


class NumericalError(RuntimeError):
    """A numerical method failed; the message carries its reason."""


class UnreachableError(NumericalError):
    """A well-posed question whose answer is "impossible" (a target no dosing reaches); the
    message gives the best reachable value. The CLI exits 1 with it as it is."""
