"""The built-in problem: the persister model, osimertinib on every treatment day, the IGF-1R
inhibitor free within the treatment window under a days-on budget."""

from __future__ import annotations

import math

import numpy as np

from constraints.budget import AucBudget, DaysOnBudget
from constraints.path import max_glucose as glucose_limit
from constraints.rules import MaxPulses, MaxRun, MinHoliday
from models.parameters import ParameterSet
from models.persister import IGF1R_INHIBITOR, OSIMERTINIB, default_parameters, persister_model
from models.schedule import grid_steps
from optimiser.problem import ControlProblem, ProblemError

OBJECTIVE = "log10_total_cells"
# NLP step over the drug-free tail (ControlProblem.tail_step): on the default problem, 5-day
# steps from day 45 change the objective by 2e-9 decades and shrink the NLP from 100 to 56
# intervals (bench/README.md).
TAIL_STEP_DAYS = 5.0


def persister_problem(budget_days: float = 10.0, treatment_days: float = 40.0,
                      horizon: float = 100.0, grid_step: float = 1.0,
                      parameters: ParameterSet | None = None, max_run: float | None = None,
                      min_holiday: float | None = None,
                      auc_budget: float | None = None,
                      max_pulses: int | None = None,
                      max_glucose: float | None = None) -> ControlProblem:
    """``auc_budget`` (micromolar * hour) replaces the days-on budget when given;
    ``max_glucose`` (mg/dL) brings in the glucose-insulin states and limits glucose."""
    for name, value, example in (("horizon", horizon, 100), ("grid step", grid_step, 1),
                                 ("treatment", treatment_days, 40), ("budget", budget_days, 10)):
        if not math.isfinite(value):
            raise ProblemError(f"{name} must be a finite number of days, got {value}; give a "
                               f"number such as {example}")
    if not grid_step > 0:
        raise ProblemError(f"grid step must be a positive number of days, got {grid_step:g}; "
                           "give e.g. --grid 1")
    if not 0 < treatment_days <= horizon:
        raise ProblemError(f"treatment of {treatment_days:g} d must be positive and fit in the "
                           f"horizon of {horizon:g} d; lengthen --horizon or shorten "
                           "--treatment-days")
    if grid_steps(treatment_days, grid_step) is None:
        raise ProblemError(f"treatment of {treatment_days:g} d is not a whole number of grid steps "
                           f"of {grid_step:g} d; change --treatment-days or --grid")
    n = round(horizon / grid_step)
    starts = np.arange(n) * grid_step
    osimertinib = (starts + grid_step <= treatment_days + 1e-9).astype(float)
    parameters = parameters or default_parameters()
    model = persister_model(glucose=max_glucose is not None)
    if auc_budget is None:
        budget = DaysOnBudget(IGF1R_INHIBITOR, budget_days)
    else:
        auc_per_day = model.parameter_vector(parameters)[model.parameter_names.index("AUC_igf_day")]
        budget = AucBudget(IGF1R_INHIBITOR, auc_budget, auc_per_day)
    return ControlProblem(
        model=model,
        parameters=parameters,
        objective=OBJECTIVE,
        free={IGF1R_INHIBITOR: (0.0, treatment_days)},
        fixed={OSIMERTINIB: osimertinib},
        constraints=[budget,
                     *([MaxRun(IGF1R_INHIBITOR, max_run, grid_step)]
                       if max_run is not None else []),
                     *([MinHoliday(IGF1R_INHIBITOR, min_holiday, grid_step)]
                       if min_holiday is not None else []),
                     *([MaxPulses(IGF1R_INHIBITOR, max_pulses)]
                       if max_pulses is not None else [])],
        horizon=horizon,
        grid_step=grid_step,
        tail_step=TAIL_STEP_DAYS,
        path_limits=[glucose_limit(max_glucose)] if max_glucose is not None else [],
    )
