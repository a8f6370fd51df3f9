"""``python -m optimiser.cli`` (as ``python -m optimiser``): the ``optimise`` command."""

from optimiser.entry import run

run()
