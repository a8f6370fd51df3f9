"""The built-in persister model as a preset: model, parameter files, ensemble and outcomes."""

from models.persister.model import (
    IGF1R_INHIBITOR,
    OSIMERTINIB,
    default_ensemble,
    default_parameters,
    persister_model,
)

__all__ = ["IGF1R_INHIBITOR", "OSIMERTINIB", "default_ensemble", "default_parameters",
           "persister_model"]
