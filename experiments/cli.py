"""``optimise experiment NAMES...``: regenerate experiment tables and figures.

The optimiser's CLI knows no experiment (they sit a layer above it): this command is a sub-app
registered in the entry-point group ``persister_opt.cli`` (``register`` adds it to the app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimiser.cli.common import (
    ParametersOption,
    UserError,
    command_line,
    guarded,
    parameter_set,
    prepare_out,
    stderr,
)


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment_command)


def experiment_command(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(
        help="all, or experiment names: paper_arms, budget_sweep, cure_curve, timing_map, "
             "robustness, method_comparison, sensitivity, foxa1_vs_igf1r, calibration_pdx")],
    reduced: Annotated[bool, typer.Option(
        "--reduced", help="small, fast versions (what the tests run)")] = False,
    seed: Annotated[int, typer.Option(help="seed of searches and parameter draws")] = 0,
    results: Annotated[Path | None, typer.Option(
        "--results", help="output directory (default: experiments/results)")] = None,
    parameters: ParametersOption = None,
) -> None:
    """Regenerate experiment tables and figures (CSV, Markdown, PNG, each with provenance)."""
    parameters = parameters or ctx.parent.params.get("parameters")
    guarded(_run_experiments)(names, reduced, seed, results, parameters)


def _run_experiments(names: list[str], reduced: bool, seed: int, results: Path | None,
                     parameters: Path | None) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from experiments.framework import RESULTS_DIR, ExperimentSettings
    from experiments.registry import UnknownExperimentError, run_experiments, select
    from optimiser.plots import require

    chosen = "all" if names == ["all"] else names
    try:
        select(chosen)  # unknown names fail before anything runs
    except UnknownExperimentError as error:
        raise UserError(str(error)) from None
    require("matplotlib")
    require("tabulate")
    out = results or RESULTS_DIR
    prepare_out(out)
    # experiments without a preset of their own run model v1, on its parameters by default
    read = {"parameters": parameter_set(parameters, "persister_v1")} if parameters else {}
    settings = ExperimentSettings(reduced=reduced, seed=seed, out_dir=out,
                                  command=command_line(), **read)
    bars: dict[str, int] = {}
    with Progress(TextColumn("{task.description:<18}"), BarColumn(), TextColumn("{task.fields["
                  "note]}"), TimeElapsedColumn(), console=stderr) as progress:
        def report(experiment: str, done: int, total: int, message: str) -> None:
            if experiment not in bars:
                bars[experiment] = progress.add_task(experiment, total=total, note="")
            progress.update(bars[experiment], completed=done, total=total, note=message)

        written = run_experiments(chosen, settings, report)
    for path in written:
        print(path)
