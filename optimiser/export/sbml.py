"""SBML Level 3 Version 2: any declarative Model plus a schedule, for other ODE simulators.

The document is generated from the Model itself, so it works for every model the optimiser can
read. The CasADi right-hand side is rebuilt on symbols named by SBML ids and its expression graph
walked (``SX.op``/``dep``) into MathML; the expressions are small enough to write as trees
(35 KB for the persister model, 48 KB with glucose), so there are no intermediate rules.

* Parameters: constant global parameters, values in the model's declared units (converted with
  pint by ``Model.parameter_vector``), a UnitDefinition per unit, the description as ``name``
  and unit, value in the file and source in the notes.
* Controls: non-constant dimensionless parameters holding the dose fraction ``u`` (daily dose /
  reference dose); the value on the first interval is set directly, and one event per later
  dose change (trigger ``time >= t_k``, persistent, no delay) assigns the new values.
* States: non-constant parameters with rate rules and initial assignments from the model's
  ``initial``. A state declared ``log=True`` (cell counts from 1e9 down to far below one cell)
  is integrated as ``ln_X`` with the model's own ``d ln X/dt = f/X`` and shown as ``X`` through
  the assignment rule ``X = exp(ln_X)``, so any simulator sees ``X``. Measured on the paper's
  arm with libroadrunner (CVODE) against the project's scipy Radau simulation (rtol 1e-10):
  at rtol 1e-12 and CVODE's default absolute tolerance 1e-12, cell counts agree to 1.7e-9
  relative with ``ln_X`` rate rules but only to 5e-6 with natural-scale rate rules for ``X``,
  which need an absolute tolerance below 1e-15 (counts fall to 1e-4 resistant cells, 0.1
  persisters) to pass 1e-6; at roadrunner's defaults (rtol 1e-6) the figures are 1.9e-5 and
  1.8e-4. The log form keeps every simulator accurate without tuning, hence the choice.
* Outputs (``total_cells``, ...): assignment rules. Time unit: the model's (day).
* Provenance: JSON in a ``persister:provenance`` annotation on the model, summary in its notes.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import casadi as ca
import pint

from models.model import Model
from models.parameters import ParameterSet, unit_registry
from models.schedule import Schedule
from optimiser.export.common import ExportError, dose_changes, model_doses, number, provenance

FORMAT_VERSION = "SBML L3V2"
LEVEL, VERSION = 3, 2
PROVENANCE_NAMESPACE = "urn:persister-opt:provenance"
_SID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# CasADi operations with a MathML operator of the same arity and meaning.
_DIRECT = {
    ca.OP_ADD: "AST_PLUS", ca.OP_SUB: "AST_MINUS", ca.OP_MUL: "AST_TIMES",
    ca.OP_DIV: "AST_DIVIDE", ca.OP_NEG: "AST_MINUS", ca.OP_POW: "AST_POWER",
    ca.OP_CONSTPOW: "AST_POWER", ca.OP_EXP: "AST_FUNCTION_EXP", ca.OP_LOG: "AST_FUNCTION_LN",
    ca.OP_SQRT: "AST_FUNCTION_ROOT", ca.OP_FABS: "AST_FUNCTION_ABS",
    ca.OP_FLOOR: "AST_FUNCTION_FLOOR", ca.OP_CEIL: "AST_FUNCTION_CEILING",
    ca.OP_SIN: "AST_FUNCTION_SIN", ca.OP_COS: "AST_FUNCTION_COS", ca.OP_TAN: "AST_FUNCTION_TAN",
    ca.OP_ASIN: "AST_FUNCTION_ARCSIN", ca.OP_ACOS: "AST_FUNCTION_ARCCOS",
    ca.OP_ATAN: "AST_FUNCTION_ARCTAN", ca.OP_SINH: "AST_FUNCTION_SINH",
    ca.OP_COSH: "AST_FUNCTION_COSH", ca.OP_TANH: "AST_FUNCTION_TANH",
    ca.OP_ASINH: "AST_FUNCTION_ARCSINH", ca.OP_ACOSH: "AST_FUNCTION_ARCCOSH",
    ca.OP_ATANH: "AST_FUNCTION_ARCTANH", ca.OP_FMIN: "AST_FUNCTION_MIN",
    ca.OP_FMAX: "AST_FUNCTION_MAX", ca.OP_LT: "AST_RELATIONAL_LT",
    ca.OP_LE: "AST_RELATIONAL_LEQ", ca.OP_EQ: "AST_RELATIONAL_EQ",
    ca.OP_NE: "AST_RELATIONAL_NEQ", ca.OP_NOT: "AST_LOGICAL_NOT", ca.OP_AND: "AST_LOGICAL_AND",
    ca.OP_OR: "AST_LOGICAL_OR",
}
_OP_NAMES = {getattr(ca, name): name for name in dir(ca) if name.startswith("OP_")}
# SBML base unit kinds for pint's base dimensions ("cell" is the project's count dimension).
_BASE_UNITS = {"[mass]": ("kilogram", "UNIT_KIND_KILOGRAM"),
               "[length]": ("meter", "UNIT_KIND_METRE"),
               "[time]": ("second", "UNIT_KIND_SECOND"),
               "[substance]": ("mole", "UNIT_KIND_MOLE"),
               "[current]": ("ampere", "UNIT_KIND_AMPERE"),
               "[temperature]": ("kelvin", "UNIT_KIND_KELVIN"),
               "[luminosity]": ("candela", "UNIT_KIND_CANDELA"),
               "[cell_count]": ("cell", "UNIT_KIND_ITEM")}


def render(schedule: Schedule, model: Model, parameters: ParameterSet,
           out: Path) -> dict[Path, str]:
    return {out: sbml_document(schedule, model, parameters)}


def sbml_document(schedule: Schedule, model: Model, parameters: ParameterSet) -> str:
    """The SBML text; raises ExportError if libsbml is missing or the model cannot be written."""
    libsbml = _libsbml()
    integrated = _integrated_ids(model)
    doses = model_doses(schedule, model)
    values = model.parameter_vector(parameters)
    document = libsbml.SBMLDocument(LEVEL, VERSION)
    sbml = document.createModel()
    _check(sbml.setId(_sid(model.name)), "model id")
    sbml.setName(model.name)
    writer = _Writer(libsbml, sbml)
    time_unit = writer.unit(model.time_unit)
    if time_unit is not None:
        _check(sbml.setTimeUnits(time_unit), "time unit")
    record = provenance(schedule, model, parameters, "sbml", FORMAT_VERSION)
    writer.notes(sbml, f"{model.description or model.name}. Schedule {schedule.digest}: "
                       f"grid {schedule.grid_step:g} d, horizon {schedule.horizon:g} d. "
                       f"Exported by {record['export']['exporter']}; provenance in the "
                       "annotation.")
    _check(sbml.setAnnotation(
        f'<persister:provenance xmlns:persister="{PROVENANCE_NAMESPACE}">'
        f"{escape(json.dumps(record, default=str))}</persister:provenance>"), "annotation")

    for parameter, value in zip(model.parameters, values, strict=True):
        entry = parameters.values[parameter.name]
        writer.parameter(parameter.name, value=float(value), unit=parameter.unit,
                         name=parameter.description or parameter.name,
                         notes=f"{parameter.description or parameter.name}. Model unit: "
                               f"{parameter.unit}. Parameter file: {entry.value:g} "
                               f"{entry.unit}; source: {entry.source}")
    changes = {c.name: dose_changes(doses, c.name) for c in model.controls}
    for control in model.controls:
        writer.parameter(control.name, value=changes[control.name][0] / control.reference_dose,
                         unit="1", constant=False, name=control.description or control.name,
                         notes=f"Dose fraction of the reference dose of {control.reference_dose:g}"
                               f" {control.dose_unit}/day, constant on each grid interval.")
    _write_dynamics(writer, model, integrated, values)
    _write_events(writer, model, changes, doses.grid_step)
    return libsbml.writeSBMLToString(document)


def _libsbml() -> Any:
    try:
        import libsbml
    except ImportError:
        raise ExportError("SBML export needs python-libsbml; install the sbml extra: "
                          "pip install -e '.[sbml]'") from None
    return libsbml


def _sid(name: str) -> str:
    sid = re.sub(r"\W", "_", name)
    return sid if _SID.match(sid) else f"_{sid}"


def _integrated_ids(model: Model) -> list[str]:
    """Ids of the integrated variables (``ln_X`` for a log state); every other id is the model's
    own name. Names that are not SBML identifiers or that collide are refused, not renamed
    behind the user's back."""
    integrated = [f"ln_{s.name}" if s.log else s.name for s in model.states]
    names = (model.parameter_names + model.control_names + model.state_names
             + [f"ln_{s.name}" for s in model.states if s.log] + model.output_names)
    bad = [n for n in names if not _SID.match(n)]
    if bad:
        raise ExportError(f"model {model.name!r}: {bad} are not SBML identifiers; rename them "
                          "to letters, digits and _ (not starting with a digit)")
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ExportError(f"model {model.name!r}: SBML ids {clashes} are used twice (a log "
                          "state X is written as ln_X); rename them")
    return integrated


def _write_dynamics(writer: _Writer, model: Model, integrated: list[str], values: Any) -> None:
    xi = ca.vertcat(*[ca.SX.sym(name) for name in integrated])
    u = ca.vertcat(*[ca.SX.sym(name) for name in model.control_names])
    p = ca.vertcat(*[ca.SX.sym(name) for name in model.parameter_names])
    natural = {f"ln_{s.name}": s.name for s in model.states if s.log}
    rates = model.f_internal(xi, u, p)
    initial = model.x0_internal(p)
    initial_values = model.x0_internal(values).full().ravel()
    for i, state in enumerate(model.states):
        writer.parameter(integrated[i], value=float(initial_values[i]),
                         unit="1" if state.log else state.unit, constant=False,
                         name=state.description or state.name,
                         notes=(f"ln of {state.name} ({state.unit}), integrated for accuracy"
                                if state.log else f"{state.description} ({state.unit})"))
        writer.rate_rule(integrated[i], writer.math(rates[i], natural))
        if not initial[i].is_constant():
            writer.initial_assignment(integrated[i], writer.math(initial[i], natural))
        if state.log:
            writer.parameter(state.name, unit=state.unit, constant=False,
                             name=state.description or state.name,
                             notes=f"{state.description} ({state.unit}) = exp(ln_{state.name})")
            writer.assignment_rule(state.name, writer.math(ca.exp(xi[i]), {}))
    outputs = model.all_outputs(xi, p)
    for k, name in enumerate(model.output_names):
        writer.parameter(name, constant=False, name=name, notes=f"model output {name}")
        writer.assignment_rule(name, writer.math(outputs[k], natural))


def _write_events(writer: _Writer, model: Model, changes: dict[str, dict[int, float]],
                  step: float) -> None:
    nodes = sorted({k for per_control in changes.values() for k in per_control if k > 0})
    for k in nodes:
        assignments = {c.name: changes[c.name][k] / c.reference_dose
                       for c in model.controls if k in changes[c.name]}
        writer.event(f"dose_change_{k}", k * step, assignments)


def _check(status: int, what: str) -> None:
    if status != 0:  # LIBSBML_OPERATION_SUCCESS
        raise ExportError(f"libsbml refused the {what} (status {status}); report this as a bug")


class _Writer:
    """Thin layer over libsbml's object calls, checking every status."""

    def __init__(self, libsbml: Any, model: Any) -> None:
        self.libsbml = libsbml
        self.model = model
        self.units: dict[str, str | None] = {}

    def parameter(self, sid: str, *, unit: str | None = None, constant: bool = True, name: str = "",
                  notes: str = "", value: float | None = None) -> None:
        parameter = self.model.createParameter()
        _check(parameter.setId(sid), f"id {sid!r}")
        _check(parameter.setConstant(constant), f"parameter {sid!r}")
        if value is not None:
            _check(parameter.setValue(value), f"value of {sid!r}")
        unit_id = None if unit is None else self.unit(unit)
        if unit_id is not None:
            _check(parameter.setUnits(unit_id), f"unit of {sid!r}")
        if name:
            parameter.setName(name)
        if notes:
            self.notes(parameter, notes)

    def notes(self, element: Any, text: str) -> None:
        _check(element.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>'
                                f"{html.escape(text)}</p></body>"), "notes")

    def rate_rule(self, variable: str, math: Any) -> None:
        rule = self.model.createRateRule()
        _check(rule.setVariable(variable), f"rate rule for {variable!r}")
        _check(rule.setMath(math), f"rate of {variable!r}")

    def assignment_rule(self, variable: str, math: Any) -> None:
        rule = self.model.createAssignmentRule()
        _check(rule.setVariable(variable), f"assignment rule for {variable!r}")
        _check(rule.setMath(math), f"value of {variable!r}")

    def initial_assignment(self, symbol: str, math: Any) -> None:
        assignment = self.model.createInitialAssignment()
        _check(assignment.setSymbol(symbol), f"initial assignment for {symbol!r}")
        _check(assignment.setMath(math), f"initial value of {symbol!r}")

    def event(self, sid: str, time: float, assignments: dict[str, float]) -> None:
        event = self.model.createEvent()
        _check(event.setId(sid), f"event {sid!r}")
        _check(event.setUseValuesFromTriggerTime(True), f"event {sid!r}")
        trigger = event.createTrigger()
        _check(trigger.setInitialValue(False), f"trigger of {sid!r}")
        _check(trigger.setPersistent(True), f"trigger of {sid!r}")
        _check(trigger.setMath(self.libsbml.parseL3Formula(f"time >= {number(time)}")),
               f"trigger of {sid!r}")
        for variable, value in assignments.items():
            assignment = event.createEventAssignment()
            _check(assignment.setVariable(variable), f"assignment of {sid!r}")
            _check(assignment.setMath(self._real(value)), f"assignment of {sid!r}")

    def unit(self, unit: str) -> str | None:
        """Id of a UnitDefinition for a pint unit string (``dimensionless`` for pure numbers);
        None if pint cannot express it in SBML's base units (the notes still name it)."""
        if unit not in self.units:
            self.units[unit] = self._unit_definition(unit)
        return self.units[unit]

    def _unit_definition(self, unit: str) -> str | None:
        try:
            quantity = unit_registry()(unit)
        except (pint.errors.PintError, AssertionError, ValueError, TypeError):
            raise ExportError(f"unit {unit!r} in model declaration is not one pint understands; "
                              "fix it (e.g. 'cell', '1/day', 'mg/dL')") from None
        dimensions = dict(quantity.dimensionality)
        if not dimensions and quantity.to("dimensionless").magnitude == 1:
            return "dimensionless"
        if any(d not in _BASE_UNITS for d in dimensions):
            return None
        base = " * ".join(f"{_BASE_UNITS[d][0]} ** {e}" for d, e in dimensions.items())
        magnitude = float(quantity.to(base or "dimensionless").magnitude)
        definition = self.model.createUnitDefinition()
        sid = f"unit_{len(self.model.getListOfUnitDefinitions())}"
        _check(definition.setId(sid), f"unit {unit!r}")
        definition.setName(unit)
        parts = [(getattr(self.libsbml, _BASE_UNITS[d][1]), e) for d, e in dimensions.items()]
        for i, (kind, exponent) in enumerate(parts or [(self.libsbml.UNIT_KIND_DIMENSIONLESS, 1)]):
            part = definition.createUnit()
            _check(part.setKind(kind), f"unit {unit!r}")
            _check(part.setExponent(float(exponent)), f"unit {unit!r}")
            _check(part.setScale(0), f"unit {unit!r}")
            # (multiplier * kind) ** exponent: the whole factor goes on the first part
            _check(part.setMultiplier(magnitude ** (1 / exponent) if i == 0 else 1.0),
                   f"unit {unit!r}")
        return sid

    def math(self, expression: ca.SX, natural: dict[str, str]) -> Any:
        """MathML tree of a scalar SX expression; ``exp(ln_X)`` is written as ``X``."""
        node = self._node
        if expression.is_constant():
            return self._real(float(expression))
        if expression.is_symbolic():
            return self._name(expression.name())
        op = expression.op()
        args = [expression.dep(i) for i in range(expression.n_dep())]
        if op == ca.OP_EXP and args[0].is_symbolic() and args[0].name() in natural:
            return self._name(natural[args[0].name()])
        if op in _DIRECT:
            return node(_DIRECT[op], *(self.math(a, natural) for a in args))
        if op == ca.OP_SQ:
            return node("AST_POWER", self.math(args[0], natural), self._real(2.0))
        if op == ca.OP_TWICE:
            return node("AST_TIMES", self._real(2.0), self.math(args[0], natural))
        if op == ca.OP_INV:
            return node("AST_DIVIDE", self._real(1.0), self.math(args[0], natural))
        if op == ca.OP_IF_ELSE_ZERO:
            return node("AST_FUNCTION_PIECEWISE", self.math(args[1], natural),
                        self.math(args[0], natural), self._real(0.0))
        raise ExportError(f"CasADi operation {_OP_NAMES.get(op, op)} in {str(expression)[:60]!r}"
                          " has no SBML equivalent here; rewrite the model without it")

    def _node(self, kind: str, *children: Any) -> Any:
        node = self.libsbml.ASTNode(getattr(self.libsbml, kind))
        for child in children:
            _check(node.addChild(child), kind)
        return node

    def _real(self, value: float) -> Any:
        node = self.libsbml.ASTNode(self.libsbml.AST_REAL)
        _check(node.setValue(value), "number")
        return node

    def _name(self, sid: str) -> Any:
        node = self.libsbml.ASTNode(self.libsbml.AST_NAME)
        _check(node.setName(sid), f"name {sid!r}")
        return node
