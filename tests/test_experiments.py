"""The experiments, run reduced, checked against independent computations; and the committed
full results in experiments/results checked against the code that claims to produce them."""

import functools

import casadi
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from experiments import (
    budget_sweep,
    cure_curve,
    foxa1_vs_igf1r,
    method_comparison,
    sensitivity,
    timing_map,
)
from experiments.framework import (
    RESULTS_DIR,
    ExperimentSettings,
    read_provenance,
)
from experiments.registry import EXPERIMENTS, UnknownExperimentError, run_experiments
from models.days import compact_days, expand_days
from models.parameters import read_toml
from models.persister import (
    IGF1R_INHIBITOR,
    default_ensemble,
    default_parameters,
    persister_model,
    persister_problem,
)
from models.persister.v2 import FOXA1_INHIBITOR
from models.registry import get_preset
from models.schedule import Schedule
from optimiser.baseline import simulated_objective
from optimiser.pipeline import solver_for
from optimiser.simulate import simulate

from .conftest import ARMS

COMMAND = "pytest tests/test_experiments.py"
SEED = 3  # not the default, so provenance must come from the settings
REGENERATE = "committed results are stale: regenerate them with `optimise experiment all`"


def _made_from(name):
    """The parameter set and model an experiment's outputs must name: its preset's, or model
    v1 with the default parameters."""
    preset = EXPERIMENTS[name].preset
    if preset is None:
        return default_parameters(), persister_model().structure_key
    return get_preset(preset).parameters, get_preset(preset).model.structure_key


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    calls = []
    settings = ExperimentSettings(reduced=True, seed=SEED, out_dir=out, command=COMMAND)
    paths = run_experiments("all", settings, lambda *call: calls.append(call))
    return out, paths, calls


def _csv(directory, name):
    return pd.read_csv(directory / f"{name}.csv", comment="#")


def _markdown_table(path, number=0) -> pd.DataFrame:
    """The ``number``-th table of a Markdown file (0: the experiment's own table)."""
    tables, previous = [], False
    for line in path.read_text().splitlines():
        row = line.startswith("|")
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous = row
    cells = tables[number]
    return pd.DataFrame(cells[2:], columns=cells[0])


def _profile(days, n=100):
    w = np.zeros(n)
    w[list(days)] = 1.0
    return w


@functools.cache
def _problem():
    return persister_problem(budget_days=40.0)


def _resimulated(days):
    """log10 residual cells at day 100 of an on/off IGF-1R schedule by scipy Radau."""
    return simulated_objective(_problem(), _profile(days))


def _cure_probability(days, parameters=None):
    """P(cure) of an on/off IGF-1R schedule: exp(-expected surviving lineages) of a scipy
    simulation."""
    problem = _problem()
    vector = problem.model.parameter_vector(parameters or default_parameters())
    schedule = problem.schedule({IGF1R_INHIBITOR: _profile(days)})
    return float(np.exp(-simulate(problem.model, vector, schedule).lineages.expected[-1]))


def _arm_log10_final(stem):
    model = persister_model()
    schedule = Schedule.read(ARMS / f"{stem}.json")
    trajectory = simulate(model, model.parameter_vector(default_parameters()), schedule)
    return trajectory, schedule


# -- the framework ---------------------------------------------------------------------------------

def test_all_writes_csv_md_png_per_registered_experiment_and_nothing_else(reduced):
    out, paths, _ = reduced
    expected = [out / f"{name}.{suffix}" for name in EXPERIMENTS
                for suffix in ("csv", "md", "png")]
    assert paths == expected
    assert sorted(out.iterdir()) == sorted(expected)  # no temporary files left behind


def test_every_output_carries_the_same_provenance(reduced):
    out, _, _ = reduced
    for name in EXPERIMENTS:
        stamp = read_provenance(out / f"{name}.csv")
        assert stamp["experiment"] == name
        assert stamp["seed"] == str(SEED)
        assert stamp["command"] == COMMAND
        assert stamp["reduced"] == "True"
        parameters, model_hash = _made_from(name)
        assert stamp["parameter_set"] == parameters.name
        assert stamp["parameter_hash"] == parameters.digest
        assert stamp["model_hash"] == model_hash
        assert stamp["versions.casadi"] == casadi.__version__
        data = _csv(out, name)
        assert len(data) > 0 and not any(c.startswith("Unnamed") for c in data.columns)
        markdown = (out / f"{name}.md").read_text()
        assert markdown.startswith(f"# {EXPERIMENTS[name].title}\n")
        assert "## What it shows" in markdown
        for key, value in stamp.items():
            assert f"- {key}: `{value}`" in markdown
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG"
            assert {k: image.text[k] for k in stamp} == stamp
            assert "Software" not in image.text


def test_progress_reaches_the_total_of_every_experiment(reduced):
    _, _, calls = reduced
    assert [c[0] for c in calls if c[3] == "starting"] == list(EXPERIMENTS)
    for name in EXPERIMENTS:
        mine = [c for c in calls if c[0] == name]
        done = [c[1] for c in mine[1:]]
        assert done == sorted(done) and len(mine) >= 3
        assert mine[-1][1] == mine[-1][2] and mine[-1][3].startswith("done")


def test_unknown_name_is_refused_before_anything_runs(tmp_path):
    settings = ExperimentSettings(reduced=True, out_dir=tmp_path)
    with pytest.raises(UnknownExperimentError) as error:
        run_experiments(["paper_arms", "no_such_thing"], settings)
    message = str(error.value)
    assert isinstance(error.value, ValueError) and "\n" not in message
    assert "'no_such_thing'" in message and all(name in message for name in EXPERIMENTS)
    assert not any(tmp_path.iterdir())


def test_compact_days_round_trips():
    rng = np.random.default_rng(0)
    assert compact_days([0, 1, 2, 3, 4, 8, 22]) == "0-4,8,22"
    assert compact_days([]) == "none" and expand_days("none") == []
    for _ in range(200):
        days = sorted(set(rng.integers(0, 40, rng.integers(0, 20)).tolist()))
        assert expand_days(compact_days(days)) == days
    with pytest.raises(ValueError, match="cannot read"):
        expand_days("0-4;8")


def test_compact_days_on_a_half_day_grid_names_first_and_last_interval():
    assert compact_days([3, 3.5, 4, 6, 7.5, 8], 0.5, ", ") == "3-4, 6, 7.5-8"
    assert compact_days([2, 3, 5], 1.0, ", ") == "2-3, 5"


# -- paper arms ------------------------------------------------------------------------------------

def test_paper_arms_match_a_direct_simulation(reduced):
    out, _, _ = reduced
    data = _csv(out, "paper_arms").set_index("arm")
    assert set(data.index) == {path.stem for path in ARMS.glob("*.json")}
    problem = _problem()
    solver = solver_for(problem)
    igf1r = problem.model.control_names.index(IGF1R_INHIBITOR)
    for arm, row in data.iterrows():
        trajectory, schedule = _arm_log10_final(arm)
        total = trajectory.output("total_cells")
        assert row["final_cells"] == pytest.approx(total[-1], rel=1e-9)
        assert row["minimum_cells"] == pytest.approx(total.min(), rel=1e-9)
        assert row["eradicated"] == bool(total.min() < 1.0)
        assert row["final_resistant_cells"] == pytest.approx(trajectory.states["R"][-1],
                                                             rel=1e-9)
        # the branching process's P(cure), not exp(-cells)
        expected = trajectory.lineages.expected[-1]
        assert row["expected_surviving_lineages"] == pytest.approx(expected, rel=1e-6)
        assert row["cure_probability"] == pytest.approx(np.exp(-expected), rel=1e-6, abs=1e-12)
        assert isinstance(row["expected_outcome_science_brief"], str)
        if schedule.dosing_days("osimertinib") == list(range(40)):
            # the arms the optimiser's problem covers: also agree with CVODES
            free = schedule.fractions(problem.model)[[igf1r]]
            assert row["log10_final_cells"] == pytest.approx(
                solver.objective_of(problem, free), abs=1e-3)


# -- budget sweep ----------------------------------------------------------------------------------

def test_budget_sweep_schedules_keep_their_budget_and_resimulate_to_their_objective(reduced):
    out, _, _ = reduced
    data = _csv(out, "budget_sweep")
    assert tuple(data["budget_days"]) == budget_sweep.REDUCED_BUDGETS
    for _, row in data.iterrows():
        days = expand_days(row["igf1r_days"])
        assert row["days_used"] == len(days) <= row["budget_days"]
        assert all(0 <= d < 40 for d in days)
        assert row["gap_decades"] >= -1e-6
        assert row["gap_decades"] == pytest.approx(
            row["log10_residual_cells"] - row["lower_bound_log10_cells"], abs=1e-12)
        resimulated = _resimulated(days)
        assert resimulated == pytest.approx(row["log10_residual_cells"], abs=1e-3)
        assert resimulated == pytest.approx(row["check_log10_residual_cells"], abs=1e-9)
        assert row["check_passed"]
        assert row["cure_probability"] == pytest.approx(_cure_probability(days), rel=1e-6,
                                                        abs=1e-12)
        bound = row["lower_bound_log10_cells"]
        for column in ("first_days_log10_residual_cells", "best_block_log10_residual_cells"):
            assert row[column] >= bound - 1e-6
        assert row["best_block_log10_residual_cells"] <= (
            row["first_days_log10_residual_cells"] + 1e-3)
        start, budget = int(row["best_block_start_day"]), int(row["budget_days"])
        assert _resimulated(range(start, start + budget)) == pytest.approx(
            row["best_block_log10_residual_cells"], abs=1e-3)


def test_budget_sweep_ends_are_osimertinib_alone_and_the_continuous_arm(reduced):
    out, _, _ = reduced
    data = _csv(out, "budget_sweep").set_index("budget_days")
    alone, _ = _arm_log10_final("osimertinib_alone")
    assert data.loc[0, "igf1r_days"] == "none"
    assert data.loc[0, "log10_residual_cells"] == pytest.approx(
        alone.final_output("log10_total_cells"), abs=1e-3)
    assert 0 <= data.loc[0, "gap_decades"] <= 2e-4  # the bound's penalty allowance only
    continuous, _ = _arm_log10_final("osimertinib_plus_igf1r_continuous")
    assert data.loc[40, "first_days_log10_residual_cells"] == pytest.approx(
        continuous.final_output("log10_total_cells"), abs=1e-3)


# -- cure curve ------------------------------------------------------------------------------------

STRATEGY_COLUMNS = [column for column, _, _ in cure_curve.STRATEGIES.values()]


def test_cure_curve_optimum_beats_the_blocks_keeps_below_its_bound_and_rises(reduced):
    out, _, _ = reduced
    data = _csv(out, "cure_curve")
    assert tuple(data["budget_days"]) == cure_curve.REDUCED_BUDGETS
    assert data["check_passed"].all()
    optimised = data["cure_probability"]
    assert np.allclose(data["cure_probability_bound"],
                       np.exp(-10.0 ** data["lower_bound_log10_lineages"]), rtol=1e-12)
    for column in ("first_days_cure_probability", "best_block_cure_probability"):
        assert (optimised >= data[column] - 1e-6).all(), column
    assert (optimised <= data["cure_probability_bound"] + 1e-6).all()
    assert (np.diff(optimised) >= -1e-6).all() and optimised.iloc[-1] > optimised.iloc[0]
    assert np.allclose(data["failure_probability"], 1.0 - optimised, atol=1e-12)
    assert np.allclose(optimised, np.exp(-data["expected_surviving_lineages"]), rtol=1e-12)
    shares = data[list(cure_curve.SOURCES.values())]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert np.allclose(shares.sum(axis=1), 1.0, atol=1e-9)
    for _, row in data.iterrows():
        days = expand_days(row["igf1r_days"])
        assert row["days_used"] == len(days) <= row["budget_days"]
        assert all(0 <= d < cure_curve.TREATMENT_DAYS for d in days)


def test_cure_curve_probabilities_are_those_of_an_independent_simulation(reduced):
    out, _, _ = reduced
    for _, row in _csv(out, "cure_curve").iterrows():
        budget, start = int(row["budget_days"]), int(row["best_block_start_day"])
        for column, days in (("cure_probability", expand_days(row["igf1r_days"])),
                             ("first_days_cure_probability", range(budget)),
                             ("best_block_cure_probability", range(start, start + budget))):
            assert row[column] == pytest.approx(_cure_probability(days), rel=1e-6,
                                                abs=1e-12), (budget, column)


def test_cure_curve_tables_agree_with_the_data(reduced):
    out, _, _ = reduced
    data = _csv(out, "cure_curve").set_index("budget_days")
    path = out / "cure_curve.md"
    assert max(len(line) for line in path.read_text().splitlines()
               if line.startswith("|")) <= 80
    table = _markdown_table(path).set_index("B")
    assert [int(b) for b in table.index] == list(data.index)
    for column, header in cure_curve.HEADERS.items():
        if column in STRATEGY_COLUMNS:
            assert np.allclose(table[header].astype(float), data[column], atol=6e-6), header
    targets = _markdown_table(path, 1).set_index("strategy")
    assert list(targets.index) == list(cure_curve.STRATEGIES)
    for label, (column, _, _) in cure_curve.STRATEGIES.items():
        values = data[column]
        for target in cure_curve.TARGETS:
            reached = values.index[values >= target]
            cell = targets.loc[label, cure_curve.target_header(target)]
            assert cell == (f"{reached.min()} d" if len(reached) else "not reached")
            if len(reached):  # the least budget: the one before falls short
                below = values.index[values.index < reached.min()]
                assert (values.loc[below] < target).all()
        assert float(targets.loc[label, "best"]) == pytest.approx(values.max(), abs=6e-6)


# -- timing map ------------------------------------------------------------------------------------

def test_timing_map_cells_agree_with_scipy_and_best_start_is_the_argmin(reduced):
    out, _, _ = reduced
    data = _csv(out, "timing_map")
    lengths = timing_map.REDUCED_LENGTHS
    assert len(data) == sum(41 - length for length in lengths)
    assert (data["start_day"] + data["length_days"] <= 40).all()
    cells = data.set_index(["length_days", "start_day"])["log10_residual_cells"]
    table = _markdown_table(out / "timing_map.md").astype(float).set_index("length_days")
    for length in lengths:
        row = table.loc[length]
        values = cells.loc[length]
        assert row["best_start_day"] == values.idxmin()
        assert row["worst_start_day"] == values.idxmax()
        assert row["spread_decades"] == pytest.approx(values.max() - values.min(), abs=1e-4)
        assert row["day0_log10_residual_cells"] == pytest.approx(values.loc[0], abs=1e-4)
        for start in {0, int(values.idxmin()), int(values.index.max())}:
            assert _resimulated(range(start, start + length)) == pytest.approx(
                values.loc[start], abs=1e-3)


# -- method comparison -----------------------------------------------------------------------------

def test_method_comparison_rows_are_bounded_and_resimulate(reduced):
    out, _, _ = reduced
    data = _csv(out, "method_comparison")
    size = method_comparison.REDUCED
    problem = persister_problem(budget_days=size.budget_days)
    bound = solver_for(problem).solve(problem).lower_bound
    assert np.allclose(data["log10_residual_cells"] - data["gap_decades"], bound, atol=1e-6)
    integer = data[data["integer"] == "yes"]
    assert len(integer) == 4 and len(data) == 6
    for _, row in integer.iterrows():
        days = expand_days(row["igf1r_days"])
        assert row["log10_residual_cells"] >= bound - 1e-6
        assert len(days) == row["igf1r_exposure_days"] <= size.budget_days
        assert _resimulated(days) == pytest.approx(
            row["log10_residual_cells"], abs=1e-9)
    searches = data[data["evaluation_kind"] == "trials"]
    assert len(searches) == 3 and (searches["evaluations"] == size.trials).all()
    relaxed, slsqp = data.iloc[0], data.iloc[-1]
    assert 0 <= relaxed["gap_decades"] < 1e-3  # the relaxed optimum, re-simulated
    assert slsqp["igf1r_exposure_days"] <= size.budget_days + 1e-6
    assert slsqp["log10_residual_cells"] >= bound - 1e-3


def test_method_comparison_search_is_reproducible_for_its_seed(reduced):
    out, _, _ = reduced
    data = _csv(out, "method_comparison").set_index("method")
    size = method_comparison.REDUCED
    mode, label = method_comparison.SEARCHES[0]
    again = method_comparison._search(persister_problem(budget_days=size.budget_days), mode,
                                      size.trials, SEED)
    assert compact_days(np.flatnonzero(again.profile)) == data.loc[label, "igf1r_days"]


# -- the committed results -------------------------------------------------------------------------

def _committed(name):
    """The committed full-run table of ``name``, after checking it was made from this model and
    these parameters."""
    csv = RESULTS_DIR / f"{name}.csv"
    for suffix in ("csv", "md", "png"):
        assert (RESULTS_DIR / f"{name}.{suffix}").exists(), REGENERATE
    stamp = read_provenance(csv)
    assert stamp["reduced"] == "False" and stamp["experiment"] == name
    parameters, model_hash = _made_from(name)
    assert stamp["parameter_hash"] == parameters.digest, REGENERATE
    assert stamp["model_hash"] == model_hash, REGENERATE
    return pd.read_csv(csv, comment="#")


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_registered_experiment_has_committed_full_results(name):
    assert len(_committed(name)) > 0


def test_committed_budget_sweep_resimulates():
    data = _committed("budget_sweep").set_index("budget_days")
    assert tuple(data.index) == budget_sweep.FULL_BUDGETS
    for budget in (0, 10, 40):
        row = data.loc[budget]
        days = expand_days(row["igf1r_days"])
        assert len(days) <= budget and row["check_passed"]
        assert _resimulated(days) == pytest.approx(row["log10_residual_cells"], abs=1e-3)


def test_committed_cure_curve_resimulates():
    data = _committed("cure_curve").set_index("budget_days")
    assert tuple(data.index) == cure_curve.FULL_BUDGETS
    optimised = data["cure_probability"]
    assert data["check_passed"].all() and (np.diff(optimised) >= -1e-6).all()
    for column in ("first_days_cure_probability", "best_block_cure_probability"):
        assert (optimised >= data[column] - 1e-6).all(), column
    assert (optimised <= data["cure_probability_bound"] + 1e-6).all()
    row = data.loc[cure_curve.FOCUS_DAYS]
    assert _cure_probability(expand_days(row["igf1r_days"])) == pytest.approx(
        row["cure_probability"], rel=1e-6)


def test_committed_paper_arms_resimulate():
    for _, row in _committed("paper_arms").iterrows():
        trajectory, _ = _arm_log10_final(row["arm"])
        assert row["log10_final_cells"] == pytest.approx(
            trajectory.final_output("log10_total_cells"), abs=1e-3)


def test_committed_timing_map_resimulates():
    data = _committed("timing_map")
    assert len(data) == sum(41 - length for length in timing_map.FULL_LENGTHS)
    ten = data[data["length_days"] == 10].set_index("start_day")["log10_residual_cells"]
    for start in (0, int(ten.idxmin())):
        assert _resimulated(range(start, start + 10)) == pytest.approx(ten.loc[start], abs=1e-3)


def test_committed_method_comparison_resimulates():
    data = _committed("method_comparison")
    budget = method_comparison.FULL.budget_days
    for _, row in data[data["integer"] == "yes"].iterrows():
        days = expand_days(row["igf1r_days"])
        assert len(days) <= budget
        assert _resimulated(days) == pytest.approx(row["log10_residual_cells"], abs=1e-3)


# -- robustness ------------------------------------------------------------------------------------

def test_robustness_summary_and_draws_agree_with_scipy(reduced):
    out, _, _ = reduced
    from dataclasses import replace

    from experiments import robustness
    from models.persister import default_ensemble

    data = _csv(out, "robustness")
    table = _markdown_table(out / "robustness.md").set_index("schedule")
    sizes = robustness.REDUCED
    assert set(data["schedule"]) == set(table.index)
    assert {f"robust {mode} (N={sizes['robust_samples']})" for mode in ("mean", "worst")} <= set(
        table.index)
    assert (table.loc[[s for s in table.index if s.startswith("robust")], "in_sample_check"]
            == "passed").all()
    for label, group in data.groupby("schedule"):
        assert len(group) == sizes["ensemble"]
        median = group["log10_residual_cells"].median()
        assert float(table.loc[label, "median_log10_residual_cells"]) == pytest.approx(
            median, abs=1e-3)
        assert float(table.loc[label, "fraction_eradicated"]) == pytest.approx(
            (group["minimum_cells"] < 1).mean(), abs=0.005)
        cure = group["cure_probability"]
        assert np.allclose(cure, np.exp(-group["expected_surviving_lineages"]), rtol=1e-12)
        for name, value in (("mean", cure.mean()), ("p05", cure.quantile(0.05)),
                            ("p95", cure.quantile(0.95))):
            assert float(table.loc[label, f"{name}_cure_probability"]) == pytest.approx(
                value, abs=6e-4)
    # The evaluation draws are the ensemble's draws for seed + 1: re-simulate two with scipy.
    draws = default_ensemble().sample(default_parameters(), sizes["ensemble"], SEED + 1)
    paper = data[data["schedule"] == "paper days 0-9"].set_index("draw")
    for j in (0, sizes["ensemble"] - 1):
        assert paper.loc[j, "parameter_hash"] == draws[j].digest
        problem = replace(_problem(), parameters=draws[j])
        assert simulated_objective(problem, _profile(range(10))) == pytest.approx(
            paper.loc[j, "log10_residual_cells"], abs=1e-3)
        # P(cure) from the CVODES states agrees with the scipy check's backward sweep
        assert _cure_probability(range(10), draws[j]) == pytest.approx(
            paper.loc[j, "cure_probability"], abs=1e-4)


def test_committed_robustness_resimulates():
    from dataclasses import replace

    from experiments import robustness
    from models.persister import default_ensemble

    data = _committed("robustness")
    draws = default_ensemble().sample(default_parameters(), robustness.FULL["ensemble"], 1)
    paper = data[data["schedule"] == "paper days 0-9"].set_index("draw")
    assert len(paper) == robustness.FULL["ensemble"]
    j = int(paper["log10_residual_cells"].idxmax())
    assert paper.loc[j, "parameter_hash"] == draws[j].digest, REGENERATE
    problem = replace(_problem(), parameters=draws[j])
    assert simulated_objective(problem, _profile(range(10))) == pytest.approx(
        paper.loc[j, "log10_residual_cells"], abs=1e-3)


def _check_sobol_rows(data):
    """Finite indices; ST at least S1 up to the two confidence half-widths (sampling error)."""
    for output in sensitivity.OUTPUTS:
        values = data[[f"{output}_{index}" for index in sensitivity.INDICES]].to_numpy()
        assert np.isfinite(values).all()
        s1, s1_conf, st, st_conf = values.T
        assert (s1_conf >= 0).all() and (st_conf >= 0).all()
        assert (st >= s1 - s1_conf - st_conf - 1e-9).all()


def test_sensitivity_indices_are_finite_over_the_ensembles_parameters(reduced):
    out, _, _ = reduced
    data = _csv(out, "sensitivity")
    assert sorted(data["parameter"]) == sorted(sensitivity.REDUCED["parameters"])
    assert set(data["parameter"]) <= set(default_ensemble().spreads)
    _check_sobol_rows(data)
    assert list(data["cure_ST"]) == sorted(data["cure_ST"], reverse=True)
    table = _markdown_table(out / "sensitivity.md")
    assert list(table["parameter"]) == list(data["parameter"])
    assert max(len(line) for line in (out / "sensitivity.md").read_text().splitlines()
               if line.startswith("|")) <= 80


def test_sensitivity_samples_each_parameter_within_its_documented_range():
    parameters = default_parameters()
    names = sorted(default_ensemble().spreads)
    ranges = sensitivity.sampling_ranges(parameters, names)
    for name, (scale, low, high) in ranges.items():
        value = parameters.values[name]
        assert scale == ("linear" if not value.lower else "log10")
        ends = [sensitivity.to_parameters(np.array([x if n == name else r[1]
                                                    for n, r in ranges.items()]), ranges)[name]
                for x in (low, high)]
        assert ends == pytest.approx([value.lower or 0.0, value.upper], rel=1e-12)


def test_sobol_indices_of_a_linear_function_are_its_variance_shares():
    """y = sum a_i x_i with independent uniform x_i: S1_i = ST_i = a_i^2 var_i / sum_j a_j^2
    var_j, var_i = (width_i)^2 / 12; a second output with other weights checks the columns."""
    bounds = {"x": (0.0, 1.0), "y": (-1.0, 3.0), "z": (2.0, 2.5)}
    weights = np.array([[2.0, 1.0, 4.0], [0.0, 1.0, 1.0]])
    widths = np.array([high - low for low, high in bounds.values()])
    indices, samples = sensitivity.sobol_indices(
        bounds, lambda x: x @ weights.T, ["first", "second"], 1024, seed=1)
    assert samples.shape == ((len(bounds) + 2) * 1024, len(bounds))
    for output, a in zip(("first", "second"), weights, strict=True):
        shares = a ** 2 * widths ** 2 / np.sum(a ** 2 * widths ** 2)
        assert indices[f"{output}_S1"].to_numpy() == pytest.approx(shares, abs=0.03)
        assert indices[f"{output}_ST"].to_numpy() == pytest.approx(shares, abs=0.03)


def test_committed_sensitivity_covers_every_spread_parameter():
    data = _committed("sensitivity")
    assert sorted(data["parameter"]) == sorted(default_ensemble().spreads)
    _check_sobol_rows(data)


def _check_foxa1_vs_igf1r(data: pd.DataFrame, reduced_run: bool) -> None:
    """The strategies' figures against a fresh scipy simulation of each schedule's days, the
    FOXA1 inhibitor's glucose at its basal level, and the shortest courses' target."""
    preset = get_preset(foxa1_vs_igf1r.PRESET)
    basal = preset.parameters.values["G_b"].value
    rows = data.set_index(["strategy", "budget"])
    for strategy, drugs in foxa1_vs_igf1r.STRATEGIES.items():
        equal = rows.loc[(strategy, "equal")]
        for drug, column in ((IGF1R_INHIBITOR, "igf1r_days"), (FOXA1_INHIBITOR, "foxa1_days")):
            assert equal[column] == (foxa1_vs_igf1r.BUDGET_DAYS if drug in drugs else 0)
        glucose_rises = IGF1R_INHIBITOR in drugs
        assert (equal["peak_glucose_mg_dl"] > basal + 20) == glucose_rises
        if not glucose_rises:
            assert equal["peak_glucose_mg_dl"] == pytest.approx(basal, rel=1e-6)
        shortest = rows.loc[(strategy, "shortest")]
        if not pd.isna(shortest["cure_probability"]):
            assert shortest["cure_probability"] >= foxa1_vs_igf1r.TARGET_CURE - 5e-3
    both, alone = rows.loc[("both", "equal")], rows.loc[("IGF-1R inhibitor only", "equal")]
    assert both["cure_probability"] >= alone["cure_probability"]
    assert both["persisters_day_14"] < alone["persisters_day_14"]
    if reduced_run:  # days 0-9 of each drug: the figures of an independent simulation
        model = preset.model_with(("glucose",))
        problem = preset.problem(free=(IGF1R_INHIBITOR,))
        w = np.zeros(problem.n_intervals)
        w[:foxa1_vs_igf1r.BUDGET_DAYS] = 1.0
        trajectory = simulate(model, model.parameter_vector(preset.parameters),
                              problem.schedule({IGF1R_INHIBITOR: w}))
        assert alone["cure_probability"] == pytest.approx(
            np.exp(-trajectory.lineages.expected[-1]), rel=1e-6)
        assert alone["peak_glucose_mg_dl"] == pytest.approx(trajectory.output("glucose").max())


def test_foxa1_vs_igf1r_reduced_agrees_with_a_direct_simulation(reduced):
    out, _, _ = reduced
    _check_foxa1_vs_igf1r(_csv(out, "foxa1_vs_igf1r"), reduced_run=True)


def test_committed_foxa1_vs_igf1r_keeps_its_claims():
    _check_foxa1_vs_igf1r(_committed("foxa1_vs_igf1r"), reduced_run=False)


def _check_calibration_pdx(data: pd.DataFrame, fits: set[str]) -> None:
    """Every fit: the three parameters, a verdict that matches its interval ends, the estimate
    inside its interval and its range, and the independent re-simulation within 1e-3 in ln
    volume."""
    from experiments import calibration_pdx

    assert set(data["fit"]) == fits
    ranges = read_toml(calibration_pdx.RANGES, "range file")["ranges"]
    for (_fit, parameter), row in data.set_index(["fit", "parameter"]).iterrows():
        low, high = row["lower"], row["upper"]
        verdict = {(False, False): "identifiable", (True, True): "not identifiable",
                   (False, True): "bounded below only", (True, False): "bounded above only"}[
            (bool(pd.isna(low)), bool(pd.isna(high)))]
        assert row["verdict"] == verdict
        assert ranges[parameter]["lower"] * (1 - 1e-6) <= row["estimate"] <= ranges[
            parameter]["upper"] * (1 + 1e-6)
        assert pd.isna(low) or low <= row["estimate"]
        assert pd.isna(high) or row["estimate"] <= high
        assert row["check_ln_difference"] < 1e-3
    assert set(data["parameter"]) == set(calibration_pdx.FREE)


def test_calibration_pdx_reduced_fits_p11(reduced):
    out, _, _ = reduced
    _check_calibration_pdx(_csv(out, "calibration_pdx"), {"p11"})


def test_committed_calibration_pdx_fits_every_model_and_drug():
    from experiments import calibration_pdx

    data = _committed("calibration_pdx")
    assert set(calibration_pdx.MODELS) <= set(data["fit"])
    assert {"pooled erlotinib", "pooled afatinib", "pooled dacomitinib"} <= set(data["fit"])
    _check_calibration_pdx(data, set(data["fit"]))
