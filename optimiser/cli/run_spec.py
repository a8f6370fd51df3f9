"""``optimise run SPEC.toml``: run a run file (see optimiser.spec; ``optimise --save-spec FILE``
writes one). The file holds every setting, so options before ``run`` are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimiser.cli.common import UserError, app, guarded
from optimiser.cli.running import execute
from optimiser.spec import RunSpec


@app.command("run")
def run_command(
    ctx: typer.Context,
    spec: Annotated[Path, typer.Argument(
        metavar="SPEC.toml", show_default=False,
        help="TOML run file: problem, search and outputs tables with the options' names "
             "(optimise --save-spec FILE writes one)")],
) -> None:
    """Run a TOML run file: the same run as the command line it describes."""
    guarded(_run)(ctx, spec)


def _run(ctx: typer.Context, path: Path) -> None:
    given = [param.opts[0] for param in ctx.parent.command.params
             if (source := ctx.parent.get_parameter_source(param.name)) is not None
             and source.name != "DEFAULT"]
    if given:
        raise UserError(f"'optimise run' takes every setting from its run file, but "
                        f"{', '.join(given)} came before 'run'; leave them out or put them in "
                        "the run file")
    execute(RunSpec.read(path))
