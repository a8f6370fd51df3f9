"""PhysiCell / PhysiPKPD dosing: one CSV per drug and an XML snippet that points to them.

``out`` is a directory. For each drug the schedule gives, ``<drug>_dose_schedule.csv`` holds one
row per administration, ``time,amount``: time in minutes since the start of treatment
(PhysiCell's time unit; day 8 is 11520), amount in the model's dose unit (mg/kg for the built-in
model) given at the start of each dosed grid interval, i.e. daily dose x grid step (the daily
dose itself on the default 1-day grid). ``physipkpd_dosing.xml`` is a fragment of a PhysiCell
settings file to merge into the project's config; its leading comment carries the units and the
provenance (JSON, with ``--`` written ``-\\u002d`` as XML comments require).

Names follow PhysiPKPD (github.com/drbergman/PhysiPKPD) as found in its sources:

* README, "Dosing by CSV" and the PK templates: inside ``microenvironment_setup//variable``,
  ``<PK enabled="true">`` with ``<schedule format="csv"><folder>./config</folder>
  <filename>S_dose_schedule.csv</filename></schedule>``; the file has two columns, time of dose
  (min) and dose amount, and no header row.
* ``addons/PhysiPKPD/src/PhysiPKPD_PK.cpp`` (``setup_pk_single_dosing_schedule``): reads
  ``folder + "/" + filename`` line by line with PhysiCell's ``csv_to_vector`` and exits unless
  every line gives exactly two numbers ("expects each row to be time,amount").
* Earlier releases (``sample_projects_physipkpd/template_pkpd/config/pkpd_model.xml``): the
  user parameter ``<S_read_dose_schedule_from_csv type="bool">``, which reads
  ``./config/S_dose_schedule.csv``; the snippet sets it too, so the same files serve both.

Hence no header line: ``csv_to_vector`` skips to the next digit, '.', '-', 'e' or 'E', and on a
header ``time,amount`` it stops at the 'e' of "time" where ``strtod`` converts nothing, so the
loop would never advance. Numbers are plain decimals for the same reader. PhysiPKPD adds each
amount to the circulation concentration of its own PK model (``1C``/``2C``, a bolus): choose
that ``<model>`` and its parameters, and scale mg/kg to the substrate's unit, when merging.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from models.model import Model
from models.parameters import ParameterSet
from models.schedule import Schedule
from optimiser.export.common import administrations, model_doses, number, provenance

FORMAT_VERSION = "physipkpd-dose-csv-1"
SNIPPET = "physipkpd_dosing.xml"
MINUTES_PER_DAY = 1440.0
CONFIG_FOLDER = "./config"


def dose_file(drug: str) -> str:
    """PhysiPKPD's default name for substrate ``drug``'s schedule."""
    return f"{drug}_dose_schedule.csv"


def render(schedule: Schedule, model: Model, parameters: ParameterSet,
           out: Path) -> dict[Path, str]:
    doses = model_doses(schedule, model)
    files = {}
    for drug in doses.doses:
        rows = [f"{number(k * doses.grid_step * MINUTES_PER_DAY)},"
                f"{number(dose * doses.grid_step)}\n"
                for k, dose in administrations(doses, drug)]
        files[out / dose_file(drug)] = "".join(rows)
    record = provenance(schedule, model, parameters, "physicell", FORMAT_VERSION)
    files[out / SNIPPET] = _snippet(doses, record)
    return files


def _snippet(doses: Schedule, record: dict) -> str:
    root = ElementTree.Element("PhysiCell_settings")
    environment = ElementTree.SubElement(root, "microenvironment_setup")
    user = ElementTree.SubElement(root, "user_parameters")
    for drug in doses.doses:
        variable = ElementTree.SubElement(environment, "variable", name=drug)
        pk = ElementTree.SubElement(variable, "PK", enabled="true")
        pk.append(ElementTree.Comment(
            " add <model> (1C or 2C) and its parameters; amounts are "
            f"{doses.dose_units[drug]} per dose, scale them to this substrate "))
        schedule = ElementTree.SubElement(pk, "schedule", format="csv")
        ElementTree.SubElement(schedule, "folder").text = CONFIG_FOLDER
        ElementTree.SubElement(schedule, "filename").text = dose_file(drug)
        ElementTree.SubElement(user, f"{drug}_read_dose_schedule_from_csv",
                               type="bool").text = "true"
    ElementTree.indent(root)
    units = {drug: doses.dose_units[drug] for drug in doses.doses}
    header = {"files": {dose_file(d): "time,amount rows, no header" for d in doses.doses},
              "units": {"time": "min", "amount": units}, "provenance": record}
    comment = json.dumps(header, indent=1, default=str).replace("--", "-\\u002d")
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<!-- persister-opt dosing for PhysiPKPD: '
            f"merge into the PhysiCell config; copy the CSV files to {CONFIG_FOLDER}.\n"
            f"{comment}\n-->\n{ElementTree.tostring(root, encoding='unicode')}\n")
