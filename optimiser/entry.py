"""The ``optimise`` console script: the interrupt handler first, then the CLI.

Installed before anything heavy is imported, so Ctrl-C or SIGTERM at any moment, even while
CasADi loads, ends the command with one line and exit code 130 (``optimiser.interrupts``).
"""

from __future__ import annotations

from optimiser import interrupts


def run() -> None:
    interrupts.install()
    try:
        from optimiser.cli import run as run_cli

        run_cli()
    except KeyboardInterrupt:
        interrupts.announce()
        raise SystemExit(interrupts.EXIT_INTERRUPTED) from None
