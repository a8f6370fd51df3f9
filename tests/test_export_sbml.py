"""The SBML export under libsbml's strict unit checks, its names, and COPASI as a second simulator.

COPASI (through basico, its LSODA) reads the same file as libroadrunner does in test_export.py and
is compared with the project's scipy simulation by the same helper, on the same schedules.
"""

import collections
import locale
import math

import numpy as np
import pytest

from models import Parameter, ParameterSet
from models.parameters import ParameterValue
from models.persister import default_parameters, persister_model
from optimiser.export import ExportError, export_schedule

from .test_export import (
    PULSES,
    SCHEDULES,
    SIMULATED,
    TWO_POPULATION,
    TWO_POPULATION_PARAMETERS,
    _compare_with,
    _sbml,
    _schedule,
    _variant,
)

libsbml = pytest.importorskip("libsbml")
CATEGORIES = ("GENERAL_CONSISTENCY", "IDENTIFIER_CONSISTENCY", "UNITS_CONSISTENCY",
              "MATHML_CONSISTENCY", "SBO_CONSISTENCY", "OVERDETERMINED_MODEL",
              "MODELING_PRACTICE")
TWO_POPULATION_SCHEDULE = _schedule(horizon=30.0, drug=[(0, 4, 10), (6, 9, 5), (9, 10, 10)])


@pytest.fixture(scope="module")
def parameters():
    return default_parameters()


def _exported(which, parameters, tmp_path):
    """(model, SBML text) of the base model, the glucose model or the README's second model."""
    if which == "two_population":
        return TWO_POPULATION, _sbml(TWO_POPULATION_SCHEDULE, TWO_POPULATION,
                                     TWO_POPULATION_PARAMETERS, tmp_path)
    model = persister_model(glucose=which == "glucose")
    return model, _sbml(PULSES, model, parameters, tmp_path)


def _strict_messages(text):
    """Every message of libsbml's full check with every category on and unit warnings counted
    as errors, plus its internal check: (severity, category, id, first line)."""
    document = libsbml.readSBMLFromString(text)
    for category in CATEGORIES:
        document.setConsistencyChecks(getattr(libsbml, f"LIBSBML_CAT_{category}"), True)
    document.checkConsistencyWithStrictUnits()
    document.checkInternalConsistency()
    errors = [document.getError(i) for i in range(document.getNumErrors())]
    return [(e.getSeverityAsString(), e.getCategoryAsString(), e.getErrorId(),
             e.getMessage().strip().splitlines()[0]) for e in errors]


@pytest.mark.parametrize("which", ["base", "glucose", "two_population"])
def test_sbml_passes_libsbml_strict_unit_checks_without_any_message(parameters, tmp_path, which):
    messages = _strict_messages(_exported(which, parameters, tmp_path)[1])
    print(which, collections.Counter(m[:2] for m in messages), *messages, sep="\n  ")
    assert [m for m in messages if m[0] in ("Error", "Fatal")] == []
    assert [m for m in messages if "unit" in m[1].lower()] == []
    assert messages == []  # no warning of any other kind either


def _numbers(node):
    """Every literal (cn) in a MathML tree."""
    if node.isNumber():
        yield node
    for i in range(node.getNumChildren()):
        yield from _numbers(node.getChild(i))


def _factor(definition):
    """A UnitDefinition's value in SI base units: the product of (multiplier 10^scale)^exponent."""
    return math.prod((u.getMultiplier() * 10.0 ** u.getScale()) ** u.getExponent()
                     for u in definition.getListOfUnits())


def test_sbml_every_literal_and_variable_carries_its_unit(parameters, tmp_path):
    sbml = libsbml.readSBMLFromString(_exported("glucose", parameters, tmp_path)[1]).getModel()
    maths = ([r.getMath() for r in sbml.getListOfRules()]
             + [a.getMath() for a in sbml.getListOfInitialAssignments()]
             + [e.getTrigger().getMath() for e in sbml.getListOfEvents()]
             + [a.getMath() for e in sbml.getListOfEvents() for a in e.getListOfEventAssignments()])
    literals = [n for m in maths for n in _numbers(m)]
    assert len(literals) > 50 and all(n.getUnits() for n in literals)
    assert all(p.getUnits() for p in sbml.getListOfParameters())
    # a log state is a pure number scaled by one cell
    reference = sbml.getParameter("ref_cell")
    assert (reference.getValue(), reference.getConstant(), reference.getUnits()) == (1.0, True,
                                                                                     "cell")
    cell = sbml.getUnitDefinition("cell").getUnit(0)
    assert (cell.getKind(), cell.getExponent(), cell.getMultiplier()) == (libsbml.UNIT_KIND_ITEM,
                                                                          1, 1)
    assert sbml.getParameter("ln_S").getUnits() == "dimensionless"
    assert sbml.getParameter("S").getUnits() == "cell"
    assert libsbml.formulaToL3String(sbml.getAssignmentRule("S").getMath()) == \
        "ref_cell * exp(ln_S)"
    assert libsbml.formulaToL3String(sbml.getInitialAssignment("ln_R").getMath()) == \
        "ln(R0 / ref_cell)"
    assert "ln((S + P + R) / ref_cell)" in libsbml.formulaToL3String(
        sbml.getAssignmentRule("log10_total_cells").getMath())
    # outputs in the unit of their expression: mg/dL = 1e-6 kg / 1e-4 m^3
    assert sbml.getParameter("total_cells").getUnits() == "cell"
    assert sbml.getParameter("log10_total_cells").getUnits() == "dimensionless"
    glucose = sbml.getParameter("glucose").getUnits()
    assert glucose == sbml.getParameter("G_b").getUnits()
    assert _factor(sbml.getUnitDefinition(glucose)) == pytest.approx(1e-2, rel=1e-12)
    assert _factor(sbml.getUnitDefinition(sbml.getTimeUnits())) == pytest.approx(86400)
    assert (sbml.getSubstanceUnits(), sbml.getExtentUnits(), sbml.getVolumeUnits()) == (
        "item", "item", "litre")


@pytest.fixture(autouse=True)
def _locale_kept():
    """Importing COPASI (basico) sets the C locale for the whole process; the later test files
    of this pytest worker then decode the command line's UTF-8 output as ASCII. Put it back."""
    saved = locale.setlocale(locale.LC_ALL)
    yield
    locale.setlocale(locale.LC_ALL, saved)


def _names(sbml):
    elements = [sbml, *sbml.getListOfParameters(), *sbml.getListOfUnitDefinitions(),
                *sbml.getListOfEvents()]
    return [e.getName() for e in elements if e.isSetName()]


@pytest.mark.parametrize("which", ["base", "glucose", "two_population"])
def test_sbml_names_are_unique_and_copasi_keeps_them(parameters, tmp_path, which):
    basico = pytest.importorskip("basico")
    import COPASI

    model, text = _exported(which, parameters, tmp_path)
    sbml = libsbml.readSBMLFromString(text).getModel()
    names = _names(sbml)
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for state in (s for s in model.states if s.log):
        assert sbml.getParameter(f"ln_{state.name}").getName() == f"ln({state.name} / 1 cell)"
        assert sbml.getParameter(state.name).getName() == (state.description or state.name)
    before = COPASI.CCopasiMessage.size()
    copasi = basico.load_model_from_string(text)
    try:
        # COPASI renames a quantity whose name is taken ("S_2") and warns about every model
        # unit it has to assume: neither happens
        assert COPASI.CCopasiMessage.size() == before, basico.model_info.get_copasi_messages(
            before, "")
        shown = basico.get_parameters(model=copasi)
        assert dict(zip(shown["sbml_id"], shown.index, strict=True)) == {
            p.getId(): p.getName() for p in sbml.getListOfParameters()}
    finally:
        basico.remove_datamodel(copasi)


def test_sbml_a_name_used_twice_gets_its_id(tmp_path):
    shared = "rate of the model's only process"
    model = _variant(parameters=(Parameter("growth", "1/day", shared), Parameter(
        "kill", "1/day", shared), *TWO_POPULATION.parameters[2:]))
    text = _sbml(TWO_POPULATION_SCHEDULE, model, TWO_POPULATION_PARAMETERS, tmp_path)
    sbml = libsbml.readSBMLFromString(text).getModel()
    assert sbml.getParameter("growth").getName() == shared
    assert sbml.getParameter("kill").getName() == f"{shared} (kill)"


def test_sbml_refuses_a_parameter_named_like_a_unit_reference(tmp_path):
    model = _variant(parameters=(*TWO_POPULATION.parameters, Parameter("ref_cell", "cell")))
    values = ParameterSet("clash", {**TWO_POPULATION_PARAMETERS.values,
                                    "ref_cell": ParameterValue(1.0, "cell", "test")})
    with pytest.raises(ExportError, match=r"SBML id 'ref_cell' is used twice \(the export adds "
                                          r"ref_<unit> as the reference of each log state's "
                                          r"unit\); rename it in the model"):
        export_schedule(TWO_POPULATION_SCHEDULE, model, values, "sbml", tmp_path / "m.xml")
    assert list(tmp_path.iterdir()) == []


def _copasi(sbml_text, times, names):
    """COPASI's deterministic time course (LSODA) at ``times``, rtol 1e-12 and atol 1e-14."""
    basico = pytest.importorskip("basico")
    model = basico.load_model_from_string(sbml_text)
    try:
        result = basico.run_time_course(model=model, values=list(times), method="deterministic",
                                        r_tol=1e-12, a_tol=1e-14, max_steps=1_000_000,
                                        use_sbml_id=True)
    finally:
        basico.remove_datamodel(model)
    np.testing.assert_allclose(result.index, times, rtol=0, atol=1e-12)
    return {name: result[name].to_numpy() for name in names}


@pytest.mark.parametrize(("case", "glucose"), [*SIMULATED, ("two_population", False)])
def test_sbml_simulated_by_copasi_matches_the_project_simulation(parameters, tmp_path, case,
                                                                  glucose):
    if case == "two_population":
        model, schedule, values = (TWO_POPULATION, TWO_POPULATION_SCHEDULE,
                                   TWO_POPULATION_PARAMETERS)
    else:
        model, schedule, values = persister_model(glucose=glucose), SCHEDULES[case], parameters
    deviations = _compare_with(_copasi, model, model.parameter_vector(values), schedule,
                               _sbml(schedule, model, values, tmp_path))
    print(f"{case} (glucose={glucose}): max relative deviation {max(deviations.values()):.2e}",
          {k: f"{v:.1e}" for k, v in deviations.items()})
    assert max(deviations.values()) < 1e-8, deviations
