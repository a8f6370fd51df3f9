"""The ``optimise`` command: ``optimise --budget 10d`` and ``optimise simulate --schedule FILE``.

Exit codes: 0 success; 1 solver or check failure; 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from constraints.budget import (
    BudgetError,
    is_auc_budget,
    parse_auc_budget,
    parse_budget,
    parse_days,
)
from constraints.path import PathLimitError, parse_glucose
from constraints.rules import RuleError
from models.model import ModelError
from models.parameters import ParameterError, ParameterSet
from models.persister import IGF1R_INHIBITOR, default_parameters, persister_model
from models.persister.outcome import DETECTION_LIMIT_CELLS
from models.schedule import Schedule, ScheduleError
from optimiser.nlp import SolverError
from optimiser.export import ExportError, default_name, export_schedule, require_format
from optimiser.files import write_text_atomic
from optimiser.plots import PlotExtraMissing, require
from optimiser.problem import ProblemError
from optimiser.search import SearchError, masked

USER_ERRORS = (BudgetError, ParameterError, ScheduleError, ProblemError, ModelError, RuleError,
               PathLimitError, SearchError, ExportError, PlotExtraMissing)
EXIT_FAILURE, EXIT_BAD_INPUT = 1, 2

app = typer.Typer(add_completion=False, invoke_without_command=True, no_args_is_help=False,
                  help="Optimise when to give a transient IGF-1R inhibitor with osimertinib.")
stdout = Console()
stderr = Console(stderr=True)

ParametersOption = Annotated[Path | None, typer.Option(
    "--parameters", help="parameter-set TOML file (default: the built-in set)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object on stdout")]
OutOption = Annotated[Path | None, typer.Option(
    "--out", help="directory for schedule.json and trajectories.csv")]


class UserError(Exception):
    """Bad input found by the CLI itself."""


def _fail(message: str, code: int) -> None:
    _one_line(message)
    raise typer.Exit(code)


def _guarded(function):
    """Turn user errors into one line and exit code 2, whatever raised them."""
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except typer.Exit:  # click's Exit is a RuntimeError: let a chosen exit code through
            raise
        except (*USER_ERRORS, UserError) as error:
            _fail(str(error), EXIT_BAD_INPUT)
        except RuntimeError as error:  # solver, rounding or integrator failure: not the user's
            _fail(f"numerical failure: {error}", EXIT_FAILURE)
        except Exception as error:  # a bug: one line, unless PERSISTER_DEBUG asks for the trace
            if os.environ.get("PERSISTER_DEBUG"):
                raise
            _fail(f"internal error ({type(error).__name__}: {error}); please report it, with "
                  "the command; PERSISTER_DEBUG=1 shows the traceback", EXIT_FAILURE)
    return run


def _parameters(path: Path | None) -> ParameterSet:
    return ParameterSet.from_toml(path) if path else default_parameters()


def _command_line() -> str:
    """The command for provenance, with passwords in storage URLs masked."""
    return " ".join(["optimise", *(masked(a) if "://" in a else a for a in sys.argv[1:])])


def _prepare_out(out: Path | None, option: str = "--out") -> None:
    """Make sure ``out`` is a writable directory before any solve (``option`` names the flag
    to change), so a long run cannot end in an unwritable output."""
    if out is None:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as error:
        blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
        reason = (f"{str(blocker)!r} is a file, not a directory" if blocker is not None
                  else error.strerror or str(error))
        raise UserError(f"cannot write to output directory {str(out)!r} ({reason}); choose a "
                        f"writable {option}") from None


def _write_outputs(out: Path, schedule: Schedule, trajectory) -> None:
    import pandas as pd

    table = pd.DataFrame({"day": trajectory.times, **trajectory.states})
    for name in trajectory.model.output_names:
        table[name] = trajectory.output(name)
    write_text_atomic(out / "schedule.json", schedule.to_json() + "\n")
    write_text_atomic(out / "trajectories.csv", table.to_csv(index=False))


@app.callback()
def main(
    ctx: typer.Context,
    budget: Annotated[str, typer.Option(
        help="IGF-1R inhibitor budget: days on (10d, 240h, 1.5w, 10) or exposure "
             "(auc:300uM*h)")] = "10d",
    treatment_days: Annotated[float, typer.Option(
        help="osimertinib is given on days [0, treatment-days); the inhibitor only then")] = 40.0,
    horizon: Annotated[float, typer.Option(help="end of follow-up, days")] = 100.0,
    grid: Annotated[float, typer.Option(help="control grid step, days")] = 1.0,
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
        help="optimise over N parameter sets drawn (with --seed) from the built-in ensemble "
             "around the parameter set, in one CasADi problem")] = None,
    robust_mode: Annotated[str, typer.Option(
        help="robust objective: mean (expected log10 residual) or worst (worst case)")
    ] = "mean",
    parameters: ParametersOption = None,
    as_json: JsonOption = False,
    out: OutOption = None,
    plot: Annotated[Path | None, typer.Option(
        help="write a PNG: cell trajectories and the schedule (with --pareto: the front); "
             "needs the plot extra")] = None,
    export: Annotated[str | None, typer.Option(
        help="also export the schedule into --out (default: the current directory) as json, "
             "nonmem, sbml or physicell")] = None,
) -> None:
    """Without a sub-command: optimise the IGF-1R inhibitor schedule under the budget."""
    if ctx.invoked_subcommand is not None:
        return
    problem_options = {"budget": budget, "treatment_days": treatment_days, "horizon": horizon,
                       "grid": grid, "max_run": max_run, "min_holiday": min_holiday,
                       "max_pulses": max_pulses, "dose_levels": dose_levels,
                       "max_glucose": max_glucose, "robust": robust, "robust_mode": robust_mode,
                       "seed": seed, "parameters": parameters}
    search = {"trials": trials, "study": study, "storage": storage, "runs_dir": runs_dir,
              "workers": workers, "pareto": pareto, "mode": search_mode, "seed": seed,
              "heartbeat_s": heartbeat, "grace_s": grace}
    outputs = {"as_json": as_json, "out": out, "plot": plot, "export": export}
    _guarded(_run_optimise)(problem_options, search, outputs)


def _search_settings(options: dict):
    """The study settings, or None when no study was asked for."""
    from optimiser.search import SearchSettings

    asked = (options["trials"] is not None or options["study"] or options["storage"]
             or options["workers"] != 1 or options["pareto"] or options["mode"] != "coupled")
    if not asked:
        return None
    trials = 40 if options["trials"] is None else options["trials"]  # --trials 0 is refused
    return SearchSettings(**{**options, "trials": trials})


def _build_problem(options: dict):
    """The problem the options describe, and the dose levels (fractions of the reference)."""
    from optimiser.defaults import persister_problem
    from optimiser.problem import SCENARIO_MODES

    if options["robust_mode"] not in SCENARIO_MODES:  # before the draws, not after
        raise UserError(f"scenario mode {options['robust_mode']!r} is not one of "
                        f"{list(SCENARIO_MODES)}; give --robust-mode mean or worst")
    if options["robust"] is None and options["robust_mode"] != "mean":
        raise UserError(f"--robust-mode needs --robust N (the number of parameter samples); "
                        f"add e.g. --robust 8, or leave out --robust-mode "
                        f"{options['robust_mode']}")
    budget = options["budget"]
    if is_auc_budget(budget):
        limits = {"budget_days": 0.0, "auc_budget": parse_auc_budget(budget)}
    else:
        limits = {"budget_days": parse_budget(budget)}
    max_run, min_holiday = options["max_run"], options["min_holiday"]
    max_glucose = options["max_glucose"]
    rules = {"max_run": parse_days(max_run, "--max-run") if max_run is not None else None,
             "min_holiday": (parse_days(min_holiday, "--min-holiday")
                             if min_holiday is not None else None),
             "max_pulses": options["max_pulses"],
             "max_glucose": parse_glucose(max_glucose) if max_glucose is not None else None}
    problem = persister_problem(treatment_days=options["treatment_days"],
                                horizon=options["horizon"], grid_step=options["grid"],
                                parameters=_parameters(options["parameters"]), **limits, **rules)
    if options["robust"] is not None:
        problem = problem.robust(options["robust"], options["robust_mode"], options["seed"])
    return problem, _dose_levels(options["dose_levels"], problem.model.control(IGF1R_INHIBITOR))


def _run_optimise(problem_options: dict, search: dict, outputs: dict) -> None:
    from optimiser.pipeline import optimise

    problem, levels = _build_problem(problem_options)
    as_json, out = outputs["as_json"], outputs["out"]
    _check_outputs(outputs)
    settings = _search_settings(search)
    _check_study(problem, settings, levels)
    _prepare_out(out)
    if settings is not None and settings.pareto:
        _run_pareto(problem, settings, levels, as_json, out, outputs["plot"])
        return
    started = time.perf_counter()
    try:
        with stderr.status("optimising") as status:
            result = optimise(problem, progress=lambda message: status.update(message),
                              command=_command_line(), dose_levels=levels, search=settings,
                              seed=problem_options["seed"])
    except SolverError as error:  # no schedule is reported; --json still gets an object
        if as_json:
            print(json.dumps({"status": "solver_failed", "solver": error.figures(),
                              "message": str(error)}, indent=2))
        raise
    seconds = time.perf_counter() - started
    # The extras first: they are the likelier to fail, and then nothing else is written.
    _write_extras(outputs, problem, result.schedule, result.check.trajectory)
    if out is not None:
        _write_outputs(out, result.schedule, result.check.trajectory)
    report = {
        "schedule": json.loads(result.schedule.to_json()),
        "igf1r_days": result.schedule.dosing_days(IGF1R_INHIBITOR),
        "igf1r_blocks": [{"start": a, "stop": b, "dose": d, "unit": problem.model.control(
            IGF1R_INHIBITOR).dose_unit} for a, b, d in result.schedule.blocks(IGF1R_INHIBITOR)],
        "budget": _budget_report(result.check.constraints[0]),
        "objective": {"log10_residual_cells": result.objective,
                      **({"over_scenarios": problem.scenario_mode,
                          "scenarios": problem.n_scenarios} if problem.scenarios else {})},
        "lower_bound": {"log10_residual_cells": result.lower_bound},
        "gap": result.gap,
        "gap_relative": result.relative_gap,
        "check": result.check.figures(),
        "solver": {"status": result.relaxed.status, "iterations": result.relaxed.iterations},
        "timings_s": {**result.timings, "wall": seconds},
        "provenance": result.provenance,
    }
    if result.study is not None:
        report["study"] = result.study.summary()
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_optimise_table(report)
    if not report["igf1r_days"]:
        stderr.print("warning: no IGF-1R inhibitor day fits the rules and limits; relax them "
                     "(e.g. a higher --max-glucose, or lower --dose-levels)", markup=False)
    if result.study is not None and not result.study.complete:
        stderr.print(f"study incomplete: {result.study.completed} of {result.study.requested} "
                     f"trials (worker exit codes {result.study.worker_exit_codes}); run the same "
                     "command again to resume it", markup=False)
    if not result.ok:
        for problem_text in result.check.problems:
            stderr.print(f"check failed: {problem_text}", markup=False)
        raise typer.Exit(EXIT_FAILURE)


def _check_study(problem, settings, levels: tuple[float, ...]) -> None:
    """Open the study storage (and compare an existing study) before the solve, with what the
    pipeline or the Pareto search will give ``run_study``; a bad storage then fails in seconds."""
    from optimiser.pipeline import with_dose_levels
    from optimiser.search import check_study

    if settings is None:
        return
    if settings.pareto:  # pareto_front passes the problem and levels as they are
        check_study(problem, settings, levels)
    else:  # optimise passes them through with_dose_levels
        with_levels, sorted_levels = with_dose_levels(problem, levels)
        check_study(with_levels, settings, sorted_levels)


def _check_outputs(outputs: dict) -> None:
    """Refuse an unknown export format, a missing export or plot extra or an unwritable
    directory before the solve, not after it."""
    if outputs["export"] is not None:
        require_format(outputs["export"])
        _prepare_out(outputs["out"] or Path("."))
    if outputs["plot"] is not None:
        require("matplotlib")
        _prepare_out(outputs["plot"].parent, "--plot")


def _write_extras(outputs: dict, problem, schedule: Schedule, trajectory) -> None:
    """The --export file(s) and the --plot figure of a reported schedule."""
    from optimiser.plots import plot_schedule

    if outputs["export"] is not None:
        target = (outputs["out"] or Path(".")) / default_name(outputs["export"])
        written = export_schedule(schedule, problem.model, problem.parameters, outputs["export"],
                                  target)
        stderr.print(f"exported {outputs['export']}: " + ", ".join(map(str, written)),
                     markup=False, highlight=False)
    if outputs["plot"] is not None:
        plot_schedule(trajectory, schedule, outputs["plot"],
                      title="persister-opt: optimised IGF-1R inhibitor schedule",
                      detection_limit=DETECTION_LIMIT_CELLS, metadata=schedule.provenance)
        stderr.print(f"figure written to {outputs['plot']}", markup=False, highlight=False)


def _dose_levels(text: str | None, control) -> tuple[float, ...]:
    """Dose levels in the control's unit -> fractions of its reference dose."""
    if text is None:
        return (1.0,)
    try:
        doses = [float(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"dose levels {text!r} are not understood; give daily doses in "
                        f"{control.dose_unit} separated by commas, e.g. 6.25,12.5,25") from None
    highest = control.upper * control.reference_dose
    outside = [dose for dose in doses if not 0 < dose <= highest]  # NaN is outside too
    if outside:
        raise UserError(f"dose levels {outside} {control.dose_unit} must lie in (0, {highest:g}] "
                        f"{control.dose_unit}; give daily doses above 0 and at most {highest:g}")
    return tuple(dose / control.reference_dose for dose in doses)


def _budget_report(report) -> dict:
    """The budget's limit and use; days-on budgets keep the ``*_days`` keys."""
    if report.unit == "day":
        return {"kind": "days-on", "limit_days": report.limit, "used_days": report.used}
    return {"kind": "auc", "limit": report.limit, "used": report.used, "unit": report.unit}


def _print_optimise_table(report: dict) -> None:
    check = report["check"]
    table = Table(title="persister-opt: IGF-1R inhibitor schedule", show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    days = ", ".join(f"{d:g}" for d in report["igf1r_days"]) or "none"
    table.add_row("IGF-1R inhibitor days", days)
    doses = "; ".join(f"{b['start']:g}-{b['stop']:g} d: {b['dose']:g}"
                      for b in report["igf1r_blocks"]) or "none"
    unit = report["igf1r_blocks"][0]["unit"] if report["igf1r_blocks"] else ""
    table.add_row(f"daily dose by block ({unit}/day)" if unit else "daily dose by block", doses)
    objective = report["objective"]["log10_residual_cells"]
    robust = report["objective"].get("over_scenarios")
    label = (f"predicted log10 residual cells ({robust} over "
             f"{report['objective']['scenarios']} parameter sets)" if robust else
             "predicted log10 residual cells")
    table.add_row(label, f"{objective:.4f}")
    table.add_row("lower bound (relaxed)", f"{report['lower_bound']['log10_residual_cells']:.4f}")
    table.add_row("gap", f"{report['gap']:.4f} decades ({100 * report['gap_relative']:.2f} %)")
    budget = report["budget"]
    if budget["kind"] == "days-on":
        table.add_row("budget used", f"{budget['used_days']:g} of {budget['limit_days']:g} days")
    else:
        table.add_row("AUC budget used", f"{budget['used']:.4g} of {budget['limit']:.4g} "
                                         f"{budget['unit']}")
    for rule in check["constraints"][1:]:
        verdict = "ok" if rule["passed"] else "VIOLATED"
        figure = "" if rule["unit"] == "1" else f"{rule['used']:.4g} {rule['unit']}, "
        table.add_row(rule["name"], figure + verdict)
    verdict = "passed" if check["passed"] else "FAILED"
    table.add_row("independent check", f"{verdict}: scipy Radau log10 residual "
                  f"{check['resimulated_objective']:.4f} (difference {check['difference']:.1e})")
    if "scenario_objectives" in check:
        values = check["scenario_objectives"]
        table.add_row("log10 residual per parameter set", f"{min(values):.4f} to "
                      f"{max(values):.4f} (scipy Radau, {len(values)} sets)")
    if "minimum_cells" in check:
        table.add_row("minimum cells / day", f"{check['minimum_cells']:.3g} on day "
                                              f"{check['day_of_minimum']:g}")
        table.add_row("cure probability exp(-N)", f"{check['cure_probability']:.3g}")
    if "study" in report:
        study = report["study"]
        table.add_row("discrete search", f"study {study['study']} in {study['storage']}: "
                      f"{study['completed_trials']} of {study['requested_trials']} trials "
                      f"({study['trials_this_run']} now, {study['duplicates_skipped']} "
                      f"duplicates), best {study['best_objective']:.4f}"
                      if study["best_objective"] is not None else "no feasible trial")
    table.add_row("time taken", f"{report['timings_s']['wall']:.1f} s")
    stdout.print(table)


def _run_pareto(problem, settings, levels: tuple[float, ...], as_json: bool,
                out: Path | None, plot: Path | None) -> None:
    import pandas as pd

    from optimiser.pareto import pareto_front
    from optimiser.pipeline import provenance_record

    with stderr.status("searching the Pareto front") as status:
        points, outcome = pareto_front(problem, settings, levels,
                                       progress=lambda message: status.update(message),
                                       command=_command_line())
    table = pd.DataFrame([point.row() for point in points])
    path = (out or settings.runs_dir) / f"pareto-{outcome.name}.csv"
    write_text_atomic(path, table.to_csv(index=False))
    if plot is not None:
        from optimiser.plots import plot_pareto

        plot_pareto(points, plot, metadata=provenance_record(problem, _command_line(),
                                                             settings.seed))
    if as_json:
        print(json.dumps({"front": [point.row() for point in points], "csv": str(path),
                          "study": outcome.summary()}, indent=2))
    else:
        view = Table(title="residual tumour against IGF-1R inhibitor exposure (Pareto front)")
        for column in ("exposure (days)", "log10 residual", "lower bound", "gap", "check",
                       "IGF-1R inhibitor days"):
            view.add_column(column)
        for point in points:
            bound = "" if point.lower_bound is None else f"{point.lower_bound:.4f}"
            gap = "" if point.gap is None else f"{point.gap:.4f}"
            view.add_row(f"{point.exposure_days:g}", f"{point.objective:.4f}", bound, gap,
                         "passed" if point.check.passed else "FAILED",
                         " ".join(f"{d:g}" for d in point.days) or "none")
        stdout.print(view)
        stderr.print(f"front written to {path}; {outcome.completed} trials in study "
                     f"{outcome.name} ({outcome.storage})", markup=False, highlight=False)
    if not outcome.complete or not all(point.check.passed for point in points):
        stderr.print("study incomplete or a front schedule failed the check", markup=False)
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def simulate(
    ctx: typer.Context,
    schedule: Annotated[Path, typer.Option("--schedule", help="schedule JSON file")],
    parameters: ParametersOption = None,
    as_json: JsonOption = False,
    out: OutOption = None,
) -> None:
    """Simulate a schedule (e.g. one of the paper's arms) with the independent integrator."""
    parameters = parameters or ctx.parent.params.get("parameters")
    _guarded(_run_simulate)(schedule, parameters, as_json, out)


def _run_simulate(path: Path, parameters: Path | None, as_json: bool, out: Path | None) -> None:
    from models.persister.outcome import outcome
    from optimiser.simulate import simulate as integrate

    model = persister_model()
    schedule = Schedule.read(path)
    schedule.fractions(model)  # validates drugs and doses before integrating
    vector = model.parameter_vector(_parameters(parameters))  # and the parameters
    _prepare_out(out)
    trajectory = integrate(model, vector, schedule)
    summary = outcome(trajectory, schedule, DETECTION_LIMIT_CELLS)
    if out is not None:
        _write_outputs(out, schedule, trajectory)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"simulation of {path.name}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    stdout.print(table)


@app.command("experiment")
def experiment_command(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(
        help="all, or experiment names: paper_arms, budget_sweep, timing_map, robustness, "
             "method_comparison")],
    reduced: Annotated[bool, typer.Option(
        "--reduced", help="small, fast versions (what the tests run)")] = False,
    seed: Annotated[int, typer.Option(help="seed of searches and parameter draws")] = 0,
    results: Annotated[Path | None, typer.Option(
        "--results", help="output directory (default: experiments/results)")] = None,
    parameters: ParametersOption = None,
) -> None:
    """Regenerate experiment tables and figures (CSV, Markdown, PNG, each with provenance)."""
    parameters = parameters or ctx.parent.params.get("parameters")
    _guarded(_run_experiments)(names, reduced, seed, results, parameters)


def _run_experiments(names: list[str], reduced: bool, seed: int, results: Path | None,
                     parameters: Path | None) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from experiments.framework import RESULTS_DIR, ExperimentSettings
    from experiments.registry import UnknownExperimentError, run_experiments, select

    chosen = "all" if names == ["all"] else names
    try:
        select(chosen)  # unknown names fail before anything runs
    except UnknownExperimentError as error:
        raise UserError(str(error)) from None
    require("matplotlib")
    require("tabulate")
    out = results or RESULTS_DIR
    _prepare_out(out)
    settings = ExperimentSettings(reduced=reduced, seed=seed, out_dir=out,
                                  parameters=_parameters(parameters), command=_command_line())
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
    _guarded(_run_export)(schedule, fmt, out, glucose, parameters)


def _run_export(path: Path, fmt: str, out: Path, glucose: bool, parameters: Path | None) -> None:
    default_name(fmt)
    schedule = Schedule.read(path)
    written = export_schedule(schedule, persister_model(glucose=glucose),
                              _parameters(parameters), fmt, out)
    for file in written:
        print(file)


def run() -> None:
    """Console-script entry point. Click's own usage errors (a missing option, a value of the
    wrong type) become one line and exit code 2, like every other bad input, instead of a
    usage banner and a boxed message."""
    try:
        code = app(prog_name="optimise", standalone_mode=False)
    except _click_error() as error:
        message, context = error.format_message(), getattr(error, "ctx", None)
        if error.exit_code == EXIT_BAD_INPUT:  # a usage error: point to the command's help
            command = context.command_path if context is not None else "optimise"
            message = f"{message.rstrip('.')}; see '{command} --help'"
        _one_line(message)
        raise SystemExit(error.exit_code) from None
    except typer.Abort:  # Ctrl-C at a prompt
        raise SystemExit(EXIT_FAILURE) from None
    raise SystemExit(code if isinstance(code, int) else 0)


def _click_error() -> type[Exception]:
    """Click's error base class, found through typer's public BadParameter: typer >= 0.25
    vendors click (``typer._click``), older versions raise the click package's own classes."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _one_line(message: str) -> None:
    stderr.print(f"error: {' '.join(message.split())}", markup=False, highlight=False,
                 soft_wrap=True)
