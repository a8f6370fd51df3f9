"""Declarative dynamic models shared by the optimiser and the checker.

A model names its states, controls and parameters and gives the right-hand side as CasADi
expressions of those names. Neither the optimiser nor the checker knows which model it runs: both
read the compiled functions built here, so they cannot disagree about the dynamics.

States that span many orders of magnitude (cell counts) are declared ``log=True``; every numerical
method then works on ``ln x`` (``d ln x/dt = f(x)/x``), which keeps decision variables O(1) from
10^9 cells down to far below one cell.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import casadi as ca
import numpy as np

from models.errors import InputError
from models.parameters import ParameterSet

Expressions = Mapping[str, ca.SX]
RightHandSide = Callable[[SimpleNamespace, SimpleNamespace, SimpleNamespace], Expressions]


@dataclass(frozen=True)
class Rates:
    """Per-capita rates (per time unit) of one cell population of a multitype branching
    process: each cell divides at ``birth``, dies at ``death`` and turns into a cell of
    population j at ``transitions[j]``; CasADi expressions of the states, controls and
    parameters (evaluated along the mean path)."""

    birth: Any
    death: Any
    transitions: Mapping[str, Any] = field(default_factory=dict)


PopulationRates = Callable[[SimpleNamespace, SimpleNamespace, SimpleNamespace],
                           Mapping[str, Rates]]


class ModelError(InputError):
    """A model definition is inconsistent (raised when the model is declared)."""


@dataclass(frozen=True)
class State:
    name: str
    unit: str = "1"
    log: bool = False
    description: str = ""


@dataclass(frozen=True)
class Control:
    """A dose control: the model sees the dose fraction ``u`` in [lower, upper].

    ``reference_dose`` (in ``dose_unit`` per day) is the dose given when ``u == 1``; schedules are
    written in dose units and divided by it.

    ``bolus_into`` names a state (in ``dose_unit``, e.g. a gut compartment) that receives the
    dose ``u * reference_dose`` at once at the start of each control interval: oral dosing as
    dose events, so concentrations peak. Empty, the model reads ``u`` as a rate held over the
    interval (an infusion, or an effect compartment).
    """

    name: str
    lower: float = 0.0
    upper: float = 1.0
    dose_unit: str = "1"
    reference_dose: float = 1.0
    description: str = ""
    label: str = ""  # the name reports show (default: ``name``)
    bolus_into: str = ""

    @property
    def display_name(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Parameter:
    """A parameter in ``unit``. Rates, counts and times cannot be negative, so a value below 0 is
    refused before any solve unless ``signed``; ``positive`` also refuses 0 (for values the model
    divides by or takes the log of, where 0 would give inf or NaN deep inside the solver)."""

    name: str
    unit: str = "1"
    description: str = ""
    positive: bool = False
    signed: bool = False


@dataclass
class Model:
    """A controlled ODE ``dx/dt = rhs(x, u, p)`` with ``x(0) = initial(p)``.

    ``rhs``, ``initial`` and ``outputs`` receive namespaces of CasADi symbols (``x.S``, ``u.osi``,
    ``p.r_S``) and return ``{name: expression}``; outputs receive ``(x, p)``.

    ``populations`` (optional) declares states as the cell populations of a multitype branching
    process: ``populations(x, u, p)`` gives their ``Rates``, and their equations are derived
    from it, dn_i/dt = (b_i - d_i - sum_j k_ij) n_i + sum_j k_ji n_j, so the mean dynamics and
    the stochastic process (``models.branching``) cannot disagree. ``rhs`` then gives the other
    states only.
    """

    name: str
    states: Sequence[State]
    controls: Sequence[Control]
    parameters: Sequence[Parameter]
    rhs: RightHandSide
    initial: Callable[[SimpleNamespace], Expressions]
    outputs: Callable[[SimpleNamespace, SimpleNamespace], Expressions]
    time_unit: str = "day"
    description: str = ""
    populations: PopulationRates | None = None

    def __post_init__(self) -> None:
        for kind, items in (("state", self.states), ("control", self.controls),
                            ("parameter", self.parameters)):
            names = [item.name for item in items]
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                raise ModelError(f"model {self.name!r}: duplicate {kind} name(s) {duplicated}")
        for control in self.controls:
            if not control.lower < control.upper:
                raise ModelError(f"control {control.name!r}: lower bound must be below upper bound")
            if not control.reference_dose > 0:
                raise ModelError(f"control {control.name!r}: reference_dose must be positive")
            if control.bolus_into and control.bolus_into not in names_of(self.states):
                raise ModelError(f"control {control.name!r}: bolus_into {control.bolus_into!r} "
                                 f"is not a state; name one of {names_of(self.states)}")
        self._symbols  # noqa: B018 - evaluate now so a bad definition fails at declaration

    def __getstate__(self) -> dict:
        """Only the declaration is pickled (to worker processes); each process compiles its own
        CasADi functions, which are never shared between processes or threads."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # -- names ---------------------------------------------------------------------------------
    @property
    def state_names(self) -> list[str]:
        return [s.name for s in self.states]

    @property
    def control_names(self) -> list[str]:
        return [c.name for c in self.controls]

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def output_names(self) -> list[str]:
        return list(self._symbols["outputs"].keys())

    def control(self, name: str) -> Control:
        for control in self.controls:
            if control.name == name:
                return control
        raise ModelError(f"model {self.name!r} has no control {name!r}; use one of "
                         f"{self.control_names}")

    @property
    def population_names(self) -> list[str]:
        """The states declared as branching-process populations (in state order)."""
        return list(self._symbols["rates"])

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def log_mask(self) -> np.ndarray:
        return np.array([s.log for s in self.states], dtype=bool)

    @property
    def has_boluses(self) -> bool:
        return any(c.bolus_into for c in self.controls)

    @cached_property
    def structure_key(self) -> str:
        """Identifies the compiled structure: equal keys mean a solver can be reused."""
        functions = (self.f_internal, self.x0_internal, self.all_outputs,
                     *((self.bolus_internal,) if self.has_boluses else ()))
        text = "".join(f.serialize() for f in functions)
        return hashlib.sha256((text + repr(self.output_names)).encode()).hexdigest()[:16]

    # -- symbolic form -------------------------------------------------------------------------
    @cached_property
    def _symbols(self) -> dict:
        xi = ca.SX.sym("x", len(self.states))
        u = ca.SX.sym("u", len(self.controls))
        p = ca.SX.sym("p", len(self.parameters))
        natural = [ca.exp(xi[i]) if s.log else xi[i] for i, s in enumerate(self.states)]
        x_ns = SimpleNamespace(**{s.name: natural[i] for i, s in enumerate(self.states)})
        u_ns = SimpleNamespace(**{c.name: u[i] for i, c in enumerate(self.controls)})
        p_ns = SimpleNamespace(**{q.name: p[i] for i, q in enumerate(self.parameters)})

        rates = self._rates(x_ns, u_ns, p_ns)
        others = [n for n in self.state_names if n not in rates]
        derivatives = {**self._complete("rhs", self.rhs(x_ns, u_ns, p_ns), others),
                       **_population_derivatives(rates, x_ns)}
        initial = self._complete("initial", self.initial(p_ns), self.state_names)
        outputs = dict(self.outputs(x_ns, p_ns))
        if not outputs:
            raise ModelError(f"model {self.name!r} declares no outputs; the objective needs one")

        dxi = [derivatives[s.name] / natural[i] if s.log else derivatives[s.name]
               for i, s in enumerate(self.states)]
        x0i = [ca.log(initial[s.name]) if s.log else initial[s.name] for s in self.states]
        return {"xi": xi, "u": u, "p": p, "dxi": ca.vertcat(*dxi), "x0i": ca.vertcat(*x0i),
                "natural": ca.vertcat(*natural), "outputs": outputs, "rates": rates}

    def _rates(self, x_ns, u_ns, p_ns) -> dict[str, Rates]:
        """The declared populations' rates, in state order, checked."""
        if self.populations is None:
            return {}
        declared = dict(self.populations(x_ns, u_ns, p_ns))
        if not declared:
            raise ModelError(f"model {self.name!r}: populations declares none; give Rates for "
                             "at least one state or leave populations out")
        unknown = [n for n in declared if n not in self.state_names]
        if unknown:
            raise ModelError(f"model {self.name!r}: populations {unknown} are not states; "
                             f"declare them among the states ({self.state_names})")
        for name, rates in declared.items():
            if not isinstance(rates, Rates):
                raise ModelError(f"model {self.name!r}: population {name!r} must give Rates("
                                 "birth, death, transitions)")
            strays = [j for j in rates.transitions if j not in declared or j == name]
            if strays:
                raise ModelError(f"model {self.name!r}: population {name!r} has transitions to "
                                 f"{strays}, which are not other populations")
        return {n: declared[n] for n in self.state_names if n in declared}

    def _complete(self, what: str, exprs: Expressions, names: list[str]) -> dict:
        exprs = dict(exprs)
        missing = [n for n in names if n not in exprs]
        extra = [n for n in exprs if n not in names]
        if missing or extra:
            raise ModelError(f"model {self.name!r}: {what} must give exactly the states; "
                             f"missing {missing}, unknown {extra}")
        return exprs

    # -- compiled functions (internal coordinates: ln x for log states) --------------------------
    @cached_property
    def population_rates(self) -> ca.Function:
        """``(x, u, p) -> (birth, death, transitions)`` of the populations: two column vectors
        and the matrix k[i, j] of transitions from i to j (zero diagonal)."""
        s = self._symbols
        rates = s["rates"]
        if not rates:
            raise ModelError(f"model {self.name!r} declares no populations; the cure probability "
                             "needs birth, death and transition rates (Model(populations=...))")
        names = list(rates)
        transitions = ca.SX.zeros(len(names), len(names))
        for i, name in enumerate(names):
            for target, rate in rates[name].transitions.items():
                transitions[i, names.index(target)] = rate
        return ca.Function("population_rates", [s["xi"], s["u"], s["p"]],
                           [ca.vertcat(*[r.birth for r in rates.values()]),
                            ca.vertcat(*[r.death for r in rates.values()]), transitions],
                           ["x", "u", "p"], ["birth", "death", "transitions"])

    @cached_property
    def f_internal(self) -> ca.Function:
        s = self._symbols
        return ca.Function("f", [s["xi"], s["u"], s["p"]], [s["dxi"]], ["x", "u", "p"], ["xdot"])

    @cached_property
    def jac_internal(self) -> ca.Function:
        s = self._symbols
        jacobian = ca.densify(ca.jacobian(s["dxi"], s["xi"]))
        return ca.Function("f_jacobian", [s["xi"], s["u"], s["p"]], [jacobian])

    @cached_property
    def bolus_internal(self) -> ca.Function:
        """``(x, u) -> x`` just after the dose events at the start of a control interval
        (the identity for a model without ``bolus_into``); internal coordinates."""
        s = self._symbols
        natural = [s["natural"][i] for i in range(self.n_states)]
        for k, control in enumerate(self.controls):
            if control.bolus_into:
                i = self.state_names.index(control.bolus_into)
                natural[i] = natural[i] + s["u"][k] * control.reference_dose
        after = [ca.log(value) if state.log else value
                 for value, state in zip(natural, self.states, strict=True)]
        return ca.Function("bolus", [s["xi"], s["u"]], [ca.vertcat(*after)], ["x", "u"],
                           ["x_after"])

    @cached_property
    def x0_internal(self) -> ca.Function:
        s = self._symbols
        return ca.Function("x0", [s["p"]], [s["x0i"]])

    @cached_property
    def natural_states(self) -> ca.Function:
        s = self._symbols
        return ca.Function("natural", [s["xi"]], [s["natural"]])

    def output_function(self, name: str, count: int = 1) -> ca.Function:
        """``output(x, p)``, or mapped over ``count`` columns of x and p; built once each."""
        cache = self.__dict__.setdefault("_output_functions", {})
        if (name, count) not in cache:
            outputs = self._symbols["outputs"]
            if name not in outputs:
                raise ModelError(f"model {self.name!r} has no output {name!r}; "
                                 f"it has {sorted(outputs)}")
            s = self._symbols
            single = ca.Function(name, [s["xi"], s["p"]], [outputs[name]])
            cache[name, count] = single if count == 1 else single.map(count)
        return cache[name, count]

    @cached_property
    def all_outputs(self) -> ca.Function:
        s = self._symbols
        return ca.Function("outputs", [s["xi"], s["p"]], [ca.vertcat(*s["outputs"].values())])

    # -- parameters ----------------------------------------------------------------------------
    def parameter_vector(self, parameter_set: ParameterSet) -> np.ndarray:
        """Values in the units the model declares (converted with pint), in declaration order."""
        return parameter_set.vector(self.parameters)


def names_of(items: Sequence[State | Control | Parameter]) -> list[str]:
    return [item.name for item in items]


def _population_derivatives(rates: Mapping[str, Rates], x: SimpleNamespace) -> dict:
    """dn_i/dt = (b_i - d_i - sum_j k_ij) n_i + sum_j k_ji n_j."""
    derivatives = {}
    for name, own in rates.items():
        leaving = sum(own.transitions.values(), ca.SX(0))
        arriving = sum((other.transitions[name] * getattr(x, source)
                        for source, other in rates.items() if name in other.transitions),
                       ca.SX(0))
        derivatives[name] = (own.birth - own.death - leaving) * getattr(x, name) + arriving
    return derivatives
