"""Running a checked spec, for ``optimise`` and ``optimise run``: the solve (or the Pareto
search), the output files, the report on stdout and the exit code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.table import Table

from optimiser.cli.common import (
    EXIT_FAILURE,
    command_line,
    run_record,
    stderr,
    stdout,
    write_outputs,
)
from optimiser.files import RunOutputs, write_text_atomic
from optimiser.nlp import SolverError
from optimiser.search import masked
from optimiser.spec import Plan, RunSpec, prepare


def execute(spec: RunSpec, save_spec: Path | None = None) -> None:
    """Check the spec, write it to ``save_spec`` (if given) once it passed, then run it."""
    plan = prepare(spec)
    if save_spec is not None:
        spec.save(save_spec)
        storage = spec.search.storage
        if storage and masked(storage) != storage:
            save_spec.chmod(0o600)
            stderr.print(f"note: {save_spec} holds the storage password (file mode 0600); "
                         "keep it private", markup=False, highlight=False)
    if plan.settings is not None and plan.settings.pareto:
        _run_pareto(plan)
    else:
        _run_optimise(plan)


def _run_optimise(plan: Plan) -> None:
    from optimiser.pipeline import optimise
    from optimiser.report import Report, table

    problem, outputs = plan.problem, plan.spec.outputs
    started = time.perf_counter()
    try:
        with stderr.status("optimising") as status:
            result = optimise(problem, progress=lambda message: status.update(message),
                              command=command_line(), dose_levels=plan.dose_levels,
                              search=plan.settings, seed=plan.spec.problem.seed,
                              integer=plan.dose_levels is not None)
    except SolverError as error:  # no schedule is reported; --json still gets an object
        if outputs.as_json:
            print(json.dumps({"status": "solver_failed", "solver": error.figures(),
                              "message": str(error)}, indent=2))
        raise
    seconds = time.perf_counter() - started
    with RunOutputs(outputs.out, run_record()) as staged:
        notes = _write_extras(plan, staged, result)
        if outputs.out is not None:
            write_outputs(staged.directory(outputs.out), result.schedule,
                          result.check.trajectory)
        staged.commit()
    for note in notes:
        stderr.print(note, markup=False, highlight=False)
    report = Report.from_result(result, problem, seconds)
    if outputs.as_json:
        print(report.to_json())
    else:
        stdout.print(table(report))
    for drug in report.free_drugs.values():
        if not drug.days:
            stderr.print(f"warning: no {drug.label} day fits the rules and limits; relax them "
                         "(e.g. a higher --max-glucose, or lower --dose-levels)", markup=False)
    if result.study is not None and result.study.worker_note:
        stderr.print(result.study.worker_note, markup=False, soft_wrap=True)
    if result.study is not None and not result.study.complete:
        stderr.print(f"study incomplete: {result.study.completed} of {result.study.requested} "
                     f"trials (worker exit codes {result.study.worker_exit_codes}); run the same "
                     "command again to resume it", markup=False)
    if not result.ok:
        for problem_text in result.check.problems:
            stderr.print(f"check failed: {problem_text}", markup=False)
        raise typer.Exit(EXIT_FAILURE)


def _write_extras(plan: Plan, staged: RunOutputs, result) -> list[str]:
    """The --export file(s) and the --plot figure of a reported result, staged; what to say
    once they are in place."""
    outputs, problem, schedule = plan.spec.outputs, plan.problem, result.schedule
    from optimiser.export import default_name, export_schedule
    from optimiser.plots import plot_schedule, result_title

    notes = []
    if outputs.export is not None:
        directory = outputs.out or Path(".")
        written = export_schedule(schedule, problem.model, problem.parameters, outputs.export,
                                  staged.directory(directory) / default_name(outputs.export))
        notes.append(f"exported {outputs.export}: "
                     + ", ".join(str(directory / path.name) for path in written))
    if outputs.plot is not None:
        plot_schedule(result.check.trajectory, schedule, staged.file(outputs.plot),
                      title=result_title(result, problem),
                      detection_limit=plan.preset.detection_limit, metadata=schedule.provenance,
                      curve=result.check.summary.get("no_regrowth_curve"),
                      limits=problem.path_limits)
        notes.append(f"figure written to {outputs.plot}")
    return notes


def _run_pareto(plan: Plan) -> None:
    import pandas as pd

    from optimiser.pareto import pareto_front
    from optimiser.pipeline import provenance_record

    problem, settings, outputs = plan.problem, plan.settings, plan.spec.outputs
    with stderr.status("searching the Pareto front") as status:
        points, outcome = pareto_front(problem, settings, plan.dose_levels,
                                       progress=lambda message: status.update(message),
                                       command=command_line())
    frame = pd.DataFrame([point.row() for point in points])
    path = (outputs.out or settings.runs_dir) / f"pareto-{outcome.name}.csv"
    with RunOutputs(outputs.out, run_record()) as staged:
        write_text_atomic(staged.file(path), frame.to_csv(index=False))
        if outputs.plot is not None:
            from optimiser.plots import plot_pareto

            plot_pareto(points, staged.file(outputs.plot),
                        problem.model.control(problem.free_names[0]).display_name,
                        metadata=provenance_record(problem, command_line(), settings.seed))
        staged.commit()
    if outputs.as_json:
        print(json.dumps({"front": [point.row() for point in points], "csv": str(path),
                          "study": outcome.summary()}, indent=2))
    else:
        stdout.print(_front_table(points))
        stderr.print(f"front written to {path}; {outcome.completed} trials in study "
                     f"{outcome.name} ({outcome.storage})", markup=False, highlight=False)
    if outcome.worker_note:
        stderr.print(outcome.worker_note, markup=False, soft_wrap=True)
    if not outcome.complete or not all(point.check.passed for point in points):
        stderr.print("study incomplete or a front schedule failed the check", markup=False)
        raise typer.Exit(EXIT_FAILURE)


def _front_table(points) -> Table:
    view = Table(title="residual tumour against IGF-1R inhibitor exposure (Pareto front)")
    for column in ("exposure (days)", "objective", "lower bound", "gap", "P(cure)", "check",
                   "IGF-1R inhibitor days"):
        view.add_column(column)
    for point in points:
        bound = "" if point.lower_bound is None else f"{point.lower_bound:.4f}"
        gap = "" if point.gap is None else f"{point.gap:.4f}"
        cure = point.check.summary.get("cure_probability")
        view.add_row(f"{point.exposure_days:g}", f"{point.objective:.4f}", bound, gap,
                     "" if cure is None else f"{cure:.4g}",
                     "passed" if point.check.passed else "FAILED",
                     " ".join(f"{d:g}" for d in point.days) or "none")
    return view
