"""Figures: each panel is titled with its unit and draws the data given under the model's own
names, the treatment window and its end sit where the schedule puts them, the title carries the
result, the PNG carries its provenance as JSON, the same data give the same bytes, and a missing
matplotlib names the extra to install."""

import builtins
import json

import casadi as ca
import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from constraints.path import max_glucose
from models.model import Control, Model, Parameter, State
from models.persister import default_parameters, persister_model, persister_problem
from models.persister.v2 import persister_v2_model, v2_parameters
from models.schedule import Schedule
from optimiser.check import CheckReport
from optimiser.files import atomic_output
from optimiser.pareto import FrontPoint
from optimiser.pipeline import optimise
from optimiser.plots import (
    END_GID,
    WINDOW_GID,
    PlotExtraMissing,
    draw_cells,
    exposure_states,
    new_figure,
    pareto_figure,
    plot_pareto,
    plot_schedule,
    result_title,
    schedule_figure,
)
from optimiser.simulate import simulate

from .conftest import ARMS

DRUGS = ["osimertinib", "igf1r_inhibitor"]
# provenance as the pipeline writes it: strings, a number and a nested table
METADATA = {"seed": 7, "parameter_hash": default_parameters().digest, "model": "persister",
            "versions": {"casadi": ca.__version__, "numpy": np.__version__}}
POPULATIONS = ["osimertinib-sensitive cells (S)", "drug-tolerant persisters (P)",
               "resistant cells (R)", "total cells"]


@pytest.fixture(scope="module")
def arm(model, parameter_vector):
    schedule = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
    return simulate(model, parameter_vector, schedule), schedule


@pytest.fixture(scope="module")
def late(model, parameter_vector):
    """Osimertinib on days 0-19, the inhibitor on 5-29: treatment ends on day 30."""
    doses = {"osimertinib": np.r_[np.full(20, 5.0), np.zeros(80)],
             "igf1r_inhibitor": np.r_[np.zeros(5), np.full(25, 25.0), np.zeros(70)]}
    schedule = Schedule(1.0, 100.0, doses, {d: "mg/kg" for d in doses})
    return simulate(model, parameter_vector, schedule), schedule


def _legend(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_schedule_png_has_its_size_and_the_provenance_as_json(arm, tmp_path):
    trajectory, schedule = arm
    path = plot_schedule(trajectory, schedule, tmp_path / "schedule.png", title="days 0-9",
                         detection_limit=1e6, metadata=METADATA)
    assert path == tmp_path / "schedule.png"
    with Image.open(path) as image:
        image.verify()  # chunks and checksums of a valid PNG
    with Image.open(path) as image:
        # 10 in wide; panel heights 3 (cells) + 1.2 (two dose rows) + 1.5 (exposure), at
        # 0.8 in each, plus 1.2 in of titles and axis label: 5.76 in, at 100 dpi
        assert image.format == "PNG" and image.size == (1000, 576)
        assert "Software" not in image.text
        text = dict(image.text)
    assert set(text) == set(METADATA)
    assert text["model"] == "persister"  # a string stays as it is
    assert {key: value if isinstance(METADATA[key], str) else json.loads(value)
            for key, value in text.items()} == METADATA
    assert sorted(tmp_path.iterdir()) == [path]


def test_each_panel_is_titled_and_labelled_with_its_unit(arm):
    trajectory, schedule = arm
    figure = schedule_figure(trajectory, schedule, drugs=DRUGS)
    cells, doses, exposure = figure.axes
    assert [ax.get_title(loc="left") for ax in figure.axes] == [
        "(a) tumour cells by population (log scale)",
        "(b) doses (bar height: daily dose relative to the drug's highest)",
        "(c) drug exposure (model state)"]
    assert cells.get_ylabel() == "cells (number)" and cells.get_yscale() == "log"
    assert exposure.get_ylabel() == "exposure\n(ref. dose = 1)"  # model v1: C = 1 at the dose
    assert exposure.get_xlabel() == "time (days)"
    assert cells.get_xlabel() == doses.get_xlabel() == ""  # the shared axis is labelled once
    assert [t.get_text() for t in doses.get_yticklabels()] == [
        "osimertinib\n5 mg/kg/day", "IGF-1R inhibitor\n25 mg/kg/day"]


def test_legends_use_the_models_long_names_over_the_right_data(arm):
    trajectory, schedule = arm
    figure = schedule_figure(trajectory, schedule, detection_limit=1e6, drugs=DRUGS)
    cells, doses, exposure = figure.axes
    assert _legend(cells) == [*POPULATIONS, "1 cell (below: eradicated)",
                              "detection limit, 1e+06 cells\n(to stay below from day 40)",
                              "treatment, days 0-40",
                              "end of treatment, day 40\n(detection-limit rule starts)"]
    lines, states = _lines(cells), trajectory.states
    assert np.array_equal(lines["total cells"].get_ydata(), trajectory.output("total_cells"))
    assert np.array_equal(lines["drug-tolerant persisters (P)"].get_ydata(), states["P"])
    assert _legend(exposure) == ["osimertinib", "IGF-1R inhibitor"]  # Control.display_name
    drawn = _lines(exposure)
    assert np.array_equal(drawn["IGF-1R inhibitor"].get_ydata(), states["C_igf"])
    assert np.array_equal(drawn["osimertinib"].get_ydata(), states["C_osi"])
    bars = sorted((round(b.get_y() + 0.4), b.get_x(), b.get_width()) for b in doses.patches
                  if b.get_gid() != WINDOW_GID)
    assert bars == [(0, 0.0, 40.0), (1, 0.0, 10.0)]  # rows: osimertinib, inhibitor
    # one colour per drug in both panels, none of them a population's
    bar_colours = {round(b.get_y() + 0.4): to_hex(b.get_facecolor()) for b in doses.patches
                   if b.get_gid() != WINDOW_GID}
    line_colours = [to_hex(drawn[name].get_color()) for name in ("osimertinib",
                                                                  "IGF-1R inhibitor")]
    assert [bar_colours[0], bar_colours[1]] == line_colours
    cell_colours = {to_hex(lines[name].get_color()) for name in POPULATIONS}
    assert len(cell_colours) == 4 and not cell_colours & set(line_colours)


def test_the_treatment_window_ends_on_the_last_dosing_day_in_every_panel(late):
    trajectory, schedule = late
    figure = schedule_figure(trajectory, schedule, detection_limit=1e6, drugs=DRUGS)
    for ax in figure.axes:
        (window,) = [p for p in ax.patches if p.get_gid() == WINDOW_GID]
        (x0, _), (x1, _) = window.get_bbox().get_points()
        assert (x0, x1) == (0.0, 30.0)  # the inhibitor's last day, after osimertinib's
        (end,) = [line for line in ax.get_lines() if line.get_gid() == END_GID]
        assert list(end.get_xdata()) == [30.0, 30.0]
    (limit,) = [c for c in figure.axes[0].collections if "detection" in c.get_label()]
    assert np.array_equal(limit.get_segments()[0], [[30.0, 1e6], [100.0, 1e6]])


def test_without_a_treatment_end_the_detection_limit_spans_the_horizon(late):
    """As the experiments' grids of arms draw it: no rule start is claimed."""
    trajectory, _ = late
    ax = new_figure(4.0, 3.0).subplots()
    draw_cells(ax, trajectory, 1e6)
    (limit,) = ax.collections
    assert limit.get_label() == "detection limit, 1e+06 cells"
    assert np.array_equal(limit.get_segments()[0], [[0.0, 1e6], [100.0, 1e6]])


def test_exposure_comes_from_the_pk_states_named_after_each_drug():
    v1 = {drug: state.name for drug, state in exposure_states(persister_model()).items()}
    assert v1 == {"osimertinib": "C_osi", "igf1r_inhibitor": "C_igf"}
    # model v2: the plasma compartments, not the gut ones (A_*) nor EGFR occupancy
    v2 = {drug: state.name for drug, state in exposure_states(persister_v2_model()).items()}
    assert v2 == {"osimertinib": "C_osi", "igf1r_inhibitor": "C_igf",
                  "foxa1_inhibitor": "C_fox"}


def test_plasma_concentrations_far_apart_get_a_log_axis_in_their_unit():
    model = persister_v2_model()
    schedule = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
    trajectory = simulate(model, model.parameter_vector(v2_parameters()), schedule)
    exposure = schedule_figure(trajectory, schedule).axes[2]
    peaks = [float(np.max(trajectory.states[s])) for s in ("C_osi", "C_igf")]
    assert max(peaks) > 10 * min(peaks)
    assert exposure.get_yscale() == "log"
    assert exposure.get_ylabel() == "concentration\n(mg/L)"
    assert exposure.get_title(loc="left") == "(c) drug plasma concentration"
    assert _legend(exposure) == ["osimertinib", "IGF-1R inhibitor"]  # the FOXA1 one not given


def test_without_pk_states_the_exposure_is_the_cumulative_dose():
    model = Model(name="toy", states=(State("N", "cell", log=True, description="cells"),),
                  controls=(Control("drug", dose_unit="mg", reference_dose=2.0,
                                    label="Drug X"),),
                  parameters=(Parameter("kill", "1/day"),),
                  rhs=lambda x, u, p: {"N": -p.kill * u.drug * x.N},
                  initial=lambda p: {"N": 1e6}, outputs=lambda x, p: {"cells": x.N})
    assert exposure_states(model) == {}
    schedule = Schedule(1.0, 10.0, {"drug": np.r_[np.full(4, 2.0), np.full(2, 1.0),
                                                  np.zeros(4)]}, {"drug": "mg"})
    trajectory = simulate(model, np.array([0.5]), schedule)
    exposure = schedule_figure(trajectory, schedule).axes[-1]
    assert exposure.get_title(loc="left") == "(c) cumulative drug exposure"
    assert exposure.get_ylabel() == "cumulative dose\n(reference-dose days)"
    (line,) = [line for line in exposure.get_lines() if line.get_label() == "Drug X"]
    # 2 mg is one reference dose a day for 4 days, then half of one for 2 days
    assert np.array_equal(line.get_ydata(), [0, 1, 2, 3, 4, 4.5, 5, 5, 5, 5, 5])


def test_glucose_gets_a_panel_with_its_limit(arm):
    _, schedule = arm
    model = persister_model(glucose=True)
    trajectory = simulate(model, model.parameter_vector(default_parameters()), schedule)
    figure = schedule_figure(trajectory, schedule, drugs=DRUGS, limits=(max_glucose(164.0),))
    glucose = figure.axes[-1]
    assert len(figure.axes) == 4
    assert glucose.get_title(loc="left") == "(d) blood glucose"
    assert glucose.get_ylabel() == "glucose\n(mg/dL)"
    assert glucose.get_xlabel() == "time (days)"
    assert _legend(glucose) == ["blood glucose", "max glucose: 164 mg/dL"]
    assert np.array_equal(_lines(glucose)["blood glucose"].get_ydata(),
                          trajectory.output("glucose"))
    (limit,) = glucose.collections
    assert np.array_equal(limit.get_segments()[0], [[0.0, 164.0], [100.0, 164.0]])


@pytest.fixture(scope="module")
def solved():
    problem = persister_problem(budget_days=10.0)
    return problem, optimise(problem)


def test_the_title_gives_the_objective_its_bound_and_the_cure_probability(solved, tmp_path):
    problem, result = solved
    title = result_title(result, problem)
    cure = result.check.summary["cure_probability"]
    assert title == (
        "Optimised IGF-1R inhibitor schedule, model persister\n"
        f"log10 residual cells at day 100: {result.objective:#.3g} (lower bound "
        f"{result.lower_bound:#.3g}); P(cure) {cure:.3f}; independent check passed")
    assert result.lower_bound <= result.objective
    curve = result.check.summary["no_regrowth_curve"]
    figure = schedule_figure(result.check.trajectory, result.schedule, title, 1e6, curve=curve)
    assert figure.get_suptitle() == title
    assert len(figure.axes) == 4
    failure = figure.axes[1]
    assert failure.get_title(loc="left") == ("(b) chance the tumour is not controlled "
                                             "(branching process)")
    assert failure.get_ylabel() == "probability" and failure.get_yscale() == "log"
    not_cured = _lines(failure)["any cell left (not cured)"]
    assert not_cured.get_ydata()[-1] == pytest.approx(1 - cure)


def test_same_data_give_the_same_bytes(arm, tmp_path):
    trajectory, schedule = arm
    first = plot_schedule(trajectory, schedule, tmp_path / "a.png", metadata=METADATA)
    second = plot_schedule(trajectory, schedule, tmp_path / "b.png", metadata=METADATA)
    assert first.read_bytes() == second.read_bytes()


def _points():
    def check(passed):
        return CheckReport(passed, 2.0, 2.0, 0.0, 1e-3, [])

    return [FrontPoint(3.0, 5.03, 2.93, [28, 33, 38], check(True), 4),
            FrontPoint(5.0, 2.45, 1.94, [8, 22, 28, 33, 38], check(True), 9),
            FrontPoint(10.0, 1.78, None, list(range(10)), check(False), 12)]


def test_pareto_png_and_what_it_draws(tmp_path):
    points = _points()
    path = plot_pareto(points, tmp_path / "front.png", "IGF-1R inhibitor", metadata=METADATA)
    with Image.open(path) as image:
        assert image.size == (700, 500) and json.loads(image.text["seed"]) == 7
    figure = pareto_figure(points, "IGF-1R inhibitor")
    (ax,) = figure.axes
    front, bounds, failed = ax.get_lines()
    assert np.array_equal(front.get_xydata(), [[p.exposure_days, p.objective] for p in points])
    assert np.array_equal(bounds.get_xydata(), [[3.0, 2.93], [5.0, 1.94]])  # None skipped
    assert np.array_equal(failed.get_xydata(), [[10.0, 1.78]])
    assert ax.get_xlabel() == "IGF-1R inhibitor exposure (reference-dose days)"
    assert ax.get_title() == ("Residual tumour against IGF-1R inhibitor exposure: 3 schedules\n"
                              "best log10 residual 1.78 at 10 days")
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "optimised schedule (one per exposure)", "relaxed lower bound at that exposure",
        "failed the independent check"]


def test_missing_matplotlib_names_the_plot_extra(arm, tmp_path, monkeypatch):
    trajectory, schedule = arm
    real_import = builtins.__import__

    def without_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_matplotlib)
    with pytest.raises(PlotExtraMissing, match=r"pip install -e '\.\[plot\]'") as error:
        plot_schedule(trajectory, schedule, tmp_path / "never.png")
    assert isinstance(error.value, ImportError) and "matplotlib" in str(error.value)
    assert not any(tmp_path.iterdir())


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "result.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(tmp_path.iterdir()) == [target]


def test_a_finished_write_gets_the_usual_permissions(tmp_path):
    target = tmp_path / "result.csv"
    with atomic_output(target) as temporary:
        temporary.write_text("new")
    reference = tmp_path / "reference.csv"
    reference.write_text("made by open()")
    assert target.read_text() == "new"
    assert target.stat().st_mode == reference.stat().st_mode
