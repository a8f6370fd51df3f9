"""SBML Level 3 Version 2: any declarative Model plus a schedule, for other ODE simulators.

The document is generated from the Model itself, so it works for every model the optimiser can
read. The CasADi right-hand side is rebuilt on symbols named by SBML ids and its expression graph
walked (``SX.op``/``dep``) into MathML; the expressions are small enough to write as trees
(47 KB for the persister model on a pulsed schedule, 53 KB with glucose), so there are no
intermediate rules.

* Parameters: constant global parameters, values in the model's declared units (converted with
  pint by ``Model.parameter_vector``), a UnitDefinition per unit, the description as ``name``
  and unit, value in the file and source in the notes.
* Controls: non-constant dimensionless parameters holding the dose fraction ``u`` (daily dose /
  reference dose); the value on the first interval is set directly, and one event per later
  dose change (trigger ``time >= t_k``, persistent, no delay) assigns the new values.
* States: non-constant parameters with rate rules and initial assignments from the model's
  ``initial``. A state declared ``log=True`` (cell counts from 1e9 down to far below one cell)
  is integrated as the dimensionless ``ln_X = ln(X / 1 cell)`` with the model's own
  ``d ln X/dt = f/X`` and shown as ``X`` through the assignment rule ``X = ref_cell *
  exp(ln_X)`` (``ref_cell`` = 1 cell), so any simulator sees ``X``. Measured on the paper's
  arm with libroadrunner (CVODE) against the project's scipy Radau simulation (rtol 1e-10):
  at rtol 1e-12 and CVODE's default absolute tolerance 1e-12, cell counts agree to 1.7e-9
  relative with ``ln_X`` rate rules but only to 5e-6 with natural-scale rate rules for ``X``,
  which need an absolute tolerance below 1e-15 (counts fall to 1e-4 resistant cells, 0.1
  persisters) to pass 1e-6; at roadrunner's defaults (rtol 1e-6) the figures are 1.9e-5 and
  1.8e-4. The log form keeps every simulator accurate without tuning, hence the choice.
* Outputs (``total_cells``, ...): assignment rules, in the unit their expression has.
* Units: the document passes libsbml's strict unit checks. Every expression's unit is worked
  out with pint while it is written; every literal carries ``sbml:units`` (the unit of what it
  is added to or compared with, else dimensionless), the argument of ``ln``/``exp``/... is made
  dimensionless by dividing by a reference parameter of value 1 (``ln(S + P + R)`` is written
  ``ln((S + P + R) / ref_cell)``, the same number), trigger times are in the model's time unit
  and dose fractions are dimensionless. A model whose own units do not add up still exports;
  libsbml's unit check then names the expression.
* Names: unique across the document (COPASI identifies quantities by name): the description
  where the model gives one, ``ln(S / 1 cell)`` for a log state, the id otherwise.
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
from optimiser.export.common import ExportError, dose_changes, model_doses, provenance

FORMAT_VERSION = "SBML L3V2"
LEVEL, VERSION = 3, 2
PROVENANCE_NAMESPACE = "urn:persister-opt:provenance"
_SID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# CasADi operations with a MathML operator of the same arity and meaning, by how units pass
# through them: operands and result share one unit; a product or quotient; a function of a
# dimensionless argument; a relation or logical operator (a dimensionless truth value).
_SAME_UNIT = {ca.OP_ADD: "AST_PLUS", ca.OP_SUB: "AST_MINUS", ca.OP_NEG: "AST_MINUS",
              ca.OP_FABS: "AST_FUNCTION_ABS", ca.OP_FLOOR: "AST_FUNCTION_FLOOR",
              ca.OP_CEIL: "AST_FUNCTION_CEILING", ca.OP_FMIN: "AST_FUNCTION_MIN",
              ca.OP_FMAX: "AST_FUNCTION_MAX"}
_PRODUCT = {ca.OP_MUL: "AST_TIMES", ca.OP_DIV: "AST_DIVIDE"}
_DIMENSIONLESS_ARGUMENT = {
    ca.OP_EXP: "AST_FUNCTION_EXP", ca.OP_LOG: "AST_FUNCTION_LN",
    ca.OP_SIN: "AST_FUNCTION_SIN", ca.OP_COS: "AST_FUNCTION_COS", ca.OP_TAN: "AST_FUNCTION_TAN",
    ca.OP_ASIN: "AST_FUNCTION_ARCSIN", ca.OP_ACOS: "AST_FUNCTION_ARCCOS",
    ca.OP_ATAN: "AST_FUNCTION_ARCTAN", ca.OP_SINH: "AST_FUNCTION_SINH",
    ca.OP_COSH: "AST_FUNCTION_COSH", ca.OP_TANH: "AST_FUNCTION_TANH",
    ca.OP_ASINH: "AST_FUNCTION_ARCSINH", ca.OP_ACOSH: "AST_FUNCTION_ARCCOSH",
    ca.OP_ATANH: "AST_FUNCTION_ARCTANH"}
_RELATION = {ca.OP_LT: "AST_RELATIONAL_LT", ca.OP_LE: "AST_RELATIONAL_LEQ",
             ca.OP_EQ: "AST_RELATIONAL_EQ", ca.OP_NE: "AST_RELATIONAL_NEQ"}
_LOGICAL = {ca.OP_NOT: "AST_LOGICAL_NOT", ca.OP_AND: "AST_LOGICAL_AND",
            ca.OP_OR: "AST_LOGICAL_OR"}
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
    writer = _Writer(libsbml, sbml, model.time_unit)
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
        writer.parameter(parameter.name, value=float(value), unit=writer.quantity(parameter.unit),
                         name=parameter.description or parameter.name,
                         notes=f"{parameter.description or parameter.name}. Model unit: "
                               f"{parameter.unit}. Parameter file: {entry.value:g} "
                               f"{entry.unit}; source: {entry.source}")
    changes = {c.name: dose_changes(doses, c.name) for c in model.controls}
    for control in model.controls:
        writer.parameter(control.name, value=changes[control.name][0] / control.reference_dose,
                         unit=writer.dimensionless, constant=False,
                         name=control.description or control.name,
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
    units = []
    for i, state in enumerate(model.states):  # every symbol first: the rates refer to all
        unit = writer.quantity(state.unit)
        described = state.description or state.name
        if state.log:
            reference = writer.reference(unit)
            # the counts first, so they keep the plain name and ln_X is named after them
            writer.parameter(state.name, unit=unit, constant=False, name=described,
                             notes=f"{described} ({state.unit}) = {reference} * "
                                   f"exp(ln_{state.name})")
            writer.assignment_rule(state.name, writer.node(
                "AST_TIMES", writer.name(reference),
                writer.node("AST_FUNCTION_EXP", writer.name(integrated[i]))))
            unit = writer.dimensionless
            described = f"ln({state.name} / {writer.names[reference]})"
        writer.parameter(integrated[i], value=float(initial_values[i]), unit=unit,
                         constant=False, name=described,
                         notes=(f"{described}, integrated for accuracy" if state.log
                                else f"{described} ({state.unit})"))
        units.append(unit)
    for i, unit in enumerate(units):
        writer.rate_rule(integrated[i], writer.math(rates[i], natural, unit / writer.time))
        if not initial[i].is_constant():
            writer.initial_assignment(integrated[i], writer.math(initial[i], natural, unit))
    outputs = model.all_outputs(xi, p)
    for k, name in enumerate(model.output_names):
        math, unit = writer.expression(outputs[k], natural)
        writer.parameter(name, unit=unit, constant=False, name=name,
                         notes=f"model output {name} ({unit.units})")
        writer.assignment_rule(name, math)


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
    """Thin layer over libsbml's object calls, checking every status, keeping names unique and
    the unit (a pint quantity) of every symbol it has declared."""

    def __init__(self, libsbml: Any, model: Any, time_unit: str) -> None:
        self.libsbml = libsbml
        self.model = model
        self.registry = unit_registry()
        self.dimensionless = self.registry.Quantity(1, "dimensionless")
        self.units: dict[tuple, str | None] = {}  # canonical unit -> UnitDefinition id
        self.symbols: dict[str, pint.Quantity] = {}
        self.names: dict[str, str] = {}  # id -> name
        self.references: set[str] = set()
        self.time = self.quantity(time_unit)
        time_id = self.unit(self.time)
        if time_id is not None:
            _check(model.setTimeUnits(time_id), "time unit")
        # No species, compartment or reaction uses these; declared so that no reader has to
        # guess (COPASI warns about each and assumes mole and litre): counts are items.
        for setter, unit_id in (("setSubstanceUnits", "item"), ("setExtentUnits", "item"),
                                ("setVolumeUnits", "litre"), ("setLengthUnits", "metre"),
                                ("setAreaUnits", self.unit(self.quantity("meter ** 2")))):
            _check(getattr(model, setter)(unit_id), "default units")

    def quantity(self, unit: str) -> pint.Quantity:
        """One ``unit`` (a pint unit string) as a quantity of this writer's registry."""
        try:
            return self.registry.Quantity(1, "dimensionless") * self.registry(unit)
        except (pint.errors.PintError, AssertionError, ValueError, TypeError):
            raise ExportError(f"unit {unit!r} in model declaration is not one pint understands; "
                              "fix it (e.g. 'cell', '1/day', 'mg/dL')") from None

    def parameter(self, sid: str, *, unit: pint.Quantity, constant: bool = True, name: str,
                  notes: str = "", value: float | None = None) -> None:
        """A parameter; a name another element has already taken gets its id appended."""
        if self.model.getParameter(sid) is not None:
            raise ExportError(f"SBML id {sid!r} is used twice (the export adds ref_<unit> as "
                              "the reference of each log state's unit); rename it in the model")
        parameter = self.model.createParameter()
        _check(parameter.setId(sid), f"id {sid!r}")
        _check(parameter.setConstant(constant), f"parameter {sid!r}")
        if value is not None:
            _check(parameter.setValue(value), f"value of {sid!r}")
        unit_id = self.unit(unit)
        if unit_id is not None:
            _check(parameter.setUnits(unit_id), f"unit of {sid!r}")
        if name in self.names.values() or name == self.model.getName():
            name = f"{name} ({sid})"
        _check(parameter.setName(name), f"name of {sid!r}")
        self.names[sid] = name
        self.symbols[sid] = unit
        if notes:
            self.notes(parameter, notes)

    def reference(self, unit: pint.Quantity) -> str:
        """Id of a constant parameter equal to one ``unit`` (``ref_cell`` = 1 cell), which makes
        a quantity in that unit dimensionless without changing its number."""
        sid = _sid(f"ref_{self.unit(unit) or unit.units}")
        if sid not in self.references:
            self.references.add(sid)
            self.parameter(sid, value=1.0, unit=unit, name=f"1 {unit.units}",
                           notes=f"1 {unit.units}: makes a quantity in that unit dimensionless "
                                 "(logarithms, exponentials)")
        return sid

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
        now = self.libsbml.ASTNode(self.libsbml.AST_NAME_TIME)
        _check(now.setName("time"), f"trigger of {sid!r}")
        _check(trigger.setMath(self.node("AST_RELATIONAL_GEQ", now, self.real(time, self.time))),
               f"trigger of {sid!r}")
        for variable, value in assignments.items():
            assignment = event.createEventAssignment()
            _check(assignment.setVariable(variable), f"assignment of {sid!r}")
            _check(assignment.setMath(self.real(value, self.symbols[variable])),
                   f"assignment of {sid!r}")

    def unit(self, unit: pint.Quantity) -> str | None:
        """Id of the UnitDefinition of ``unit`` (``dimensionless`` for pure numbers), one per
        distinct unit; None if pint cannot express it in SBML's base units (the notes still
        name it)."""
        dimensions = dict(unit.dimensionality)
        if any(d not in _BASE_UNITS for d in dimensions):
            return None
        base = " * ".join(f"{_BASE_UNITS[d][0]} ** {e}" for d, e in dimensions.items())
        magnitude = float(unit.to(base or "dimensionless").magnitude)
        key = (tuple(sorted(dimensions.items())), float(f"{magnitude:.12e}"))
        if key not in self.units:
            self.units[key] = ("dimensionless" if not dimensions and magnitude == 1
                               else self._unit_definition(unit, dimensions, magnitude))
        return self.units[key]

    def _unit_definition(self, unit: pint.Quantity, dimensions: dict, magnitude: float) -> str:
        label = f"{unit.units}" if unit.magnitude == 1 else f"{unit}"
        sid = self._unit_id(f"{unit.units}" if unit.magnitude == 1 else f"{unit}")
        definition = self.model.createUnitDefinition()
        _check(definition.setId(sid), f"unit {label!r}")
        _check(definition.setName(label), f"unit {label!r}")
        parts = [(getattr(self.libsbml, _BASE_UNITS[d][1]), e) for d, e in dimensions.items()]
        for i, (kind, exponent) in enumerate(parts or [(self.libsbml.UNIT_KIND_DIMENSIONLESS, 1)]):
            part = definition.createUnit()
            _check(part.setKind(kind), f"unit {label!r}")
            _check(part.setExponent(float(exponent)), f"unit {label!r}")
            _check(part.setScale(0), f"unit {label!r}")
            # (multiplier * kind) ** exponent: the whole factor goes on the first part
            _check(part.setMultiplier(magnitude ** (1 / exponent) if i == 0 else 1.0),
                   f"unit {label!r}")
        return sid

    def _unit_id(self, text: str) -> str:
        """A readable UnitSId (``per_day``, ``cell``, ``milligram_per_deciliter``), distinct from
        SBML's base unit names and from the definitions already made."""
        words = text.replace("**", " pow ").replace("/", " per ").replace("*", " ").split()
        if words[:2] == ["1", "per"]:
            words = words[1:]
        sid = _sid("_".join(words))
        if self.libsbml.UnitKind_forName(sid) != self.libsbml.UNIT_KIND_INVALID:
            sid = f"{sid}_unit"
        taken = {d.getId() for d in self.model.getListOfUnitDefinitions()}
        unique, n = sid, 2
        while unique in taken:
            unique, n = f"{sid}_{n}", n + 1
        return unique

    def math(self, expression: ca.SX, natural: dict[str, str], unit: pint.Quantity) -> Any:
        """MathML tree of a scalar SX expression whose unit should be ``unit`` (what a constant
        expression is declared in)."""
        return self._math(expression, natural, unit)[0]

    def expression(self, expression: ca.SX, natural: dict[str, str]) -> tuple[Any, pint.Quantity]:
        """MathML tree of a scalar SX expression and the unit it has."""
        return self._math(expression, natural, self.dimensionless)

    def _math(self, expression: ca.SX, natural: dict[str, str],
              want: pint.Quantity) -> tuple[Any, pint.Quantity]:
        """(tree, unit); ``exp(ln_X)`` is written as ``X``. ``want`` is the unit the context
        gives a literal (the other operand of a sum or comparison); every symbol has its own."""
        node = self.node
        if expression.is_constant():
            return self.real(float(expression), want), want
        if expression.is_symbolic():
            return self.name(expression.name()), self.symbols[expression.name()]
        op = expression.op()
        args = [expression.dep(i) for i in range(expression.n_dep())]
        if op == ca.OP_EXP and args[0].is_symbolic() and args[0].name() in natural:
            state = natural[args[0].name()]
            return self.name(state), self.symbols[state]
        if op in _SAME_UNIT or op in _RELATION:
            trees, unit = self._alike(args, natural)
            return (node((_SAME_UNIT | _RELATION)[op], *trees),
                    unit if op in _SAME_UNIT else self.dimensionless)
        if op == ca.OP_IF_ELSE_ZERO:
            condition = self._math(args[0], natural, self.dimensionless)[0]
            value, unit = self._math(args[1], natural, want)
            return node("AST_FUNCTION_PIECEWISE", value, condition, self.real(0.0, unit)), unit
        if op in _PRODUCT:
            (a, ua), (b, ub) = (self._math(x, natural, self.dimensionless) for x in args)
            return node(_PRODUCT[op], a, b), ua * ub if op == ca.OP_MUL else ua / ub
        if op in _DIMENSIONLESS_ARGUMENT:
            return node(_DIMENSIONLESS_ARGUMENT[op], self._pure(args[0], natural)), \
                self.dimensionless
        if op in _LOGICAL:
            return node(_LOGICAL[op], *(self._math(x, natural, self.dimensionless)[0]
                                        for x in args)), self.dimensionless
        if op in (ca.OP_POW, ca.OP_CONSTPOW) and args[1].is_constant():
            base, unit = self._math(args[0], natural, self.dimensionless)
            exponent = float(args[1])
            return node("AST_POWER", base, self.real(exponent, self.dimensionless)), \
                unit ** exponent
        if op in (ca.OP_POW, ca.OP_CONSTPOW):  # a variable exponent needs a pure-number base
            return node("AST_POWER", self._pure(args[0], natural),
                        self._pure(args[1], natural)), self.dimensionless
        if op in (ca.OP_SQ, ca.OP_SQRT):
            base, unit = self._math(args[0], natural, self.dimensionless)
            exponent = 2.0 if op == ca.OP_SQ else 0.5
            return node("AST_POWER", base, self.real(exponent, self.dimensionless)), \
                unit ** exponent
        if op == ca.OP_TWICE:
            value, unit = self._math(args[0], natural, want)
            return node("AST_TIMES", self.real(2.0, self.dimensionless), value), unit
        if op == ca.OP_INV:
            value, unit = self._math(args[0], natural, self.dimensionless)
            return node("AST_DIVIDE", self.real(1.0, self.dimensionless), value), 1 / unit
        raise ExportError(f"CasADi operation {_OP_NAMES.get(op, op)} in {str(expression)[:60]!r}"
                          " has no SBML equivalent here; rewrite the model without it")

    def _alike(self, args: list[ca.SX], natural: dict[str, str]) -> tuple[list, pint.Quantity]:
        """Trees of operands that share one unit: the first non-literal operand's, which the
        literals are declared in."""
        written = {i: self._math(a, natural, self.dimensionless) for i, a in enumerate(args)
                   if not a.is_constant()}
        unit = next(iter(written.values()))[1]
        return [written[i][0] if i in written else self._math(a, natural, unit)[0]
                for i, a in enumerate(args)], unit

    def _pure(self, expression: ca.SX, natural: dict[str, str]) -> Any:
        """Tree of ``expression`` made dimensionless: divided by one of its unit if it has one."""
        tree, unit = self._math(expression, natural, self.dimensionless)
        if self.unit(unit) in ("dimensionless", None):
            return tree
        return self.node("AST_DIVIDE", tree, self.name(self.reference(unit)))

    def node(self, kind: str, *children: Any) -> Any:
        node = self.libsbml.ASTNode(getattr(self.libsbml, kind))
        for child in children:
            _check(node.addChild(child), kind)
        return node

    def real(self, value: float, unit: pint.Quantity) -> Any:
        """A literal, in ``unit`` unless SBML cannot express that unit."""
        node = self.libsbml.ASTNode(self.libsbml.AST_REAL)
        _check(node.setValue(value), "number")
        unit_id = self.unit(unit)
        if unit_id is not None:
            _check(node.setUnits(unit_id), "unit of a number")
        return node

    def name(self, sid: str) -> Any:
        node = self.libsbml.ASTNode(self.libsbml.AST_NAME)
        _check(node.setName(sid), f"name {sid!r}")
        return node
