"""The ``optimise`` command line, one module per command: ``optimise`` (the main command),
``simulate``, ``export``, ``run``, ``fit`` and ``dashboard``; ``common`` holds what they share and
``running`` the path of a run spec from its checks to its report. Further commands come from
the entry-point group ``persister_opt.cli`` (``experiment``, from the experiments package).

Exit codes: 0 success; 1 solver or check failure; 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

# The commands register in this order, the order of --help.
# isort: off
from optimiser.cli import optimise, simulate, export, run_spec, fit, dashboard  # noqa: F401
# isort: on
from optimiser.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    USER_ERRORS,
    UserError,
    app,
    click_error,
    one_line,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "USER_ERRORS", "UserError", "app", "run"]
CLI_ENTRY_POINTS = "persister_opt.cli"  # sub-apps of other packages: register(app) functions

for _point in entry_points(group=CLI_ENTRY_POINTS):
    _point.load()(app)


def run() -> None:
    """Console-script entry point. Click's own usage errors (a missing option, a value of the
    wrong type) become one line and exit code 2, like every other bad input, instead of a
    usage banner and a boxed message."""
    try:
        code = app(prog_name="optimise", standalone_mode=False)
    except click_error() as error:
        message, context = error.format_message(), getattr(error, "ctx", None)
        if error.exit_code == EXIT_BAD_INPUT:  # a usage error: point to the command's help
            command = context.command_path if context is not None else "optimise"
            message = f"{message.rstrip('.')}; see '{command} --help'"
        one_line(message)
        raise SystemExit(error.exit_code) from None
    except typer.Abort:  # click's form of KeyboardInterrupt (Ctrl-C, SIGTERM)
        raise KeyboardInterrupt from None
    raise SystemExit(code if isinstance(code, int) else 0)
