"""The PhysiCell export read as PhysiPKPD reads it, and its exposure against our own simulation.

The reader below follows, rule by rule, PhysiPKPD v1.2.1 (github.com/drbergman/PhysiPKPD, tag
v1.2.1 = commit 49cef24d6c6250c333ef4d7e15e471d7950339f6), ``addons/PhysiPKPD/src/
PhysiPKPD_PK.cpp`` (cited PK.cpp:line), with PhysiCell 1.14.2 (github.com/MathCancer/PhysiCell,
commit 69a23dbe) for the parts PhysiCell parses: ``modules/PhysiCell_settings.cpp`` (settings:line)
and ``BioFVM/BioFVM_vector.cpp`` (vector:line). pugixml conversions: ``as_double``/``as_int`` of
a missing element or attribute are 0, ``as_string`` is "", ``as_bool`` is true only for a text
starting with 1, t, T, y or Y.
"""

import math
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
import pint
import pytest

from models import Control, Model, Parameter, ParameterSet, Schedule, State
from models.persister import default_parameters, persister_model
from models.persister.v2 import (
    human_parameters,
    persister_human_model,
    persister_v2_model,
    v2_parameters,
)
from optimiser.export import ExportError, export_schedule
from optimiser.simulate import simulate

PK_MODELS = ("Constant", "2C", "1C", "SBML")  # PK.cpp:65
HALF_LIVES = {"osimertinib": "t_half_osi", "igf1r_inhibitor": "t_half_igf",
              "foxa1_inhibitor": "t_half_fox"}
VOLUMES = {"osimertinib": "V_osi", "igf1r_inhibitor": "V_igf", "foxa1_inhibitor": "V_fox"}
UNITS = pint.UnitRegistry()


class PhysiPKPDExit(Exception):
    """Where PhysiPKPD prints an error and calls exit(-1), or PhysiCell's reader never ends."""


# -- the reader --------------------------------------------------------------------------------
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")  # what strtod converts here


def csv_to_vector(line: str) -> list[float]:
    """vector:360-377: skip to a digit, '.', '-', 'e' or 'E' (367, with no end-of-string test:
    trailing characters make it read past the line), then strtod from there; where strtod
    converts nothing (the 'e' of a header "time") the index does not move and the loop spins."""
    values, i = [], 0
    while i < len(line):
        while not (line[i].isdigit() or line[i] in ".-eE"):
            i += 1
            if i == len(line):
                raise PhysiPKPDExit(f"csv_to_vector reads past the end of {line!r}")
        match = NUMBER.match(line, i)
        if match is None:
            raise PhysiPKPDExit(f"csv_to_vector never advances at {line[i:]!r}")
        values.append(float(match.group()))
        i = match.end()
    return values


def read_dose_csv(text: str) -> list[tuple[float, float]]:
    """PK.cpp:408-422: std::getline lines (a final newline ends the last line, it adds none),
    each exactly two numbers, "time,amount"."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    rows = []
    for line in lines:
        data = csv_to_vector(line)
        if len(data) != 2:
            raise PhysiPKPDExit("Importing dosing schedule from a CSV file expects each row to "
                                "be time,amount.")
        rows.append((data[0], data[1]))
    return rows


def _as_double(text: str | None) -> float:
    match = NUMBER.match((text or "").strip())
    return float(match.group()) if match else 0.0


def _as_bool(text: str | None) -> bool:
    return (text or "").strip()[:1] in tuple("1tTyY")


@dataclass
class PK:
    name: str
    index: int  # PhysiPKPD's substrate index
    position: int  # PhysiCell's substrate index
    model: str
    elimination_rate: float
    biot_number: float
    dirichlet: bool
    diffusion: float
    doses: list[tuple[float, float]]


def physipkpd(project) -> list[PK]:
    """What PhysiPKPD builds from ``project/config/PhysiCell_settings.xml`` (run in ``project``)."""
    root = ET.parse(project / "config" / "PhysiCell_settings.xml").getroot()
    found = []
    # settings:705-721: PhysiCell numbers substrates by their order, ID unread
    for position, variable in enumerate(root.find("microenvironment_setup").iter("variable")):
        pk = variable.find("PK")
        if pk is None or pk.get("enabled", "") != "true":  # PK.cpp:246-248
            continue
        name = variable.get("name", "")
        model = pk.findtext("model", "")  # PK.cpp:63-87
        if model not in PK_MODELS:
            raise PhysiPKPDExit(f"{name} is set to follow {model} but this is not an "
                                "allowable option.")
        schedule = pk.find("schedule")
        if schedule is None or schedule.get("format", "") != "csv":  # PK.cpp:361-364
            raise AssertionError(f"{name}: the export always schedules by CSV")
        folder, filename = schedule.findtext("folder"), schedule.findtext("filename")
        path = (project / folder / filename if folder is not None and filename is not None
                else project / "config" / f"{name}_dose_schedule.csv")  # PK.cpp:379-396
        if not path.exists():
            raise PhysiPKPDExit(f"{path} not found")  # PK.cpp:402-406
        found.append(PK(
            name=name, index=int(_as_double(variable.get("ID"))), position=position,  # 251
            model=model, elimination_rate=_as_double(pk.findtext("elimination_rate")),  # 333
            biot_number=_as_double(pk.findtext("biot_number")),  # PK.cpp:60
            dirichlet=_as_bool(variable.find("Dirichlet_boundary_condition").get("enabled"))
            if variable.find("Dirichlet_boundary_condition") is not None else False,  # 736-740
            diffusion=_as_double(variable.findtext("physical_parameter_set/"
                                                   "diffusion_coefficient")),  # settings:726
            doses=read_dose_csv(path.read_bytes().decode())))
    return found


def circulating(pk: PK, minutes: np.ndarray) -> np.ndarray:
    """The 1C solution PK.cpp:581-593 steps at dt_diffusion (a due dose added to C, then C times
    exp(-elimination_rate dt)), as dt -> 0: sum of A exp(-k (t - t_dose)) over past doses."""
    times, amounts = (np.array(column) for column in zip(*pk.doses, strict=True))
    ages = minutes[:, None] - times[None, :]
    return np.where(ages >= 0, amounts * np.exp(-pk.elimination_rate * np.clip(ages, 0, None)),
                    0.0).sum(axis=1)


# -- exports -----------------------------------------------------------------------------------
def _daily(n, runs):
    doses = np.zeros(n)
    for start, stop, dose in runs:
        doses[start:stop] = dose
    return doses


MOUSE = Schedule(1.0, 20.0, {"osimertinib": _daily(20, [(0, 10, 5.0)]),
                             "igf1r_inhibitor": _daily(20, [(0, 3, 25.0), (6, 7, 12.5)])},
                 {"osimertinib": "mg/kg", "igf1r_inhibitor": "mg/kg"}, {})
HUMAN = Schedule(0.5, 20.0, {"osimertinib": np.r_[np.tile([80.0, 0.0], 10), np.zeros(20)],
                             "igf1r_inhibitor": _daily(40, [(0, 10, 150.0), (14, 15, 75.0)])},
                 {"osimertinib": "mg", "igf1r_inhibitor": "mg"}, {})
CASES = {"v1": (persister_model, default_parameters, MOUSE),
         "v2": (persister_v2_model, v2_parameters, MOUSE),
         "human": (persister_human_model, human_parameters, HUMAN)}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """(name, model, parameters, schedule, project dir, exported dir) for one model."""
    build, load, schedule = CASES[request.param]
    model, parameters = build(), load()
    out = tmp_path_factory.mktemp(request.param) / "physicell"
    export_schedule(schedule, model, parameters, "physicell", out)
    project = out.parent / "project"
    (project / "config").mkdir(parents=True)
    for csv in out.glob("*.csv"):
        shutil.copy(csv, project / "config")
    shutil.copy(out / "physipkpd_dosing.xml", project / "config" / "PhysiCell_settings.xml")
    return request.param, model, parameters, schedule, project, out


def _minutes(parameters: ParameterSet, name: str) -> float:
    entry = parameters.values[name]
    return (entry.value * UNITS(entry.unit)).to("minute").magnitude


def test_physipkpd_reads_a_complete_pk_element_per_drug(case):
    _, _, _, schedule, project, out = case
    found = physipkpd(project)
    assert [pk.name for pk in found] == list(schedule.doses)
    for variable in ET.parse(out / "physipkpd_dosing.xml").getroot().iter("variable"):
        # present, not defaulted: a missing ID, model or biot_number reads as 0 / "" / 0
        assert variable.get("ID") is not None
        for element in ("model", "elimination_rate", "biot_number", "schedule/folder",
                        "schedule/filename"):
            assert variable.find(f"PK/{element}") is not None, element
    for pk in found:
        assert pk.model == "1C"
        assert pk.biot_number == 1.0  # not PhysiPKPD's missing-element 0, which doses nothing
        assert pk.elimination_rate > 0
        assert pk.dirichlet, "without Dirichlet voxels PK.cpp:225-229 writes nowhere"
        assert pk.diffusion > 0
        assert pk.doses, "every drug of these schedules is given"


def test_substrate_ids_are_the_variable_order(case):
    found = physipkpd(case[4])
    assert [pk.index for pk in found] == [pk.position for pk in found] == list(range(len(found)))


def test_elimination_rate_is_our_half_life_in_minutes(case):
    _, _, parameters, _, project, _ = case
    for pk in physipkpd(project):
        expected = math.log(2) / _minutes(parameters, HALF_LIVES[pk.name])
        assert pk.elimination_rate == pytest.approx(expected, rel=1e-12)


def _given(schedule, drug):
    """(start minute, dose) of each dosed interval."""
    step = schedule.grid_step * 1440
    return [(k * step, dose) for k, dose in enumerate(schedule.doses[drug]) if dose > 0]


def test_amounts_are_our_doses_in_the_circulating_unit(case):
    name, model, parameters, schedule, project, _ = case
    for pk in physipkpd(project):
        times, amounts = (np.array(column) for column in zip(*pk.doses, strict=True))
        assert np.all(np.diff(times) > 0) and times[0] >= 0
        given = _given(schedule, pk.name)
        if name == "v1":  # a dose held over the interval: its input as 30-min boluses
            # dC/dt = ln 2 / t_half (u - C): the interval puts ln 2 / t_half x u x step into C
            rate = math.log(2) / _minutes(parameters, HALF_LIVES[pk.name]) * 1440
            u = np.array([dose for _, dose in given]) / model.control(pk.name).reference_dose
            np.testing.assert_allclose(amounts.reshape(len(given), -1).sum(axis=1),
                                       rate * u * schedule.grid_step, rtol=1e-10)
            np.testing.assert_allclose(times, [start + 30 * i for start, _ in given
                                               for i in range(48)], rtol=0, atol=1e-9)
        else:  # an oral dose, the whole dose at the interval's start, / V/F: mg/L
            volume = parameters.values[VOLUMES[pk.name]]
            unit = schedule.dose_units[pk.name]
            expected = [(dose * UNITS(unit) / (volume.value * UNITS(volume.unit))).to(
                "mg/L").magnitude for _, dose in given]
            np.testing.assert_allclose(amounts, expected, rtol=1e-10)
            np.testing.assert_array_equal(times, [start for start, _ in given])


def test_circulating_exposure_is_our_models(case):
    """The 1C model run on the export against this project's simulation of the same schedule:
    the same exposure (AUC to infinity); v1's held doses, written as 30-min boluses, also the
    same profile to within one bolus (the train leads the steady input by at most that)."""
    name, model, parameters, schedule, project, _ = case
    trajectory = simulate(model, model.parameter_vector(parameters), schedule,
                          samples_per_interval=round(1440 * schedule.grid_step))
    minutes = trajectory.times * 1440
    states = trajectory.states
    for pk in physipkpd(project):
        ours = states[{"osimertinib": "C_osi", "igf1r_inhibitor": "C_igf"}[pk.name]]
        # AUC to infinity: after the horizon (doses over, the gut empty) C decays at its rate
        auc_theirs = sum(amount for _, amount in pk.doses) / pk.elimination_rate
        auc_ours = np.trapezoid(ours, minutes) + ours[-1] / pk.elimination_rate
        assert auc_theirs == pytest.approx(auc_ours, rel=5e-5), (pk.name, auc_ours, auc_theirs)
        if name == "v1":  # measured: 0.0075 (osimertinib), 0.058 (IGF-1R) of the peak
            bolus = max(amount for _, amount in pk.doses)
            deviation = np.max(np.abs(circulating(pk, minutes) - ours))
            assert deviation <= bolus * (1 + 1e-9), (pk.name, deviation, bolus)


def test_the_csv_reader_refuses_what_physipkpd_refuses(case):
    """The reader is strict where PhysiPKPD is, so the exported files passing it means
    something: a header spins, CR or blanks at the end read past the line, a blank line or a
    third column exits."""
    rows = read_dose_csv((case[5] / "osimertinib_dose_schedule.csv").read_text())
    assert rows and all(len(row) == 2 for row in rows)
    with pytest.raises(PhysiPKPDExit, match="never advances"):
        read_dose_csv("time,amount\n0,5\n")
    with pytest.raises(PhysiPKPDExit, match="past the end"):
        read_dose_csv("0,5\r\n")
    for bad in ("0,5\n\n1440,5\n", "0,5,1\n"):
        with pytest.raises(PhysiPKPDExit, match="expects each row to be time,amount"):
            read_dose_csv(bad)
    assert read_dose_csv("0,5\n1440,2.5") == [(0.0, 5.0), (1440.0, 2.5)]


def test_the_old_snippet_fails_as_the_user_saw_and_its_flags_are_gone(case, tmp_path):
    """The reported failure, reproduced by the reader on a PK element without ``<model>``; the
    ``<X_read_dose_schedule_from_csv>`` user parameters (read by no current release, PK.cpp:365
    is commented out) are no longer written."""
    out = case[5]
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "PhysiCell_settings.xml").write_text(
        '<PhysiCell_settings><microenvironment_setup><variable name="igf1r_inhibitor">'
        '<PK enabled="true"><schedule format="csv"><folder>./config</folder><filename>x.csv'
        "</filename></schedule></PK></variable></microenvironment_setup></PhysiCell_settings>")
    with pytest.raises(PhysiPKPDExit, match="igf1r_inhibitor is set to follow  but this is not"):
        physipkpd(tmp_path)
    root = ET.parse(out / "physipkpd_dosing.xml").getroot()
    assert root.find("user_parameters") is None
    assert "read_dose_schedule_from_csv" not in (out / "physipkpd_dosing.xml").read_text()


def _toy(rhs, bolus_into=""):
    states = (State("A", "mg"), State("C", "mg/L"), State("E"))
    return Model(name="toy_pk", states=states,
                 controls=(Control("drug", dose_unit="mg", reference_dose=10.0,
                                   bolus_into=bolus_into),),
                 parameters=(Parameter("k", "1/day"),), rhs=rhs,
                 initial=lambda p: {"A": 0, "C": 0, "E": 0},
                 outputs=lambda x, p: {"c": x.C})


TOY_PARAMETERS = ParameterSet.from_mapping(
    {"parameters": {"k": {"value": 2.0, "unit": "1/day", "source": "test"}}})
TOY_SCHEDULE = Schedule(1.0, 4.0, {"drug": np.array([10.0, 0, 10.0, 0])}, {"drug": "mg"}, {})


@pytest.mark.parametrize(("rhs", "bolus_into", "complaint"), [
    (lambda x, u, p: {"A": 0, "C": u.drug - p.k * x.C ** 2, "E": 0}, "",
     "has a nonlinear 'C' equation"),
    (lambda x, u, p: {"A": u.drug, "C": u.drug - p.k * x.C, "E": 0}, "",
     r"doses into \['A', 'C'\], not into one state"),
    (lambda x, u, p: {"A": -p.k * x.A, "C": p.k * x.A - p.k * x.E * x.C, "E": 0}, "A",
     r"has a 'C' equation that depends on \['E'\]"),
    (lambda x, u, p: {"A": -p.k * x.A, "C": p.k * x.A, "E": 0}, "A",
     "has no elimination from 'C'"),
])
def test_pk_that_1c_cannot_carry_is_refused(tmp_path, rhs, bolus_into, complaint):
    with pytest.raises(ExportError, match=f"drug 'drug' of model 'toy_pk' {complaint}; "
                                          "PhysiPKPD's 1C model needs one linear compartment"):
        export_schedule(TOY_SCHEDULE, _toy(rhs, bolus_into), TOY_PARAMETERS, "physicell",
                        tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_toy_oral_drug_is_dose_over_volume_with_its_own_elimination(tmp_path):
    """Any model, not only the built-in one: gut A (k_a = 2 k) into C with elimination k."""
    model = _toy(lambda x, u, p: {"A": -2 * p.k * x.A, "C": 2 * p.k * x.A / 4 - p.k * x.C,
                                  "E": 0}, "A")
    export_schedule(TOY_SCHEDULE, model, TOY_PARAMETERS, "physicell", tmp_path / "out")
    rows = (tmp_path / "out" / "drug_dose_schedule.csv").read_text()
    assert rows == "0,2.5\n2880,2.5\n"  # 10 mg into 4 L
    pk = ET.parse(tmp_path / "out" / "physipkpd_dosing.xml").getroot().find(".//PK")
    assert float(pk.findtext("elimination_rate")) == pytest.approx(2.0 / 1440, rel=1e-12)
