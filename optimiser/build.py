"""A preset's ControlProblem: its regimen with the budgets, rules, limits and objective asked for.

The rules (``max_run``, ``min_holiday``, ``max_pulses``) and the days-on or AUC budget apply to
every free drug; ``budgets`` sets a days-on budget per drug instead. A limit on an output only a
variant of the model has (``glucose``) brings that variant in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from constraints.budget import AucBudget, DaysOnBudget
from constraints.path import TerminalLimit
from constraints.path import max_glucose as glucose_limit
from constraints.rules import MaxPulses, MaxRun, MinHoliday
from models.parameters import ParameterSet
from models.registry import Preset
from models.schedule import grid_size_problem, grid_steps
from optimiser.objectives import Exposure, Objective, as_objective
from optimiser.problem import ControlProblem, ProblemError


def problem_from_preset(preset: Preset, budget_days: float | None = None,
                        treatment_days: float | None = None, horizon: float | None = None,
                        grid_step: float | None = None, parameters: ParameterSet | None = None,
                        max_run: float | None = None, min_holiday: float | None = None,
                        auc_budget: float | None = None, max_pulses: int | None = None,
                        max_glucose: float | None = None,
                        objective: str | Objective | None = None,
                        max_final: Mapping[str, float] | None = None,
                        min_final: Mapping[str, float] | None = None,
                        free: Sequence[str] | None = None,
                        budgets: Mapping[str, float] | None = None) -> ControlProblem:
    """``auc_budget`` (micromolar * hour) replaces the days-on budget when given;
    ``max_glucose`` (mg/dL) limits glucose; ``max_final``/``min_final`` bound outputs at the
    horizon. ``free`` names the drugs to optimise (a drug the regimen fixes is then free
    within the treatment window too). Without ``budget_days`` the regimen's budget applies,
    except to a drug whose exposure is the objective."""
    regimen = preset.regimen
    treatment_days = regimen.treatment_days if treatment_days is None else treatment_days
    horizon = regimen.horizon if horizon is None else horizon
    grid_step = regimen.grid_step if grid_step is None else grid_step
    objective = as_objective(regimen.objective if objective is None else objective)
    free = tuple(regimen.free if free is None else free)
    explicit = budget_days is not None
    budget_days = regimen.budget_days if budget_days is None else budget_days
    for name, value, example in (("horizon", horizon, 100), ("grid step", grid_step, 1),
                                 ("treatment", treatment_days, 40), ("budget", budget_days, 10)):
        if not math.isfinite(value):
            raise ProblemError(f"{name} must be a finite number of days, got {value}; give a "
                               f"number such as {example}")
    if not grid_step > 0:
        raise ProblemError(f"grid step must be a positive number of days, got {grid_step:g}; "
                           "give e.g. --grid 1")
    # before any array of the grid is made
    if too_large := grid_size_problem(horizon, grid_step):
        raise ProblemError(f"{too_large}; change --horizon or --grid")
    if not 0 < treatment_days <= horizon:
        raise ProblemError(f"treatment of {treatment_days:g} d must be positive and fit in the "
                           f"horizon of {horizon:g} d; lengthen --horizon or shorten "
                           "--treatment-days")
    if grid_steps(treatment_days, grid_step) is None:
        raise ProblemError(f"treatment of {treatment_days:g} d is not a whole number of grid steps "
                           f"of {grid_step:g} d; change --treatment-days or --grid")
    upper, lower = dict(max_final or {}), dict(min_final or {})
    limits = [TerminalLimit(output, upper=upper.get(output), lower=lower.get(output))
              for output in dict.fromkeys([*upper, *lower])]
    if max_glucose is not None:
        limits.append(glucose_limit(max_glucose))
    model = preset.model_with(tuple(limit.output for limit in limits))
    for drug in free:
        model.control(drug)
    stray = sorted(set(budgets or {}) - set(free))
    if stray:
        raise ProblemError(f"budget given for {stray}, which {'is' if len(stray) == 1 else 'are'}"
                           f" not free (free: {list(free)}); free it with --free or drop the "
                           "budget")
    parameters = parameters or preset.parameters
    n = round(horizon / grid_step)
    starts = np.arange(n) * grid_step
    on_treatment = (starts + grid_step <= treatment_days + 1e-9).astype(float)
    constraints = []
    for drug in free:
        constraints += _budget(preset, model, parameters, drug, objective, explicit,
                               budgets, budget_days, auc_budget)
        constraints += [*([MaxRun(drug, max_run, grid_step)] if max_run is not None else []),
                        *([MinHoliday(drug, min_holiday, grid_step)]
                          if min_holiday is not None else []),
                        *([MaxPulses(drug, max_pulses)] if max_pulses is not None else [])]
    return ControlProblem(
        model=model,
        parameters=parameters,
        objective=objective,
        free={drug: (0.0, treatment_days) for drug in free},
        fixed={drug: on_treatment * _dose_days(regimen, drug, n, grid_step)
               for drug in regimen.fixed if drug not in free},
        constraints=constraints,
        horizon=horizon,
        grid_step=grid_step,
        tail_step=regimen.tail_step,
        substeps=regimen.substeps,
        path_limits=limits,
        ensemble=preset.ensemble,
        summary=preset.summary,
    )


def _dose_days(regimen, drug: str, n: int, grid_step: float) -> np.ndarray:
    """1 on the intervals that start with a dose of a fixed drug (``Regimen.dose_every``)."""
    steps = regimen.steps_between_doses(drug, grid_step)
    if steps is None:
        period = dict(regimen.dose_every)[drug]
        raise ProblemError(f"{drug} is given every {period:g} d, which is not a whole number "
                           f"of grid steps of {grid_step:g} d; give --grid {period:g} or a "
                           "divisor of it")
    return (np.arange(n) % steps == 0).astype(float)


def _budget(preset: Preset, model, parameters: ParameterSet, drug: str, objective: Objective,
            explicit: bool, budgets: Mapping[str, float] | None, budget_days: float,
            auc_budget: float | None) -> list:
    """The budget of one free drug: its own (``budgets``), the AUC budget, or days on; none
    for the drug whose exposure is minimised unless a budget was given."""
    if budgets is not None and drug in budgets:
        return [DaysOnBudget(drug, budgets[drug])]
    if auc_budget is not None:
        if drug not in preset.auc_parameters:
            raise ProblemError(f"preset {preset.name!r} gives no AUC per dose for {drug!r}; "
                               "give a days-on budget for it")
        auc_per_day = model.parameter_vector(parameters)[
            model.parameter_names.index(preset.auc_parameters[drug])]
        return [AucBudget(drug, auc_budget, auc_per_day)]
    if isinstance(objective, Exposure) and objective.drug == drug and not explicit:
        return []
    return [DaysOnBudget(drug, budget_days)]
