"""Published optimal-control benchmarks as models of the public API (tests and bench/)."""

from __future__ import annotations

from models.model import Control, Model, Parameter, State
from models.parameters import ParameterSet

NO_PARAMETERS = ParameterSet.from_mapping(
    {"parameters": {"unused": {"value": 0.0, "unit": "1", "source": "placeholder"}}})


def lotka_volterra_fishing() -> Model:
    """Sager's Lotka-Volterra fishing problem: minimise the integral of ``deviation`` over
    12 time units with fishing w in [0, 1]; relaxed optimum 1.34408 (Sager, Reinelt & Bock,
    Math. Program. 2009, doi:10.1007/s10107-007-0185-1; mintoc.de benchmark library)."""
    return Model(
        name="fishing",
        states=(State("x0"), State("x1")),
        controls=(Control("w"),),
        parameters=(Parameter("unused"),),
        rhs=lambda x, u, p: {
            "x0": x.x0 - x.x0 * x.x1 - 0.4 * x.x0 * u.w,
            "x1": -x.x1 + x.x0 * x.x1 - 0.2 * x.x1 * u.w,
        },
        initial=lambda p: {"x0": 0.5, "x1": 0.7},
        outputs=lambda x, p: {"deviation": (x.x0 - 1) ** 2 + (x.x1 - 1) ** 2},
    )


def catalyst_mixing() -> Model:
    """Catalyst mixing (Gunn & Thomas 1965; COPS 3.0 problem, Dolan, More & Munson 2004,
    ANL/MCS-TM-273): maximise 1 - x1(1) - x2(1), i.e. minimise ``loss``; optimum 0.048055."""
    return Model(
        name="catalyst_mixing",
        states=(State("x1"), State("x2")),
        controls=(Control("w"),),
        parameters=(Parameter("unused"),),
        rhs=lambda x, u, p: {
            "x1": u.w * (10 * x.x2 - x.x1),
            "x2": u.w * (x.x1 - 10 * x.x2) - (1 - u.w) * x.x2,
        },
        initial=lambda p: {"x1": 1.0, "x2": 0.0},
        outputs=lambda x, p: {"loss": x.x1 + x.x2 - 1},
    )
