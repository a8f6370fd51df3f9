"""Extinction of a model's cell populations as a multitype branching process.

A model that declares its populations (``Model(populations=...)``) is also a multitype
birth-death process whose mean is its ODE: a type-i cell divides at b_i, dies at d_i and turns
into type j at k_ij, with the rates taken along the mean path (crowding, drugs, FOXA1, IGF-1R).
u_i(s), the probability that one type-i cell alive at time s has descendants at the horizon T,
solves the backward Kolmogorov equations, in tau = T - s from u_i = 1 at s = T,

    du_i/dtau = (b_i - d_i) u_i - b_i u_i^2 + sum_j k_ij (u_j - u_i),

and with Poisson initial numbers of mean n_i(0), P(cure by T) = exp(-sum_i n_i(0) u_i(0)). The
sum is the expected number of surviving lineages. u of a sensitive cell at the start is of order
1e-11, so every method carries w_i = ln u_i:

    dw_i/ds = -(b_i - d_i) + b_i e^{w_i} - sum_j k_ij (e^{w_j - w_i} - 1).

The functions here are CasADi, built once per model, and serve the NLP (the w are states of the
same collocation problem), the screening and, through ``optimiser.extinction``, the check.
"""

from __future__ import annotations

import casadi as ca

from models.model import Model, ModelError

CURE_PROBABILITY = "cure_probability"
# Outputs that come from the lineage equations, not from the states at the horizon.
LINEAGE_OUTPUTS = {
    CURE_PROBABILITY: "1",  # P(no cell of any population at the horizon)
    "expected_surviving_lineages": "1",  # sum_i n_i(0) u_i(0); P(cure) = exp(-it)
    "log10_expected_lineages": "1",
}


def _cache(model: Model) -> dict:
    return model.__dict__.setdefault("_branching_functions", {})


def lineage_rhs(model: Model) -> ca.Function:
    """``(w, x, u, p) -> dw/ds`` in forward time s (w = ln u per population, x internal)."""
    cache = _cache(model)
    if "rhs" not in cache:
        n = len(model.population_names)
        w = ca.SX.sym("w", n)
        x, u, p = (ca.SX.sym("x", model.n_states), ca.SX.sym("u", len(model.controls)),
                   ca.SX.sym("p", len(model.parameters)))
        birth, death, k = model.population_rates(x, u, p)
        dw = [-(birth[i] - death[i]) + birth[i] * ca.exp(w[i])
              - sum((k[i, j] * (ca.exp(w[j] - w[i]) - 1) for j in range(n) if j != i),
                    ca.SX(0))
              for i in range(n)]
        cache["rhs"] = ca.Function("lineage_rhs", [w, x, u, p], [ca.vertcat(*dw)],
                                   ["w", "x", "u", "p"], ["wdot"])
    return cache["rhs"]


def flat_rates(model: Model) -> ca.Function:
    """``(x, u, p) ->`` the populations' rates as one column (birth, death, then the
    transitions by column), for a buffered call from a scipy integrator."""
    cache = _cache(model)
    if "flat_rates" not in cache:
        rates = model.population_rates
        x, u, p = (rates.sx_in(i) for i in range(3))
        birth, death, k = rates(x, u, p)
        cache["flat_rates"] = ca.Function("flat_rates", [x, u, p],
                                          [ca.vertcat(birth, death, ca.vec(k))])
    return cache["flat_rates"]


def log_initial_cells(model: Model) -> ca.Function:
    """``x0 -> ln n_i(0)`` of the populations from the initial state (internal coordinates)."""
    cache = _cache(model)
    if "log_initial" not in cache:
        x = ca.SX.sym("x", model.n_states)
        logs = []
        for name in model.population_names:
            i = model.state_names.index(name)
            logs.append(x[i] if model.states[i].log else ca.log(x[i]))
        cache["log_initial"] = ca.Function("log_initial_cells", [x], [ca.vertcat(*logs)])
    return cache["log_initial"]


def lineage_outputs(model: Model) -> ca.Function:
    """``(x0, w0) -> (ln of the expected surviving lineages, per population's share of it)``.
    The log-sum-exp keeps it finite from 1e-300 to 1e300 lineages."""
    cache = _cache(model)
    if "outputs" not in cache:
        n = len(model.population_names)
        x0, w0 = ca.SX.sym("x0", model.n_states), ca.SX.sym("w0", n)
        terms = log_initial_cells(model)(x0) + w0
        top = ca.mmax(terms)
        log_lineages = top + ca.log(ca.sum1(ca.exp(terms - top)))
        cache["outputs"] = ca.Function("lineage_outputs", [x0, w0],
                                       [log_lineages, ca.exp(terms - log_lineages)],
                                       ["x0", "w0"], ["log_lineages", "shares"])
    return cache["outputs"]


def lineage_output(name: str, log_lineages):
    """A ``LINEAGE_OUTPUTS`` value from ln(expected surviving lineages) (CasADi or float)."""
    if name == "cure_probability":
        return ca.exp(-ca.exp(log_lineages))
    if name == "expected_surviving_lineages":
        return ca.exp(log_lineages)
    if name == "log10_expected_lineages":
        return log_lineages / ca.log(10)
    raise ModelError(f"{name!r} is not a lineage output; use one of {sorted(LINEAGE_OUTPUTS)}")


def require_populations(model: Model, what: str) -> None:
    """Refuse a lineage quantity on a model without declared populations."""
    if not model.population_names:
        raise ModelError(f"{what} needs the model's cell populations as a branching process; "
                         f"model {model.name!r} declares none (Model(populations=...))")
