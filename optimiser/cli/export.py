"""``optimise export --schedule FILE --format F --out PATH``: write a schedule for another
simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimiser.cli.common import ParametersOption, PresetOption, app, guarded, parameter_set


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
    preset: PresetOption = None,
) -> None:
    """Write a schedule for another simulator (NONMEM/mrgsolve, SBML tools, PhysiCell)."""
    parameters = parameters or ctx.parent.params.get("parameters")
    preset = preset or ctx.parent.params.get("preset") or "persister"
    guarded(_run_export)(schedule, fmt, out, glucose, parameters, preset)


def _run_export(path: Path, fmt: str, out: Path, glucose: bool, parameters: Path | None,
                preset_name: str) -> None:
    from models.registry import get_preset
    from models.schedule import Schedule
    from optimiser.export import default_name, export_schedule

    default_name(fmt)
    preset = get_preset(preset_name)
    schedule = Schedule.read(path)
    model = preset.model_with(("glucose",)) if glucose else preset.model
    written = export_schedule(schedule, model, parameter_set(parameters, preset_name), fmt,
                              out)
    for file in written:
        print(file)
