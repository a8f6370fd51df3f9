"""``python -m optimiser.cli``: the ``optimise`` command."""

from optimiser.cli import run

run()
