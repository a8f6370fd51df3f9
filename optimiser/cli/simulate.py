"""``optimise simulate --schedule FILE``: simulate a schedule with the independent integrator;
with ``--stochastic N``, also N runs of the branching process (``optimiser.stochastic``)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from optimiser.cli.common import (
    JsonOption,
    OutOption,
    ParametersOption,
    PresetOption,
    UserError,
    app,
    guarded,
    parameter_set,
    prepare_out,
    run_record,
    stderr,
    stdout,
    write_outputs,
)
from optimiser.files import RunOutputs
from optimiser.stochastic import HYBRID_THRESHOLD_CELLS, MAX_RUNS, StochasticResult


@app.command()
def simulate(
    ctx: typer.Context,
    schedule: Annotated[Path, typer.Option("--schedule", help="schedule JSON file")],
    parameters: ParametersOption = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    preset: PresetOption = None,
    stochastic: Annotated[int | None, typer.Option(
        "--stochastic", metavar="N",
        help=f"also draw N runs (1 to {MAX_RUNS:,}) of the branching process along the mean "
             "path: extinct fraction with its binomial interval against the analytic P(cure), "
             "regrowth days", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(
        help="seed of the stochastic runs (default: the main command's --seed, 0)",
        show_default=False)] = None,
    start_cells: Annotated[str | None, typer.Option(
        "--start-cells", metavar="NAME=COUNT,...",
        help="start of every stochastic run, e.g. S=1000,P=20,R=0 (a scaled-down tumour; "
             "populations left out start empty); default: the model's own initial numbers, "
             f"deterministic above {HYBRID_THRESHOLD_CELLS:.0e} cells (hybrid)",
        show_default=False)] = None,
    poisson_start: Annotated[bool, typer.Option(
        "--poisson-start", help="read --start-cells as the means of Poisson numbers")] = False,
) -> None:
    """Simulate a schedule (e.g. one of the paper's arms) with the independent integrator."""
    parameters = parameters or ctx.parent.params.get("parameters")
    preset = preset or ctx.parent.params.get("preset") or "persister"
    stochastic_options = {"--seed": seed is not None, "--start-cells": start_cells is not None,
                          "--poisson-start": poisson_start}
    seed = seed if seed is not None else ctx.parent.params.get("seed") or 0
    guarded(_run_simulate)(schedule, parameters, as_json, out, preset, stochastic, seed,
                           start_cells, poisson_start, stochastic_options)


def _run_simulate(path: Path, parameters: Path | None, as_json: bool, out: Path | None,
                  preset_name: str, runs: int | None = None, seed: int = 0,
                  start_cells: str | None = None, poisson_start: bool = False,
                  stochastic_options: dict[str, bool] | None = None) -> None:
    from models.registry import get_preset
    from models.schedule import Schedule
    from optimiser.simulate import simulate as integrate
    from optimiser.stochastic import parse_start_cells, simulate_stochastic, validate

    given = [name for name, used in (stochastic_options or {}).items() if used]
    if runs is None and given:
        raise UserError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} "
                        "--stochastic N (the number of stochastic runs)")
    preset = get_preset(preset_name)
    model = preset.model
    schedule = Schedule.read(path)
    schedule.fractions(model)  # validates drugs and doses before integrating
    vector = model.parameter_vector(parameter_set(parameters, preset_name))  # and the set
    start = parse_start_cells(start_cells, poisson_start) if start_cells is not None else None
    if runs is not None:
        validate(model, runs, seed, start)  # and the stochastic request
    prepare_out(out)
    trajectory = integrate(model, vector, schedule)
    summary = (preset.outcome(trajectory, schedule, preset.detection_limit)
               if preset.outcome is not None else
               {name: trajectory.final_output(name) for name in model.output_names})
    result = None
    if runs is not None:
        with _progress(runs) as progress:
            result = simulate_stochastic(trajectory, runs, seed, start,
                                         detection_limit=preset.detection_limit,
                                         progress=progress)
    if out is not None:
        with RunOutputs(out, run_record()) as staged:
            write_outputs(staged.directory(out), schedule, trajectory)
            staged.commit()
    if as_json:
        print(json.dumps(summary if result is None else {**summary,
                                                         "stochastic": result.summary()},
                         indent=2))
        return
    table = Table(title=f"simulation of {path.name}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, _cell(value))
    stdout.print(table)
    if result is not None:
        stdout.print(_stochastic_table(result))


def _cell(value) -> str:
    """A summary figure as a table shows it: numbers to 4 digits, shares as percentages, a
    curve by its first and last day (whole in --json)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and "days" in value:
        days = value["days"]
        return f"days {days[0]:g}-{days[-1]:g} (every day in --json)" if days else "none"
    if isinstance(value, dict):
        return ", ".join(f"{name} {share:.1%}" for name, share in value.items())
    return "not before the horizon" if value is None else str(value)


@contextmanager
def _progress(runs: int):
    """A progress bar on stderr when it is a terminal; nothing otherwise (logs, pipes)."""
    if not stderr.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=stderr, transient=True) as bar:
        task = bar.add_task(f"{runs:,} stochastic runs", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _stochastic_table(result: StochasticResult) -> Table:
    """The stochastic figures in at most 80 columns."""
    table = Table(title=f"{result.runs:,} stochastic runs (seed {result.seed})",
                  show_header=False)
    if result.mode == "hybrid":
        start = f"model's initial numbers; hybrid above {result.threshold_cells:.0e} cells"
    else:
        start = ", ".join(f"{name}={value:g}" for name, value in result.start.items())
        start += " (Poisson means)" if result.mode == "poisson" else " (fixed)"
    day = f"day {result.horizon_days:g}"
    table.add_row("start", start)
    table.add_row(f"extinct at {day}", f"{result.extinct_fraction:.4f} "
                                       f"({result.extinct_runs:,} runs)")
    for level in (0.95, 0.99):
        low, high = result.interval(level)
        table.add_row(f"{level * 100:.0f} % interval", f"{low:.4f} - {high:.4f} (Clopper-Pearson)")
    table.add_row("analytic P(cure)", f"{result.analytic_cure_probability:.4f} ("
                  + ("inside" if result.agrees else "OUTSIDE") + " the 99 % interval)")
    for i, name in enumerate(result.populations):
        table.add_row(f"{name} lineage alive", f"{result.lineage_alive[:, i].mean():.4g} "
                      f"(analytic {result.analytic_lineage_survival[i]:.4g})")
    if result.detection_limit is not None:
        table.add_row(f"no regrowth by {day}", f"{result.no_regrowth_fraction:.4f} (limit "
                      f"{result.detection_limit:.0e} cells from day "
                      f"{result.treatment_end_day:g})")
        quantiles = result.regrowth_quantiles()
        if quantiles is not None:
            table.add_row("regrowth day", " ".join(f"{q}: {v:.1f}"
                                                   for q, v in quantiles.items()))
    table.add_row("time", f"{result.seconds:.1f} s (step {result.step_days:g} d)")
    return table
