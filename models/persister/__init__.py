"""The built-in persister model as a preset: model, parameter files, ensemble and outcomes."""

from models.persister.model import (
    IGF1R_INHIBITOR,
    OSIMERTINIB,
    default_ensemble,
    default_parameters,
    persister_model,
)
from models.persister.outcome import DETECTION_LIMIT_CELLS
from models.persister.preset import PRESET, persister_preset, persister_problem

__all__ = ["DETECTION_LIMIT_CELLS", "IGF1R_INHIBITOR", "OSIMERTINIB", "PRESET",
           "default_ensemble", "default_parameters", "persister_model", "persister_preset",
           "persister_problem"]
