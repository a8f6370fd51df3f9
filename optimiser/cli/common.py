"""What every command shares: the app, the consoles, the guard that turns errors into exit
codes and one line on stderr, the shared options and the output-directory checks.

Exit codes: 0 success; 1 solver or check failure; 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from models.errors import InputError, NumericalError, UnreachableError
from models.parameters import ParameterSet
from models.registry import get_preset
from models.schedule import Schedule
from optimiser.files import write_text_atomic
from optimiser.interrupts import received
from optimiser.search import masked
from optimiser.spec import prepare_directory

# Every error class of the project derives from one of the two roots (models/errors.py).
USER_ERRORS = (InputError,)
EXIT_FAILURE, EXIT_BAD_INPUT = 1, 2



class _FlagsTakeNoValue:
    """typer 0.29 prints a value type beside every option in help, flags included
    (``--json <bool>``), which reads as if a flag took a value (``--json true`` is an error).
    A flag takes none, so its placeholder is empty."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Group(_FlagsTakeNoValue, typer.core.TyperGroup):
    pass


class _Command(_FlagsTakeNoValue, typer.core.TyperCommand):
    pass


class _App(typer.Typer):
    """Every command, including those other packages register, gets the flag help above."""

    def command(self, *args, **kwargs):
        kwargs.setdefault("cls", _Command)
        return super().command(*args, **kwargs)


app = _App(cls=_Group, add_completion=False, invoke_without_command=True,
           no_args_is_help=False,
           help="Optimise when to give a transient IGF-1R inhibitor with osimertinib.")
stdout = Console()
stderr = Console(stderr=True)

ParametersOption = Annotated[Path | None, typer.Option(
    "--parameters", help="parameter-set TOML file (default: the built-in set)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]
OutOption = Annotated[Path | None, typer.Option(
    "--out", help="directory for schedule.json and trajectories.csv")]
PresetOption = Annotated[str | None, typer.Option(
    "--preset", help="model, parameters, ensemble and regimen: a registered preset's name "
                     "(default persister) or module:function / path/to/file.py:function")]


class UserError(InputError):
    """Bad input found by the CLI itself."""


def fail(message: str, code: int) -> None:
    one_line(message)
    raise typer.Exit(code)


def guarded(function):
    """Turn user errors into one line and exit code 2, whatever raised them; any error after
    Ctrl-C or SIGTERM (CasADi's failed call or solve) is the interrupt (exit 130)."""
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except typer.Exit:  # click's Exit is a RuntimeError: let a chosen exit code through
            raise
        except Exception as error:
            if received():
                raise KeyboardInterrupt from None
            _report(error)
    return run


def _report(error: Exception) -> None:
    if isinstance(error, InputError):
        fail(str(error), EXIT_BAD_INPUT)
    if isinstance(error, UnreachableError):  # an answer, not a failure
        fail(str(error), EXIT_FAILURE)
    if isinstance(error, NumericalError):  # solver, rounding or integrator failure
        fail(f"numerical failure: {error}", EXIT_FAILURE)
    if os.environ.get("PERSISTER_DEBUG"):  # a bug: one line, unless asked for the trace
        raise error
    fail(f"internal error ({type(error).__name__}: {error}); please report it, with the "
         "command; PERSISTER_DEBUG=1 shows the traceback", EXIT_FAILURE)


def one_line(message: str) -> None:
    stderr.print(f"error: {' '.join(message.split())}", markup=False, highlight=False,
                 soft_wrap=True)


def command_line() -> str:
    """The command for provenance, with passwords in storage URLs masked."""
    return " ".join(["optimise", *(masked(a) if "://" in a else a for a in sys.argv[1:])])


def run_record() -> dict:
    """What names a run in the manifest of its output directory."""
    from datetime import UTC, datetime
    from importlib.metadata import version

    return {"command": command_line(), "persister_opt": version("persister-opt"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds")}


def parameter_set(path: Path | None, preset: str = "persister") -> ParameterSet:
    """The parameter file's set, or the preset's."""
    return get_preset(preset).read_parameters(path) if path else get_preset(preset).parameters


def prepare_out(out: Path | None, option: str = "--out") -> None:
    """Make sure ``out`` is a writable directory before any solve (see spec.prepare_directory)."""
    prepare_directory(out, option)


def write_outputs(out: Path, schedule: Schedule, trajectory) -> None:
    """``schedule.json`` and ``trajectories.csv`` (states and outputs per time) into ``out``."""
    import pandas as pd

    table = pd.DataFrame({"day": trajectory.times, **trajectory.states})
    for name in trajectory.model.output_names:
        table[name] = trajectory.output(name)
    write_text_atomic(out / "schedule.json", schedule.to_json() + "\n")
    write_text_atomic(out / "trajectories.csv", table.to_csv(index=False))


def click_error() -> type[Exception]:
    """Click's error base class, found through typer's public BadParameter: typer >= 0.25
    vendors click (``typer._click``), older versions raise the click package's own classes."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
