"""How the best schedule is found, checked and reported; the ``optimise`` CLI lives in ``cli``.

The names below load on first use (PEP 562), so the console script (``optimiser.entry``) can
install its interrupt handler before CasADi and the rest are imported.
"""

from importlib import import_module

_HOMES = {
    "CheckReport": "optimiser.check", "check_schedule": "optimiser.check",
    "Cure": "optimiser.objectives", "Exposure": "optimiser.objectives",
    "ExposureRegulariser": "optimiser.objectives", "Integral": "optimiser.objectives",
    "Objective": "optimiser.objectives", "ScenarioMean": "optimiser.objectives",
    "Terminal": "optimiser.objectives", "WorstCase": "optimiser.objectives",
    "Result": "optimiser.pipeline", "optimise": "optimiser.pipeline",
    "ControlProblem": "optimiser.problem", "ProblemError": "optimiser.problem",
    "Trajectory": "optimiser.simulate", "simulate": "optimiser.simulate",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'optimiser' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
