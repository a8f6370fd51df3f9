"""``optimise [OPTIONS]``: optimise the IGF-1R inhibitor schedule under the budget (the main
command, the app's callback). The options become a ``RunSpec``; ``--save-spec FILE`` writes it
as a run file for ``optimise run FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimiser.cli.common import (
    JsonOption,
    OutOption,
    ParametersOption,
    PresetOption,
    app,
    guarded,
)
from optimiser.cli.running import execute
from optimiser.spec import RunSpec


@app.callback()
def main(
    ctx: typer.Context,
    preset: PresetOption = None,
    budget: Annotated[list[str] | None, typer.Option(
        help="budget of every free drug: days on (10d, 240h, 1.5w, 10) or exposure "
             "(auc:300uM*h); or DRUG=BUDGET, once per drug (default: the preset's, 10d)",
        show_default=False)] = None,
    free: Annotated[str | None, typer.Option(
        help="drugs to optimise, separated by commas (default: the preset's, "
             "igf1r_inhibitor); a drug the preset fixes is then free on its treatment days",
        show_default=False)] = None,
    objective: Annotated[str | None, typer.Option(
        help="an output at the horizon (default: log10_total_cells), cure (the most likely "
             "cure: fewest expected surviving lineages), exposure[:DRUG] (least drug; no "
             "budget on it unless given) or integral:OUTPUT", show_default=False)
    ] = None,
    target_cure: Annotated[float | None, typer.Option(
        help="the least exposure of the free drug whose P(cure) reaches this probability, "
             "e.g. 0.95 (--objective exposure --min-final cure_probability=0.95)",
        show_default=False)] = None,
    max_final: Annotated[list[str] | None, typer.Option(
        help="OUTPUT=VALUE: the output at the horizon at most VALUE, e.g. "
             "log10_total_cells=2", show_default=False)] = None,
    min_final: Annotated[list[str] | None, typer.Option(
        help="OUTPUT=VALUE: the output at the horizon at least VALUE", show_default=False)
    ] = None,
    continuous: Annotated[bool, typer.Option(
        "--continuous", help="report the relaxed optimum itself: any dose within the "
                             "bounds on every interval, no rounding")] = False,
    treatment_days: Annotated[float | None, typer.Option(
        help="fixed drugs (osimertinib) are given on days [0, treatment-days); the free ones "
             "only then (default: the preset's, 40)", show_default=False)] = None,
    horizon: Annotated[float | None, typer.Option(
        help="end of follow-up, days (default: the preset's, 100)", show_default=False)] = None,
    grid: Annotated[float | None, typer.Option(
        help="control grid step, days (default: the preset's, 1)", show_default=False)] = None,
    max_run: Annotated[str | None, typer.Option(
        help="longest run of consecutive IGF-1R inhibitor days, e.g. 5d")] = None,
    min_holiday: Annotated[str | None, typer.Option(
        help="shortest break between IGF-1R inhibitor pulses, e.g. 3d")] = None,
    max_pulses: Annotated[int | None, typer.Option(
        help="most IGF-1R inhibitor pulses (runs of dosing days)")] = None,
    dose_levels: Annotated[str | None, typer.Option(
        help="allowed IGF-1R inhibitor daily doses in mg/kg, e.g. 6.25,12.5,25 "
             "(default: 25 only, i.e. on/off)")] = None,
    max_glucose: Annotated[str | None, typer.Option(
        help="highest blood glucose at any time, e.g. 180 (mg/dL) or 10mmol/L; adds the "
             "glucose-insulin model")] = None,
    trials: Annotated[int | None, typer.Option(
        help="run an Optuna study until it holds this many completed trials (default 40 when "
             "--study, --storage, --workers or --pareto is given; otherwise no study)")] = None,
    study: Annotated[str | None, typer.Option(
        help="study name; the same command again resumes it (default: named after the "
             "problem)")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL, e.g. postgresql+psycopg://user:pass@host/db (default: "
             "SQLite file in --runs-dir)", show_default=False)] = None,
    runs_dir: Annotated[Path, typer.Option(help="directory of the default study file")] = Path(
        "runs"),
    workers: Annotated[int, typer.Option(help="worker processes on the study")] = 1,
    pareto: Annotated[bool, typer.Option(
        "--pareto", help="find the front of residual tumour against IGF-1R inhibitor "
                         "exposure and write it as CSV")] = False,
    search_mode: Annotated[str, typer.Option(
        help="coupled (CasADi inside each trial), simulation or random (baselines)")
    ] = "coupled",
    seed: Annotated[int, typer.Option(help="sampler seed (worker k adds 1000 k)")] = 0,
    heartbeat: Annotated[int, typer.Option(
        help="seconds between a running trial's heartbeats")] = 10,
    grace: Annotated[int, typer.Option(
        help="seconds without a heartbeat after which a trial counts as crashed and is "
             "retried")] = 30,
    robust: Annotated[int | None, typer.Option(
        help="optimise over N parameter sets drawn (with --seed) from the preset's ensemble "
             "around the parameter set, in one CasADi problem")] = None,
    robust_mode: Annotated[str, typer.Option(
        help="robust objective: mean (expected log10 residual) or worst (worst case)")
    ] = "mean",
    parameters: ParametersOption = None,
    ensemble: Annotated[Path | None, typer.Option(
        help="ensemble TOML that --robust N draws from (default: the preset's), e.g. the "
             "ensemble.toml of 'optimise fit'", show_default=False)] = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    plot: Annotated[str | None, typer.Option(
        help="write a PNG: cells, failure probability, doses, exposure and glucose on one "
             "time axis (with --pareto: the front); needs the plot extra")] = None,
    export: Annotated[str | None, typer.Option(
        help="also export the schedule into --out (default: the current directory) as json, "
             "nonmem, sbml or physicell")] = None,
    save_spec: Annotated[Path | None, typer.Option(
        help="also write these settings as a TOML run file (for 'optimise run FILE') once "
             "they pass their checks", show_default=False)] = None,
) -> None:
    """Without a sub-command: optimise the IGF-1R inhibitor schedule under the budget."""
    if ctx.invoked_subcommand is not None:
        return

    def run() -> None:  # the spec's validation fails inside the guard, like every check
        spec = RunSpec.from_options(
            preset=preset or "persister", budget=budget, free=free, objective=objective,
            target_cure=target_cure, max_final=max_final, min_final=min_final,
            continuous=continuous,
            treatment_days=treatment_days, horizon=horizon, grid=grid,
            max_run=max_run, min_holiday=min_holiday, max_pulses=max_pulses,
            dose_levels=dose_levels, max_glucose=max_glucose, trials=trials, study=study,
            storage=storage, runs_dir=runs_dir, workers=workers, pareto=pareto,
            search_mode=search_mode, seed=seed, heartbeat=heartbeat, grace=grace,
            robust=robust, robust_mode=robust_mode, parameters=parameters, ensemble=ensemble,
            as_json=as_json,
            out=out, plot=plot, export=export)
        execute(spec, save_spec)

    guarded(run)()
