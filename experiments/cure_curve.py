"""The chance of cure against the IGF-1R inhibitor budget. The budget sweep says how few cells
remain; what decides a treatment is the chance that none does (the extinction probability of the
branching process, ``models.branching``) and how many inhibitor days buy 90, 95 or 99 %. For each
budget B: the schedule optimised for P(cure) (``Cure``) with its relaxed bound, the first B days
and the best single block of B days, each re-simulated with scipy; where the optimised
schedule's failures come from; and the least budget that reaches each target."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from experiments.framework import (
    Experiment,
    ExperimentOutput,
    ExperimentSettings,
    Step,
    best_block,
    block_profile,
    markdown_table,
)
from models.days import compact_days
from models.persister import IGF1R_INHIBITOR, persister_problem
from optimiser.extinction import RTOL as LINEAGE_RTOL
from optimiser.objectives import Cure
from optimiser.pipeline import optimise
from optimiser.plots import new_figure
from optimiser.problem import ControlProblem
from optimiser.simulate import RTOL, simulate

TREATMENT_DAYS = 40
FULL_BUDGETS = tuple(range(TREATMENT_DAYS + 1))
REDUCED_BUDGETS = (0, 10, 14)
TARGETS = (0.90, 0.95, 0.99)
FOCUS_DAYS = 10  # the paper's budget
PLATEAU = 1e-6  # P(cure) this close to the best counts as the best
# strategy -> (its P(cure) column, line style): the bound is one on any schedule of the grid
STRATEGIES = {
    "optimised": ("cure_probability", "o-", "C0"),
    "relaxed bound": ("cure_probability_bound", "--", "black"),
    "first B days": ("first_days_cure_probability", "^-", "C3"),
    "best block": ("best_block_cure_probability", "s-", "C2"),
}
# founding population (``cell_summary``'s failure_sources) -> column of its share of failures
SOURCES = {"sensitive": "failure_share_sensitive", "persister": "failure_share_persister",
           "pre-existing resistant": "failure_share_resistant"}
# The Markdown table's short headers (80 columns); the findings explain them.
HEADERS = {"budget_days": "B", "igf1r_days": "optimised days", "cure_probability": "opt",
           "cure_probability_bound": "bound", "first_days_cure_probability": "first",
           "best_block_cure_probability": "block"}
SOURCES_HEADER = "S/P/R"


def run(settings: ExperimentSettings, step: Step) -> ExperimentOutput:
    budgets = REDUCED_BUDGETS if settings.reduced else FULL_BUDGETS
    rows = []
    for k, budget in enumerate(budgets):
        problem = persister_problem(budget_days=budget, treatment_days=TREATMENT_DAYS,
                                    objective=Cure(), parameters=settings.parameters)
        result = optimise(problem, command=settings.command)
        summary = result.check.summary
        start, block = best_block(problem, budget)
        days = result.schedule.dosing_days(IGF1R_INHIBITOR)
        rows.append({
            "budget_days": budget,
            "igf1r_days": compact_days(days),
            "days_used": len(days),
            "cure_probability": summary["cure_probability"],
            "failure_probability": summary["failure_probability"],
            "expected_surviving_lineages": summary["expected_surviving_lineages"],
            "log10_expected_lineages": result.objective,
            "lower_bound_log10_lineages": result.lower_bound,
            "cure_probability_bound": math.exp(-10 ** result.lower_bound),
            "check_passed": result.check.passed,
            **{column: summary["failure_sources"][source] for source, column in SOURCES.items()},
            "first_days_cure_probability": cure_probability(problem,
                                                            block_profile(problem, 0, budget)),
            "best_block_start_day": start,
            "best_block_cure_probability": cure_probability(problem, block),
        })
        step(k + 1, len(budgets), f"budget {budget} d: {compact_days(days)}, "
                                  f"P(cure) {summary['cure_probability']:.5f}")
    data = pd.DataFrame(rows)
    targets = minimum_budgets(data)
    return ExperimentOutput(
        data=data, table=_table(data), figure=_figure(data), findings=_findings(data, targets),
        settings={"budgets_days": list(budgets), "treatment_days": TREATMENT_DAYS,
                  "targets": list(TARGETS),
                  "cure_probability": f"scipy Radau rtol {RTOL:g}, backward extinction "
                                      f"equations rtol {LINEAGE_RTOL:g}",
                  "bound": "relaxed optimum, NLP discretisation (Radau collocation)"},
        formats={HEADERS[column]: ".5f" for column, _, _ in STRATEGIES.values()})


def cure_probability(problem: ControlProblem, w: np.ndarray) -> float:
    """P(cure) of on/off inhibitor profile ``w`` by the independent scipy simulation."""
    schedule = problem.schedule({IGF1R_INHIBITOR: w})
    trajectory = simulate(problem.model, problem.parameter_vector, schedule)
    return trajectory.final_output("cure_probability")


def minimum_budgets(data: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: the least budget (of those run) whose P(cure) reaches each target, or "not
    reached"; the best P(cure) and the least budget within ``PLATEAU`` of it."""
    rows = []
    for label, (column, _, _) in STRATEGIES.items():
        values = data.set_index("budget_days")[column]
        row: dict = {"strategy": label}
        for target in TARGETS:
            reached = values.index[values >= target]
            row[target_header(target)] = f"{reached.min()} d" if len(reached) else "not reached"
        row["best"] = values.max()
        row["from"] = f"{values.index[values >= values.max() - PLATEAU].min()} d"
        rows.append(row)
    return pd.DataFrame(rows)


def target_header(target: float) -> str:
    """The targets table's column for ``target``."""
    return f"P >= {target:.2f}"


def _table(data: pd.DataFrame) -> pd.DataFrame:
    shares = data[list(SOURCES.values())].to_numpy() * 100
    table = data[list(HEADERS)].rename(columns=HEADERS)
    table[SOURCES_HEADER] = ["/".join(f"{v:.0f}" for v in row) for row in shares]
    return table


def _findings(data: pd.DataFrame, targets: pd.DataFrame) -> str:
    row = data.set_index("budget_days")
    focus = row.loc[FOCUS_DAYS if FOCUS_DAYS in row.index else row.index.max()]
    best = row.loc[row["cure_probability"] >= row["cure_probability"].max() - PLATEAU].iloc[0]
    checks = "every" if data["check_passed"].all() else "NOT every"
    return (
        "P(cure) is the chance that no cell of any population is left at day 100: the "
        "extinction probability of the branching process whose mean is the model, "
        "exp(-expected surviving lineages). Every P(cure) here is from the independent scipy "
        f"re-simulation of the schedule ({checks} optimised schedule passed the check). Columns: "
        "B, the inhibitor budget in days; opt, P(cure) of the schedule optimised for it (the "
        "Cure objective), given on the optimised days; bound, exp(-10^relaxed bound), which no "
        "on/off or part-dose schedule on this grid beats (in the NLP discretisation); first, the "
        "first B days (the paper's style); block, the best single block of B days; S/P/R, the "
        "shares (%) of the optimised schedule's failures by founding population (sensitive, "
        "persister, pre-existing resistant; acquired resistance counts under the cell it arose "
        "from). The least budget reaching each P(cure) among the budgets run, the best "
        f"P(cure) and the least budget within {PLATEAU:g} of it:\n\n"
        f"{markdown_table(targets, {'best': '.5f'})}\n\n"
        f"At {focus.name:g} days the optimised schedule ({focus['igf1r_days']}) reaches "
        f"{focus['cure_probability']:.5f} (bound {focus['cure_probability_bound']:.5f}), against "
        f"{focus['first_days_cure_probability']:.5f} for the first {focus.name:g} days and "
        f"{focus['best_block_cure_probability']:.5f} for the best single block (from day "
        f"{focus['best_block_start_day']:g}). From {best.name:g} days on more inhibitor no "
        f"longer helps: P(cure) stays at {best['cure_probability']:.5f}, and "
        f"{best['failure_share_sensitive']:.0%} of the remaining failures come from sensitive "
        f"lineages, {best['failure_share_persister']:.0%} from persisters and "
        f"{best['failure_share_resistant']:.0%} from pre-existing resistant cells, which the "
        "inhibitor does not remove.")


def _figure(data: pd.DataFrame):
    figure = new_figure(8.0, 7.5)
    failure, sources = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1.6])
    budget = data["budget_days"]
    for label, (column, style, colour) in STRATEGIES.items():
        values = (-np.expm1(-10 ** data["lower_bound_log10_lineages"])
                  if column == "cure_probability_bound" else 1.0 - data[column])
        failure.semilogy(budget, values, style, color=colour, markersize=4,
                         linewidth=1 if style == "--" else 1.5, label=label)
    for target in TARGETS:
        failure.axhline(1.0 - target, color="grey", linestyle=":", linewidth=1)
        failure.annotate(f"P(cure) {target:g}", (budget.max(), 1.0 - target),
                         xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom",
                         fontsize=8, color="dimgrey")
    failure.set_ylabel("failure probability, 1 - P(cure), at day 100")
    failure.set_title("chance of cure against IGF-1R inhibitor budget")
    failure.grid(True, which="both", alpha=0.3)
    failure.legend(fontsize=8, loc="upper right")
    shares = data[list(SOURCES.values())].to_numpy().T
    sources.stackplot(budget, shares, labels=list(SOURCES), colors=("C0", "C1", "C3"),
                      alpha=0.8)
    sources.set_ylim(0, 1)
    sources.set_ylabel("share of failures\n(optimised)")
    sources.set_xlabel("budget (days at the reference dose)")
    sources.legend(fontsize=8, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                   frameon=False)
    sources.grid(True, alpha=0.3)
    return figure


EXPERIMENT = Experiment("cure_curve", "Chance of cure against the IGF-1R inhibitor budget", run)
