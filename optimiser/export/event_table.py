"""NONMEM / mrgsolve event table (CSV) with a JSON sidecar that carries units and provenance.

In the model each drug acts through a control ``u`` (the dose fraction of the reference daily
dose) held constant over a grid interval and driving an effect compartment, e.g.
``C' = ln2/t_half (u - C)``. A daily dose ``d`` on an interval of ``h`` days is therefore a
zero-order input: ``AMT = d*h`` (dose unit, mg/kg), ``RATE = d`` (mg/kg/day), duration
``AMT/RATE = h``, and ``u = RATE / reference_dose`` while it runs. A drug given by mouth
(``Control.bolus_into``, a gut compartment) is a bolus instead: ``AMT = d`` into that
compartment at the start of the interval, ``RATE = 0``. TIME and II are in days.

Equal doses at a constant spacing are one row with ``II`` (spacing) and ``ADDL`` (additional
doses); a lone pair of non-adjacent doses stays two rows, which reads better. Every grid node
also gets an observation row (``EVID 0, MDV 0, CMT 0, DV .``): the file is a simulation
template whose observation rows are the report times (NONMEM reads ``.`` as 0, which ``$SIM``
replaces; R reads it as NA with ``na.strings = "."``): fill ``DV`` or set ``MDV 1`` before
estimating with it. Each model control has its own ``CMT`` (declaration order, from 1), listed
in the sidecar with the states it drives. The CSV stays pure (one header line, then numbers and
``.``) as both readers want; units and column meanings live in the sidecar ``<name>.json``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import casadi as ca

from models.model import Model
from models.parameters import ParameterSet
from models.schedule import Schedule
from optimiser.export.common import (
    ExportError,
    administrations,
    dumps,
    model_doses,
    number,
    provenance,
)

FORMAT_VERSION = "nonmem-event-table-1"
COLUMNS = ("ID", "TIME", "EVID", "CMT", "AMT", "RATE", "II", "ADDL", "SS", "DV", "MDV")
MISSING = "."
Run = tuple[int, int, int, float]  # first interval, spacing (intervals), dose count, daily dose


def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".json")


def render(schedule: Schedule, model: Model, parameters: ParameterSet,
           out: Path) -> dict[Path, str]:
    if sidecar_path(out) == out:
        raise ExportError(f"event table {str(out)!r} ends in .json, the name of its sidecar; "
                          "give it a .csv name")
    doses = model_doses(schedule, model)
    step = doses.grid_step
    rows = [(k * step, 0, 0, 0.0, 0.0, 0.0, 0) for k in range(doses.n_intervals + 1)]
    for cmt, control in enumerate(model.controls, start=1):
        for first, spacing, count, dose in runs(administrations(doses, control.name)):
            amount, rate = (dose, 0.0) if control.bolus_into else (dose * step, dose)
            rows.append((first * step, 1, cmt, amount, rate, spacing * step, count - 1))
    rows.sort(key=lambda row: row[:3])  # by time; observations before doses at the same time

    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(COLUMNS)
    for time, evid, cmt, amount, rate, interval, additional in rows:
        writer.writerow(["1", number(time), evid, cmt, number(amount), number(rate),
                         number(interval), additional, 0, MISSING, 1 if evid else 0])
    sidecar = _sidecar(doses, model, out.name,
                       provenance(schedule, model, parameters, "nonmem", FORMAT_VERSION))
    return {out: table.getvalue(), sidecar_path(out): dumps(sidecar)}


def runs(doses: list[tuple[int, float]]) -> list[Run]:
    """Greedy maximal runs of equal dose at a constant spacing over (interval, dose) pairs."""
    found, i = [], 0
    while i < len(doses):
        first, dose = doses[i]
        count, spacing = 1, 0
        if i + 1 < len(doses) and doses[i + 1][1] == dose:
            spacing, count = doses[i + 1][0] - first, 2
            while (i + count < len(doses) and doses[i + count][1] == dose
                   and doses[i + count][0] - doses[i + count - 1][0] == spacing):
                count += 1
            if count == 2 and spacing > 1:
                spacing, count = 0, 1
        found.append((first, spacing, count, dose))
        i += count
    return found


def driven_states(model: Model) -> dict[str, list[str]]:
    """{control: states whose right-hand side depends on it}, read off the CasADi graph."""
    x = ca.SX.sym("x", model.n_states)
    u = ca.SX.sym("u", len(model.controls))
    p = ca.SX.sym("p", len(model.parameters))
    rhs = model.f_internal(x, u, p)
    return {control.name: [state for i, state in enumerate(model.state_names)
                           if ca.depends_on(rhs[i], u[j])]
            for j, control in enumerate(model.controls)}


def _sidecar(doses: Schedule, model: Model, data_file: str, record: dict) -> dict:
    time_unit = "day"
    driven = driven_states(model)
    compartments = {
        str(cmt): {
            "drug": control.name, "description": control.description,
            "driven_states": driven[control.name],
            "AMT_unit": control.dose_unit, "RATE_unit": f"{control.dose_unit}/{time_unit}",
            "reference_dose": control.reference_dose,
            "reference_dose_unit": f"{control.dose_unit}/{time_unit}",
            "control_value": (f"a bolus of AMT into {control.bolus_into} (RATE 0)"
                              if control.bolus_into else
                              "u = RATE / reference_dose while an infusion runs, 0 otherwise"),
            "given": control.name in doses.doses,
        }
        for cmt, control in enumerate(model.controls, start=1)
    }
    return {
        "format": "NONMEM/mrgsolve event table (CSV)", "format_version": FORMAT_VERSION,
        "data_file": data_file, "model": model.name, "time_unit": time_unit,
        "grid_step": doses.grid_step, "horizon": doses.horizon,
        "columns": {
            "ID": "subject; one schedule is subject 1",
            "TIME": f"{time_unit}s since the start of treatment",
            "EVID": "1 dose record, 0 observation record",
            "CMT": "dosing compartment (see compartments); 0 on observation records",
            "AMT": "amount of one dose (compartment's AMT_unit): daily dose x grid step for an "
                   "infusion, the dose itself for a bolus",
            "RATE": "zero-order input rate: daily dose (compartment's RATE_unit); duration "
                    "AMT/RATE = one grid step; 0 for a bolus (see control_value)",
            "II": f"interval between repeated doses, {time_unit}s (0 if none)",
            "ADDL": "additional doses after this one, every II",
            "SS": "0: no steady-state dosing",
            "DV": "'.': no measurement; observation rows are the times to report",
            "MDV": "1 on dose records, 0 on observation records",
        },
        "compartments": compartments,
        "provenance": record,
    }
