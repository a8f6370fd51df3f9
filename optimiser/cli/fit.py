"""``optimise fit --data FILE.csv --schedules DIR --free r_S,k_S --out DIR``: fit model
parameters to measured tumour volumes (``optimiser.calibration``), with 95 % profile intervals,
and write ``fitted.toml`` (for ``optimise --parameters``), ``ensemble.toml`` (for ``--ensemble
--robust N``), ``fit.json`` and ``fit.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from optimiser.cli.common import (
    JsonOption,
    ParametersOption,
    PresetOption,
    app,
    guarded,
    parameter_set,
    prepare_out,
    run_record,
    stderr,
    stdout,
)
from optimiser.files import RunOutputs


@app.command()
def fit(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(
        "--data", help="CSV of subject,arm,day,volume_mm3 (day 0 = first treatment day)")],
    schedules: Annotated[Path, typer.Option(
        "--schedules", help="directory of <arm>.json dosing schedules, one per arm")],
    free: Annotated[str, typer.Option(
        "--free", help="parameters to fit, separated by commas, e.g. r_S,k_S,alpha (each "
                       "needs a documented range)")],
    out: Annotated[Path, typer.Option(
        "--out", help="directory for fitted.toml, ensemble.toml, fit.json and fit.png")],
    preset: PresetOption = None,
    parameters: ParametersOption = None,
    ranges: Annotated[Path | None, typer.Option(
        help="TOML of ranges.NAME tables (lower, upper, reason): the ranges to fit within "
             "instead of the parameter set's", show_default=False)] = None,
    arms: Annotated[str | None, typer.Option(
        help="fit only these arms: names or shell patterns separated by commas, e.g. "
             "'p11_*,p12_*'", show_default=False)] = None,
    until: Annotated[float | None, typer.Option(
        help="use the measurements up to this day of treatment only", show_default=False)
    ] = None,
    by: Annotated[str, typer.Option(
        help="pooled (one fit of all subjects), arm (one per arm) or subject (one each)")
    ] = "pooled",
    dead_cells: Annotated[bool, typer.Option(
        "--dead-cells", help="dead cells stay in the tumour and clear at k_clear (fit it "
                             "with --free ...,k_clear)")] = False,
    detection_limit: Annotated[float, typer.Option(
        help="mm^3: smaller volumes (and 0) count as censored below it")] = 1.0,
    volume_unit: Annotated[str | None, typer.Option(
        help="unit of the volume column, e.g. cm^3 (default: the file's '# volume unit:' "
             "comment, else mm^3)", show_default=False)] = None,
    starts: Annotated[int, typer.Option(
        help="start points: the parameter set's values, then Latin-hypercube points")] = 3,
    seed: Annotated[int, typer.Option(help="seed of the start points")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Fit parameters to tumour-volume data: estimates, 95 % profile intervals and what the
    data cannot identify."""
    parameters = parameters or ctx.parent.params.get("parameters")
    preset = preset or ctx.parent.params.get("preset") or "persister"
    guarded(_run_fit)(data, schedules, free, out, preset, parameters, ranges, arms, until, by,
                      dead_cells, detection_limit, volume_unit, starts, seed, as_json)


def _run_fit(data: Path, schedules: Path, free: str, out: Path, preset_name: str,
             parameters: Path | None, ranges: Path | None, arms: str | None,
             until: float | None, by: str, dead_cells: bool, detection_limit: float,
             volume_unit: str | None, starts: int, seed: int, as_json: bool) -> None:
    from models.observations import read_observations
    from models.registry import get_preset
    from optimiser.calibration.estimator import CalibrationError
    from optimiser.calibration.fit import FitOptions, fit_observations, prepare, with_ranges
    from optimiser.calibration.outputs import write_fit
    from optimiser.plots import PlotExtraMissing

    if starts < 1:
        raise CalibrationError(f"--starts {starts} must be at least 1; give e.g. --starts 3")
    preset = get_preset(preset_name)
    base = parameter_set(parameters, preset_name)
    if ranges is not None:
        base = with_ranges(base, ranges)
    observations = read_observations(data, schedules, volume_unit)
    if arms is not None:
        observations = observations.of_arms([a.strip() for a in arms.split(",") if a.strip()])
    if until is not None:
        observations = observations.until(until)
    options = FitOptions(free=tuple(n.strip() for n in free.split(",") if n.strip()), by=by,
                         dead_cells=dead_cells, detection_limit=detection_limit, starts=starts,
                         seed=seed, substeps=preset.regimen.substeps)
    prepare(preset.model, base, observations, options)  # every check before any output
    prepare_out(out)
    stderr.print(f"fitting {', '.join(options.free)} to {observations.n_measurements} "
                 f"measurements of {len(observations.subjects)} subjects in "
                 f"{len(observations.arms)} arms ({by})", highlight=False)
    result = fit_observations(preset.model, base, observations, options,
                              progress=lambda line: stderr.print(line, highlight=False))
    with RunOutputs(out, run_record()) as staged:
        stage = staged.directory(out)
        written = write_fit(result, stage)
        try:
            from optimiser.calibration.figure import fit_figure

            written.append(fit_figure(result, stage / "fit.png"))
        except PlotExtraMissing as error:
            stderr.print(f"no fit.png: {error}", highlight=False)
        written = [out / path.relative_to(stage) for path in written]
        staged.commit()
    if as_json:
        print(json.dumps({"files": [str(p) for p in written], "groups": [
            {"name": g.name, "sigma": g.sigma, "neg_log_likelihood": g.estimate.nll,
             "aic": g.aic, "check": g.check_difference,
             "estimates": {i.name: {"value": i.estimate, "lower": i.lower.value,
                                    "upper": i.upper.value, "verdict": i.verdict}
                           for i in g.intervals}} for g in result.groups]}, indent=2))
        return
    stdout.print(estimate_table(result))
    for path in written:
        stdout.print(f"wrote {path}", highlight=False)


def estimate_table(result) -> Table:
    """Group, parameter, estimate, 95 % interval, verdict: fits in 80 columns."""
    table = Table(title=f"fit to {result.observations.source} (95 % profile intervals)")
    for column in ("group", "parameter", "estimate", "95 % interval", "verdict"):
        table.add_column(column, justify="right" if column == "estimate" else "left")
    for group in result.groups:
        for k, interval in enumerate(group.intervals):
            low = "open" if interval.lower.value is None else f"{interval.lower.value:.3g}"
            high = "open" if interval.upper.value is None else f"{interval.upper.value:.3g}"
            table.add_row(group.name if k == 0 else "", interval.name,
                          f"{interval.estimate:.3g}", f"{low} - {high}", interval.verdict)
        table.add_row("", "sigma", f"{group.sigma:.3g}", "",
                      f"-lnL {group.estimate.nll:.1f}, AIC {group.aic:.1f}",
                      end_section=True)
    return table
