"""``optimise simulate --schedule FILE``: simulate a schedule with the independent integrator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from optimiser.cli.common import (
    JsonOption,
    OutOption,
    ParametersOption,
    PresetOption,
    app,
    guarded,
    parameter_set,
    prepare_out,
    stdout,
    write_outputs,
)


@app.command()
def simulate(
    ctx: typer.Context,
    schedule: Annotated[Path, typer.Option("--schedule", help="schedule JSON file")],
    parameters: ParametersOption = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    preset: PresetOption = None,
) -> None:
    """Simulate a schedule (e.g. one of the paper's arms) with the independent integrator."""
    parameters = parameters or ctx.parent.params.get("parameters")
    preset = preset or ctx.parent.params.get("preset") or "persister"
    guarded(_run_simulate)(schedule, parameters, as_json, out, preset)


def _run_simulate(path: Path, parameters: Path | None, as_json: bool, out: Path | None,
                  preset_name: str) -> None:
    from models.registry import get_preset
    from models.schedule import Schedule
    from optimiser.simulate import simulate as integrate

    preset = get_preset(preset_name)
    model = preset.model
    schedule = Schedule.read(path)
    schedule.fractions(model)  # validates drugs and doses before integrating
    vector = model.parameter_vector(parameter_set(parameters, preset_name))  # and the set
    prepare_out(out)
    trajectory = integrate(model, vector, schedule)
    summary = (preset.outcome(trajectory, schedule, preset.detection_limit)
               if preset.outcome is not None else
               {name: trajectory.final_output(name) for name in model.output_names})
    if out is not None:
        write_outputs(out, schedule, trajectory)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"simulation of {path.name}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    stdout.print(table)
