"""Tumour volume from a model's cells: what a caliper measures, for calibration.

A model with declared populations (``Model.populations``) gains three things:

* ``V0`` (mm^3), the tumour's volume at day 0: every population's initial count is scaled so
  that the cells fill ``V0`` at ``density``; one value per subject in a fit;
* ``density`` (cell/mm^3), cells per unit of tumour volume;
* with ``dead_cells``, a dead-cell compartment that does not divide and clears at ``k_clear``:
  cells that die stay in the tumour for a while, so volumes shrink more slowly than cells die.
  Its state ``D_rel`` is the dead-cell count relative to the initial cell count (O(1), 0 at
  day 0), fed by every population's death rate.

Outputs ``volume`` (mm^3) and ``log_volume`` (ln of it, what the log-normal error reads).
"""

from __future__ import annotations

from importlib.resources import files
from types import SimpleNamespace

import casadi as ca

from models.model import Model, ModelError, Parameter, State
from models.parameters import ParameterSet

DEAD = "D_rel"
VOLUME_PARAMETERS = (
    Parameter("V0", "mm^3", "tumour volume at day 0 (per subject)", positive=True),
    Parameter("density", "cell/mm^3", "tumour cells per unit of tumour volume", positive=True),
)
CLEARANCE = Parameter("k_clear", "1/day", "clearance rate of dead cells from the tumour",
                      positive=True)


def volume_model(model: Model, dead_cells: bool = False) -> Model:
    """``model`` with the volume outputs (and the dead-cell compartment)."""
    if model.populations is None:
        raise ModelError(f"model {model.name!r} declares no cell populations, so its tumour "
                         "volume is not defined; declare populations to fit volume data")
    populations = model.population_names
    taken = {*model.state_names, *model.parameter_names} & {
        DEAD, CLEARANCE.name, *(p.name for p in VOLUME_PARAMETERS)}
    if taken:
        raise ModelError(f"model {model.name!r} already has {sorted(taken)}, names the volume "
                         "model adds; rename them")

    def initial_cells(p: SimpleNamespace):
        start = model.initial(p)
        return sum(start[name] for name in populations)

    def initial(p: SimpleNamespace) -> dict:
        start = dict(model.initial(p))
        scale = p.V0 * p.density / initial_cells(p)
        start.update({name: start[name] * scale for name in populations})
        return {**start, **({DEAD: 0} if dead_cells else {})}

    def rhs(x: SimpleNamespace, u: SimpleNamespace, p: SimpleNamespace) -> dict:
        equations = dict(model.rhs(x, u, p))
        if dead_cells:
            rates = model.populations(x, u, p)
            deaths = sum(rates[name].death * getattr(x, name) for name in populations)
            equations[DEAD] = deaths / (p.V0 * p.density) - p.k_clear * getattr(x, DEAD)
        return equations

    def outputs(x: SimpleNamespace, p: SimpleNamespace) -> dict:
        cells = sum(getattr(x, name) for name in populations)
        if dead_cells:
            cells = cells + getattr(x, DEAD) * p.V0 * p.density
        volume = cells / p.density
        return {**model.outputs(x, p), "volume": volume, "log_volume": ca.log(volume)}

    return Model(
        name=f"{model.name}+volume{'+dead' if dead_cells else ''}",
        description=f"{model.description}; tumour volume from cells"
                    + (" and dead cells clearing at k_clear" if dead_cells else ""),
        states=(*model.states,
                *((State(DEAD, "1", description="dead cells rel. to the initial count"),)
                  if dead_cells else ())),
        controls=model.controls,
        parameters=(*model.parameters, *VOLUME_PARAMETERS,
                    *((CLEARANCE,) if dead_cells else ())),
        rhs=rhs, initial=initial, outputs=outputs, time_unit=model.time_unit,
        populations=model.populations,
    )


def volume_parameters() -> ParameterSet:
    """The observation model's parameters with their ranges and sources (data/volume.toml)."""
    return ParameterSet.from_toml(files("models") / "data" / "volume.toml")
