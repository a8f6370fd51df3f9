"""Tumour volume from cells (models/tumour_volume.py): V0 scaling, volume = cells / density and
the dead-cell compartment, each checked against numbers computed here."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import casadi as ca
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from models.model import Model, ModelError, Parameter, Rates, State
from models.parameters import ParameterError, ParameterSet, ParameterValue
from models.registry import get_preset
from models.schedule import Schedule
from models.tumour_volume import volume_model
from optimiser.simulate import simulate

VOLUME_TOML = Path(__file__).resolve().parent.parent / "models" / "data" / "volume.toml"
HORIZON = 20
DAYS = np.arange(HORIZON + 1, dtype=float)
# osimertinib on days 0-14, the IGF-1R inhibitor on days 5-10: both kill terms act
OSI = np.r_[np.ones(14), np.zeros(HORIZON - 14)]
IGF = np.r_[np.zeros(5), np.ones(5), np.zeros(HORIZON - 10)]


@pytest.fixture(scope="module")
def preset():
    return get_preset("persister_v1")


@pytest.fixture(scope="module")
def base(preset) -> Model:
    return preset.model


@pytest.fixture(scope="module")
def parameters(preset) -> ParameterSet:
    volume = ParameterSet.from_toml(VOLUME_TOML)
    return ParameterSet("persister_v1+volume", {**preset.parameters.values, **volume.values})


@pytest.fixture(scope="module")
def plain(base) -> Model:
    return volume_model(base)


@pytest.fixture(scope="module")
def dead(base) -> Model:
    return volume_model(base, dead_cells=True)


def schedule(model: Model, osimertinib=None, igf=None) -> Schedule:
    fractions = {"osimertinib": np.zeros(HORIZON) if osimertinib is None else osimertinib,
                 "igf1r_inhibitor": np.zeros(HORIZON) if igf is None else igf}
    return Schedule.from_fractions(model, fractions, 1.0, float(HORIZON))


def outputs(model: Model, p: np.ndarray, internal: np.ndarray, name: str) -> np.ndarray:
    n = internal.shape[1]
    return np.asarray(model.output_function(name, n)(internal, np.tile(p[:, None], n))).ravel()


def volumes(model: Model, p: np.ndarray, plan: Schedule, days=DAYS) -> np.ndarray:
    trajectory = simulate(model, p, plan, samples_per_interval=1)
    return outputs(model, p, trajectory.internal_at(days), "volume")


def by_name(model: Model, p: np.ndarray) -> dict[str, float]:
    return dict(zip(model.parameter_names, p, strict=True))


# -- the model the function builds -----------------------------------------------------------------
def test_declarations(base, plain, dead):
    assert plain.name == f"{base.name}+volume"
    assert dead.name == f"{base.name}+volume+dead"
    assert plain.state_names == base.state_names
    assert dead.state_names == [*base.state_names, "D_rel"]
    assert not dead.log_mask[-1]
    assert plain.parameter_names == [*base.parameter_names, "V0", "density"]
    assert dead.parameter_names == [*base.parameter_names, "V0", "density", "k_clear"]
    units = {p.name: p.unit for p in dead.parameters}
    assert (units["V0"], units["density"], units["k_clear"]) == ("mm^3", "cell/mm^3", "1/day")
    assert all(p.positive for p in dead.parameters[-3:])
    for model in (plain, dead):
        assert model.output_names == [*base.output_names, "volume", "log_volume"]
        assert model.population_names == base.population_names == ["S", "P", "R"]
        assert model.control_names == base.control_names
        assert model.time_unit == base.time_unit


def test_parameter_vector_converts_volume_units(plain, parameters):
    values = {**parameters.values,
              "V0": ParameterValue(0.25, "cm^3", "test"),
              "density": ParameterValue(2e9, "cell/cm^3", "test")}
    p = ParameterSet("converted", values).vector(plain.parameters)
    named = by_name(plain, p)
    assert named["V0"] == pytest.approx(250.0, rel=1e-12)
    assert named["density"] == pytest.approx(2e6, rel=1e-12)
    # V0 and density divide: zero is refused before any solve
    for name in ("V0", "density"):
        with pytest.raises(ParameterError, match=f"'{name}' is 0 .* must be positive"):
            parameters.with_values(**{name: 0.0}).vector(plain.parameters)


# -- (a) day 0: the cells fill V0 ------------------------------------------------------------------
@pytest.mark.parametrize("dead_cells", [False, True])
@pytest.mark.parametrize("v0,density", [(100.0, 1e6), (1.0, 1e5), (2500.5, 1e6),
                                        (37.0, 3.3e8), (0.01, 1e9)])
def test_volume_at_day_zero_is_v0(base, parameters, dead_cells, v0, density):
    model = volume_model(base, dead_cells=dead_cells)
    p = parameters.with_values(V0=v0, density=density).vector(model.parameters)
    x0 = np.asarray(model.x0_internal(p)).ravel()
    volume = float(model.output_function("volume")(x0, p))
    assert volume == pytest.approx(v0, rel=1e-13)
    assert float(model.output_function("log_volume")(x0, p)) == pytest.approx(math.log(v0),
                                                                              abs=1e-12)
    natural = np.asarray(model.natural_states(x0)).ravel()
    names = model.state_names
    cells = natural[[names.index(n) for n in ("S", "P", "R")]]
    assert cells.sum() == pytest.approx(v0 * density, rel=1e-13)

    # the populations are scaled together: the composition of the unscaled model is kept
    values = by_name(model, p)
    unscaled = np.array([values["N0"] * (1 - values["f_P0"]), values["N0"] * values["f_P0"],
                         values["R0"]])
    np.testing.assert_allclose(cells / cells.sum(), unscaled / unscaled.sum(), rtol=1e-12)
    # the other states keep their initial values
    base_x0 = np.asarray(base.natural_states(base.x0_internal(p[:len(base.parameters)]))).ravel()
    others = [i for i, n in enumerate(base.state_names) if n not in ("S", "P", "R")]
    np.testing.assert_array_equal(natural[others], base_x0[others])
    if dead_cells:
        assert natural[names.index("D_rel")] == 0.0

    # and a simulation starts there
    trajectory = simulate(model, p, schedule(model, OSI), samples_per_interval=1)
    assert trajectory.output("volume")[0] == pytest.approx(v0, rel=1e-13)


# -- (b) later: volume = cells / density -----------------------------------------------------------
def test_volume_is_cells_over_density(plain, parameters):
    p = parameters.with_values(V0=150.0, density=4e5).vector(plain.parameters)
    trajectory = simulate(plain, p, schedule(plain, OSI, IGF), samples_per_interval=1)
    internal = trajectory.internal_at(DAYS)
    volume = outputs(plain, p, internal, "volume")
    # the populations are log states: cells = sum exp(ln S, ln P, ln R)
    assert plain.log_mask[:3].all()
    cells = np.exp(internal[:3]).sum(axis=0)
    np.testing.assert_allclose(volume, cells / 4e5, rtol=1e-12)
    np.testing.assert_allclose(volume, outputs(plain, p, internal, "total_cells") / 4e5,
                               rtol=1e-12)
    np.testing.assert_allclose(outputs(plain, p, internal, "log_volume"), np.log(volume),
                               rtol=0, atol=1e-12)
    # the schedule does something: the volume falls under treatment and then regrows
    assert volume[14] < 0.1 * volume[0]
    assert volume[-1] > volume[14]


def test_volume_model_with_the_base_initial_count_reproduces_the_base_model(base, plain,
                                                                           parameters):
    """With V0 * density equal to the base model's own initial cells the scale is 1, so the
    volume times density is the base model's total cells along the whole trajectory."""
    values = base.parameter_vector(parameters)
    named = by_name(base, values)
    density = 1e6
    v0 = (named["N0"] + named["R0"]) / density
    p = parameters.with_values(V0=v0, density=density).vector(plain.parameters)
    plan = schedule(plain, OSI, IGF)
    reference = simulate(base, values, plan, samples_per_interval=1)
    expected = outputs(base, values, reference.internal_at(DAYS), "total_cells")
    np.testing.assert_allclose(volumes(plain, p, plan) * density, expected, rtol=1e-7)


def test_density_only_rescales_when_the_cell_count_is_fixed(plain, parameters):
    """V0 * density fixes the cells (and so the dynamics); the volume is that divided by
    density: doubling density and halving V0 halves every later volume."""
    plan = schedule(plain, OSI)
    first = volumes(plain, parameters.with_values(V0=200.0, density=1e6)
                    .vector(plain.parameters), plan)
    second = volumes(plain, parameters.with_values(V0=100.0, density=2e6)
                     .vector(plain.parameters), plan)
    np.testing.assert_allclose(second, first / 2, rtol=1e-9)


# -- (c) dead cells --------------------------------------------------------------------------------
def toy_populations(name: str = "toy", extra_parameters=()) -> Model:
    """One population dividing at b and dying at d: N(t) = N(0) exp((b - d) t)."""
    return Model(
        name=name, states=(State("N", "cell", log=True),), controls=(),
        parameters=(Parameter("N_init", "cell", positive=True), Parameter("b", "1/day"),
                    Parameter("d", "1/day"), *extra_parameters),
        rhs=lambda x, u, p: {}, initial=lambda p: {"N": p.N_init},
        outputs=lambda x, p: {"log10_cells": ca.log10(x.N)},
        populations=lambda x, u, p: {"N": Rates(birth=p.b, death=p.d)})


@pytest.mark.parametrize("k_clear", [0.05, 0.7, 5.0])
def test_dead_cells_closed_form_on_one_population(k_clear):
    """dD/dt = d e^{gt} - k D, D(0) = 0 gives D = d (e^{gt} - e^{-kt}) / (g + k)."""
    b, d, v0, density = 0.3, 0.12, 80.0, 2e6
    g = b - d
    times = np.linspace(0, 10, 11)
    exact_live = v0 * np.exp(g * times)
    exact_dead = d * (np.exp(g * times) - np.exp(-k_clear * times)) / (g + k_clear)
    for dead_cells in (False, True):
        model = volume_model(toy_populations(), dead_cells=dead_cells)
        p = np.array([1e3, b, d, v0, density, *((k_clear,) if dead_cells else ())])
        plan = Schedule.from_fractions(model, {}, 1.0, 10.0)
        trajectory = simulate(model, p, plan, samples_per_interval=1)
        internal = trajectory.internal_at(times)
        volume = outputs(model, p, internal, "volume")
        if dead_cells:
            np.testing.assert_allclose(internal[1], exact_dead, rtol=1e-7, atol=1e-12)
            np.testing.assert_allclose(volume, exact_live * (1 + exact_dead / np.exp(g * times)),
                                       rtol=1e-8)
        else:
            np.testing.assert_allclose(volume, exact_live, rtol=1e-8)


def test_without_deaths_dead_cells_change_nothing(plain, dead, parameters):
    """No drug and no turnover: no population dies, so D_rel stays 0 and the volumes agree."""
    assert parameters.values["turnover"].value == 0.0
    plan = schedule(plain)
    p_dead = parameters.vector(dead.parameters)
    trajectory = simulate(dead, p_dead, plan, samples_per_interval=1)
    internal = trajectory.internal_at(DAYS)
    np.testing.assert_array_equal(internal[dead.state_names.index("D_rel")], 0.0)
    np.testing.assert_allclose(outputs(dead, p_dead, internal, "volume"),
                               volumes(plain, parameters.vector(plain.parameters), plan),
                               rtol=1e-9)


def independent_dead_cells(plain: Model, p: np.ndarray, plan: Schedule, k_clear: float,
                           turnover: float) -> np.ndarray:
    """D_rel at DAYS integrated here from the cells of the model without dead cells, with the
    persister's death rates written out: S dies at k_S e_osi + turnover, P at
    k_P e_igf G + turnover, R at turnover."""
    trajectory = simulate(plain, p, plan, samples_per_interval=1)
    values = by_name(plain, p)
    index = {n: i for i, n in enumerate(plain.state_names)}

    def emax(c, ec50):
        return (1 + ec50) * c / (ec50 + c)

    def deaths(t):
        x = trajectory.internal_at([t])[:, 0]
        s, pp, r = np.exp(x[[index["S"], index["P"], index["R"]]])
        e_osi = emax(x[index["C_osi"]], values["EC50_osi"])
        e_igf = emax(x[index["C_igf"]], values["EC50_igf"])
        return ((values["k_S"] * e_osi + turnover) * s
                + (values["k_P"] * e_igf * x[index["G"]] + turnover) * pp + turnover * r)

    scale = values["V0"] * values["density"]
    result, state = [0.0], np.array([0.0])
    for start, stop in itertools.pairwise(DAYS):  # the doses change at whole days
        piece = solve_ivp(lambda t, y: deaths(t) / scale - k_clear * y, (start, stop), state,
                          method="RK45", rtol=1e-10, atol=1e-13)
        assert piece.success
        state = piece.y[:, -1]
        result.append(float(state[0]))
    return np.array(result)


@pytest.mark.parametrize("turnover", [0.0, 0.05])
def test_dead_cells_match_an_independent_integration(plain, dead, parameters, turnover):
    k_clear = 0.2
    chosen = parameters.with_values(k_clear=k_clear, turnover=turnover, V0=120.0)
    plan = schedule(plain, OSI, IGF)
    p_plain, p_dead = chosen.vector(plain.parameters), chosen.vector(dead.parameters)
    expected = independent_dead_cells(plain, p_plain, plan, k_clear, turnover)
    assert expected[5] > 0.5  # most cells have died and not yet cleared

    trajectory = simulate(dead, p_dead, plan, samples_per_interval=1)
    internal = trajectory.internal_at(DAYS)
    np.testing.assert_allclose(internal[dead.state_names.index("D_rel")], expected,
                               rtol=1e-6, atol=1e-10)
    # the dead cells do not feed back on the living ones
    live = simulate(plain, p_plain, plan, samples_per_interval=1).internal_at(DAYS)
    np.testing.assert_allclose(internal[:3], live[:3], rtol=1e-8, atol=1e-8)
    # volume = (living cells + D_rel * initial cells) / density
    cells = np.exp(live[:3]).sum(axis=0)
    np.testing.assert_allclose(outputs(dead, p_dead, internal, "volume"),
                               (cells + expected * 120.0 * 1e6) / 1e6, rtol=1e-6)


def test_dead_cells_keep_volumes_up_and_clear_with_k_clear(plain, dead, parameters):
    plan = schedule(plain, OSI, IGF)
    without = volumes(plain, parameters.vector(plain.parameters), plan)
    by_clearance = {k: volumes(dead, parameters.with_values(k_clear=k).vector(dead.parameters),
                               plan)
                    for k in (0.01, 0.1, 1.0, 1e3)}
    for k, values in by_clearance.items():
        assert values[0] == pytest.approx(without[0], rel=1e-13)
        assert np.all(values[1:] > without[1:]), k  # cells die under the drug from day 0
    # the faster dead cells clear, the smaller the volume, on every day after day 0
    ordered = [by_clearance[k] for k in sorted(by_clearance)]
    for slower, faster in itertools.pairwise(ordered):
        assert np.all(faster[1:] < slower[1:])
    # slow clearance keeps the tumour near its starting size while the cells die
    assert by_clearance[0.01][10] > 0.5 * without[0] > 10 * without[10]
    # fast clearance: the volume is the living cells'
    relative = np.abs(by_clearance[1e3] - without) / without
    assert relative.max() < 1e-2


# -- (d) refusals ----------------------------------------------------------------------------------
def test_refuses_a_model_without_populations():
    model = Model(
        name="no_populations", states=(State("N", "cell", log=True),), controls=(),
        parameters=(Parameter("r", "1/day"),),
        rhs=lambda x, u, p: {"N": p.r * x.N}, initial=lambda p: {"N": 1e6},
        outputs=lambda x, p: {"log10_cells": ca.log10(x.N)})
    for dead_cells in (False, True):
        with pytest.raises(ModelError) as caught:
            volume_model(model, dead_cells=dead_cells)
        message = str(caught.value)
        assert "model 'no_populations' declares no cell populations" in message
        assert "declare populations to fit volume data" in message


@pytest.mark.parametrize("name", ["V0", "density", "k_clear"])
def test_refuses_a_parameter_name_it_adds(name):
    model = toy_populations("clash", extra_parameters=(Parameter(name, "1"),))
    with pytest.raises(ModelError) as caught:
        volume_model(model, dead_cells=True)
    message = str(caught.value)
    assert f"model 'clash' already has {[name]}" in message
    assert "names the volume model adds; rename them" in message


def test_refuses_a_state_named_like_the_dead_cells():
    model = Model(
        name="has_dead", states=(State("N", "cell", log=True), State("D_rel")), controls=(),
        parameters=(Parameter("V0", "mm^3"),),
        rhs=lambda x, u, p: {"D_rel": -x.D_rel}, initial=lambda p: {"N": 1e6, "D_rel": 0},
        outputs=lambda x, p: {"log10_cells": ca.log10(x.N)},
        populations=lambda x, u, p: {"N": Rates(birth=0.1, death=0.0)})
    with pytest.raises(ModelError) as caught:
        volume_model(model, dead_cells=True)
    assert "already has ['D_rel', 'V0']" in str(caught.value)
    assert "rename them" in str(caught.value)


def test_a_clean_toy_model_is_accepted():
    model = volume_model(toy_populations("clean"), dead_cells=True)
    assert model.parameter_names == ["N_init", "b", "d", "V0", "density", "k_clear"]
