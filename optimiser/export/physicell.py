"""PhysiCell / PhysiPKPD dosing: one CSV per drug and a settings snippet that runs as written.

``out`` is a directory: ``<drug>_dose_schedule.csv`` per drug of the schedule and
``physipkpd_dosing.xml``, a ``<microenvironment_setup>`` with one complete ``<variable>`` per
drug to merge into a PhysiCell settings file. Its leading comment carries the units, the PK
derivation and the provenance (JSON, ``--`` written ``-\\u002d`` as XML comments require).

What PhysiPKPD does with it (github.com/drbergman/PhysiPKPD, v1.2.1 = commit 49cef24d,
``addons/PhysiPKPD/src/PhysiPKPD_PK.cpp``, cited as PK.cpp:line):

* Every ``variable`` with ``<PK enabled="true">`` gets a PK model (PK.cpp:244-256); its ``ID``
  attribute, read with ``as_int`` (missing: 0), is the substrate index it writes to (251), while
  PhysiCell numbers substrates by their order in the file and ignores ``ID``
  (PhysiCell 1.14.2 ``modules/PhysiCell_settings.cpp``:705-721).
* ``<model>`` must be ``Constant``, ``2C``, ``1C`` or ``SBML``; anything else, including a
  missing element, exits (PK.cpp:63-87). ``<biot_number>`` is read with ``as_double``, so a
  missing one is 0 and no drug ever reaches the tissue (60, 219), whatever PhysiPKPD's README
  and the header default of 1 say. ``1C`` reads ``<elimination_rate>`` in 1/min, missing = 0
  (333, 336).
* ``<schedule format="csv">`` (363-364) reads ``folder + "/" + filename`` (394-395) line by line
  with PhysiCell's ``csv_to_vector`` and exits unless each line gives exactly two numbers
  (409-418), time (min) and amount. Hence no header: ``csv_to_vector`` (BioFVM_vector.cpp:
  360-377) skips to the next digit, '.', '-', 'e' or 'E', stops at the 'e' of "time" where
  ``strtod`` converts nothing, and never advances; plain decimals, no blank line, no trailing
  blank or CR (its skipping loop has no end-of-string test).
* Each step of ``dt_diffusion`` (template_pkpd/main.cpp:219) a 1C model adds at most one due
  amount to the circulating concentration C, a bolus, then multiplies C by
  exp(-elimination_rate dt) (581-593); every Dirichlet voxel of the substrate is set to
  C x biot_number (219-233). PhysiCell marks voxels Dirichlet only if
  ``<Dirichlet_boundary_condition enabled="true">`` (PhysiCell_settings.cpp:736-753; default
  false), so the snippet enables it (all domain edges). The ``<X_read_dose_schedule_from_csv>``
  user parameters of old releases are read by no current version (PK.cpp:365 is a comment).

What an amount means, and how our doses become it: an amount is an increase of C, in the
substrate's unit, which is the unit of our model's own circulating state for that drug. That
state and its elimination are read off the model's equations (``circulation``), at the
exported parameter set: the state that receives the dose, or for an oral dose
(``Control.bolus_into``, a gut state) the one state the gut empties into. It must be a linear
first-order compartment; its elimination rate -d(dC/dt)/dC, converted to 1/min, is
``elimination_rate`` (ln 2 / half-life). Amounts:

* oral dose (model v2, the default preset): dose x (gut -> C transfer / gut emptying), i.e.
  dose / (V/F): 25 mg/kg of linsitinib is 25 / 2 L/kg = 12.5 mg/L, given at the dose time.
  assumption: PhysiPKPD's 1C and 2C models take doses straight into circulation (PK.cpp:566,
  586), so absorption is dropped; the exposure (AUC = dose / (V k)) is kept (to 1e-5 against
  our simulation, tests/test_export_physipkpd.py), the peak comes at the dose instead of 1-3 h
  later and is higher (mouse linsitinib 12.5 against 7.1 mg/L, osimertinib 0.50 against
  0.32). On the human half-day grid the amount is the dose of that interval (u x reference
  dose), not daily dose x grid step.
* dose held over a grid interval (model v1's effect compartment C = exposure relative to the
  reference dose's steady state, dimensionless): the interval's input, d(dC/dt)/du x u x step,
  as boluses every ``INFUSION_PIECE_MINUTES`` across the interval. Same AUC; the profile
  stays within one bolus of ours (measured 5.8 % of the peak for the IGF-1R inhibitor's 6 h
  half-life, 0.75 % for osimertinib), where one bolus a day would peak at 2.8 times the
  steady state.

Times are minutes from the start of treatment (PhysiCell's time unit; day 8 is 11520).
assumption: ``biot_number`` 1 (perivascular = circulating concentration), tissue
``decay_rate`` 0 (our model has no loss but systemic elimination) and the diffusion
coefficient of PhysiPKPD's template
(``sample_projects_physipkpd/template_pkpd/config/pkpd_model.xml``:55): values the user
replaces for the project, as the XML comment says.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.etree import ElementTree

import casadi as ca

from models.model import Model
from models.parameters import ParameterSet, convert
from models.schedule import Schedule
from optimiser.export.common import (
    ExportError,
    administrations,
    model_doses,
    number,
    provenance,
)

FORMAT_VERSION = "physipkpd-1c-csv-2"
SNIPPET = "physipkpd_dosing.xml"
MINUTES_PER_DAY = 1440.0
CONFIG_FOLDER = "./config"
PK_MODEL = "1C"
BIOT_NUMBER = 1.0
INFUSION_PIECE_MINUTES = 30.0
DIFFUSION_COEFFICIENT = 100000.0  # micron^2/min, PhysiPKPD template_pkpd/config/pkpd_model.xml:55


@dataclass(frozen=True)
class Circulation:
    """A drug's PK as PhysiPKPD's 1C model carries it: our model's circulating state, its
    elimination rate (1/min) and the rise of that state per unit of dose given."""

    state: str
    unit: str
    elimination_rate: float
    per_dose: float
    bolus: bool

    @property
    def half_life(self) -> float:
        """Minutes."""
        return math.log(2) / self.elimination_rate


def dose_file(drug: str) -> str:
    """PhysiPKPD's default name for substrate ``drug``'s schedule (PK.cpp:390)."""
    return f"{drug}_dose_schedule.csv"


def render(schedule: Schedule, model: Model, parameters: ParameterSet,
           out: Path) -> dict[Path, str]:
    doses = model_doses(schedule, model)
    pk = {drug: circulation(model, parameters, drug) for drug in doses.doses}
    files = {out / dose_file(drug): "".join(_rows(doses, drug, pk[drug]))
             for drug in doses.doses}
    record = provenance(schedule, model, parameters, "physicell", FORMAT_VERSION)
    files[out / SNIPPET] = _snippet(doses, pk, record)
    return files


def circulation(model: Model, parameters: ParameterSet, drug: str) -> Circulation:
    """Read ``drug``'s circulating compartment off the model's equations at ``parameters``:
    the state its dose enters (a rate held over the interval), or the state its gut state
    (``bolus_into``) empties into; refuse a drug whose PK is not one linear compartment."""
    control = model.control(drug)
    names = model.state_names
    x = ca.SX.sym("x", model.n_states)
    u = ca.SX.sym("u", len(model.controls))
    xdot = model.f_internal(x, u, model.parameter_vector(parameters))

    def refuse(reason: str) -> ExportError:
        return ExportError(f"physicell: drug {drug!r} of model {model.name!r} {reason}; "
                           "PhysiPKPD's 1C model needs one linear compartment it doses into")

    def rate(row: int, symbol: ca.SX) -> float:
        entry = ca.jacobian(xdot[row], symbol)
        if ca.depends_on(entry, ca.vertcat(x, u)):
            raise refuse(f"has a nonlinear {names[row]!r} equation")
        return float(ca.evalf(entry))

    if control.bolus_into:
        gut = names.index(control.bolus_into)
        source, others = x[gut], [i for i in range(model.n_states) if i != gut]
        if [i for i in range(model.n_states) if ca.depends_on(xdot[gut], x[i])] != [gut]:
            raise refuse(f"fills gut state {control.bolus_into!r} from other states")
        emptying = -rate(gut, x[gut])
    else:
        source, others = u[model.control_names.index(drug)], range(model.n_states)
    receivers = [i for i in others if ca.depends_on(xdot[i], source)]
    if len(receivers) != 1:
        raise refuse(f"doses into {[names[i] for i in receivers]}, not into one state")
    (central,) = receivers
    inputs = {central, gut} if control.bolus_into else {central}
    strays = [names[i] for i in range(model.n_states)
              if i not in inputs and ca.depends_on(xdot[central], x[i])]
    if strays:
        raise refuse(f"has a {names[central]!r} equation that depends on {strays}")
    if model.states[central].log:
        raise refuse(f"integrates {names[central]!r} as a logarithm")
    gain = rate(central, source)
    per_minute = convert(1.0, f"1/{model.time_unit}", "1/minute", what="model time unit")
    elimination = -rate(central, x[central]) * per_minute
    if not elimination > 0:
        raise refuse(f"has no elimination from {names[central]!r}")
    per_dose = gain / emptying if control.bolus_into else gain / control.reference_dose
    return Circulation(names[central], model.states[central].unit, elimination, per_dose,
                       bool(control.bolus_into))


def _rows(doses: Schedule, drug: str, pk: Circulation) -> list[str]:
    """``time,amount`` lines: a bolus model's dose at its interval's start; a held dose's
    input over the interval as equal boluses every ``INFUSION_PIECE_MINUTES``."""
    step = doses.grid_step * MINUTES_PER_DAY
    pieces = 1 if pk.bolus else math.ceil(step / INFUSION_PIECE_MINUTES - 1e-9)
    rows = []
    for k, dose in administrations(doses, drug):
        given = dose if pk.bolus else dose * doses.grid_step
        amount = number(float(f"{pk.per_dose * given / pieces:.12g}"))  # no 1-ulp tails
        rows += [f"{number(k * step + i * step / pieces)},{amount}\n" for i in range(pieces)]
    return rows


def _unit(unit: str) -> str:
    return "dimensionless" if unit == "1" else unit


def _snippet(doses: Schedule, pk: dict[str, Circulation], record: dict) -> str:
    root = ElementTree.Element("PhysiCell_settings")
    environment = ElementTree.SubElement(root, "microenvironment_setup")
    for index, drug in enumerate(doses.doses):
        unit = _unit(pk[drug].unit)
        environment.append(ElementTree.Comment(
            f" {drug}: ID = this variable's position among ALL the project's variables (from "
            f"0); amounts are rises of circulating {pk[drug].state} in {unit}; set diffusion, "
            "decay and biot_number for the project "))
        variable = ElementTree.SubElement(environment, "variable", name=drug, units=unit,
                                          ID=str(index))
        physical = ElementTree.SubElement(variable, "physical_parameter_set")
        ElementTree.SubElement(physical, "diffusion_coefficient",
                               units="micron^2/min").text = number(DIFFUSION_COEFFICIENT)
        ElementTree.SubElement(physical, "decay_rate", units="1/min").text = "0"
        ElementTree.SubElement(variable, "initial_condition", units=unit).text = "0"
        ElementTree.SubElement(variable, "Dirichlet_boundary_condition", units=unit,
                               enabled="true").text = "0"
        element = ElementTree.SubElement(variable, "PK", enabled="true")
        ElementTree.SubElement(element, "model").text = PK_MODEL
        ElementTree.SubElement(element, "elimination_rate", units="1/min").text = number(
            pk[drug].elimination_rate)
        ElementTree.SubElement(element, "biot_number").text = number(BIOT_NUMBER)
        schedule = ElementTree.SubElement(element, "schedule", format="csv")
        ElementTree.SubElement(schedule, "folder").text = CONFIG_FOLDER
        ElementTree.SubElement(schedule, "filename").text = dose_file(drug)
    ElementTree.indent(root)
    header = {
        "files": {dose_file(d): "time,amount rows, no header" for d in doses.doses},
        "units": {"time": "min", "amount": {d: _unit(pk[d].unit) for d in doses.doses}},
        "dose_units": {d: doses.dose_units[d] for d in doses.doses},
        "pk": {d: {**asdict(pk[d]), "half_life_min": pk[d].half_life} for d in doses.doses},
        "horizon_min": doses.horizon * MINUTES_PER_DAY,
        "provenance": record}
    comment = json.dumps(header, indent=1, default=str).replace("--", "-\\u002d")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!-- persister-opt dosing for PhysiPKPD '
            f"(PK model {PK_MODEL}): merge the variables into the project's "
            f"microenvironment_setup, copy the CSV files to {CONFIG_FOLDER}, set max_time to at "
            f"least {number(doses.horizon * MINUTES_PER_DAY)} min. Each amount is a bolus "
            "added to the circulating concentration: per_dose x the dose given (dose_units), "
            "per_dose read off the model's own PK (state, elimination_rate in 1/min).\n"
            f"{comment}\n-->\n{ElementTree.tostring(root, encoding='unicode')}\n")
