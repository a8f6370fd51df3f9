"""``optimise export --schedule FILE --format F --out PATH``: write a schedule for another
simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimiser.cli.common import ParametersOption, app, guarded, parameter_set


@app.command("export")
def export_command(
    ctx: typer.Context,
    schedule: Annotated[Path, typer.Option("--schedule", help="schedule JSON file")],
    fmt: Annotated[str, typer.Option(
        "--format", help="json (schedule JSON, schema-versioned), nonmem (event table CSV + "
                         "sidecar), sbml (model + dose events) or physicell (PhysiPKPD dosing "
                         "CSVs + XML)")],
    out: Annotated[Path, typer.Option(
        "--out", help="file to write (a directory for physicell)")],
    glucose: Annotated[bool, typer.Option(
        "--glucose", help="export the model with the glucose-insulin states (sbml)")] = False,
    parameters: ParametersOption = None,
) -> None:
    """Write a schedule for another simulator (NONMEM/mrgsolve, SBML tools, PhysiCell)."""
    parameters = parameters or ctx.parent.params.get("parameters")
    guarded(_run_export)(schedule, fmt, out, glucose, parameters)


def _run_export(path: Path, fmt: str, out: Path, glucose: bool, parameters: Path | None) -> None:
    from models.persister import persister_model
    from models.schedule import Schedule
    from optimiser.export import default_name, export_schedule

    default_name(fmt)
    schedule = Schedule.read(path)
    written = export_schedule(schedule, persister_model(glucose=glucose),
                              parameter_set(parameters), fmt, out)
    for file in written:
        print(file)
