"""What the tumour does: declarative models, parameter sets with sources, schedules."""

from models.model import Control, Model, ModelError, Parameter, Rates, State
from models.parameters import ParameterError, ParameterSet, ParameterValue
from models.schedule import Schedule, ScheduleError

__all__ = ["Control", "Model", "ModelError", "Parameter", "ParameterError",
           "ParameterSet", "ParameterValue", "Rates", "Schedule", "ScheduleError", "State"]
