"""Figures: what they draw is the data given, the PNG has a fixed size and carries provenance,
the same data give the same bytes, and a missing matplotlib names the extra to install."""

import builtins

import numpy as np
import pytest
from PIL import Image

from models.persister import default_parameters
from models.schedule import Schedule
from optimiser.check import CheckReport
from optimiser.files import atomic_output
from optimiser.pareto import FrontPoint
from optimiser.plots import (
    PlotExtraMissing,
    pareto_figure,
    plot_pareto,
    plot_schedule,
    schedule_figure,
)
from optimiser.simulate import simulate

from .conftest import ARMS

METADATA = {"seed": 7, "parameter_hash": default_parameters().digest}


@pytest.fixture(scope="module")
def arm(model, parameter_vector):
    schedule = Schedule.read(ARMS / "osimertinib_plus_igf1r_days_0_9.json")
    return simulate(model, parameter_vector, schedule), schedule


def _points():
    def check(passed):
        return CheckReport(passed, 2.0, 2.0, 0.0, 1e-3, [])

    return [FrontPoint(3.0, 5.03, 2.93, [28, 33, 38], check(True), 4),
            FrontPoint(5.0, 2.45, 1.94, [8, 22, 28, 33, 38], check(True), 9),
            FrontPoint(10.0, 1.78, None, list(range(10)), check(False), 12)]


def test_schedule_png_has_fixed_size_and_provenance(arm, tmp_path):
    trajectory, schedule = arm
    path = plot_schedule(trajectory, schedule, tmp_path / "schedule.png", title="days 0-9",
                         detection_limit=1e6, metadata=METADATA)
    assert path == tmp_path / "schedule.png"
    with Image.open(path) as image:
        image.verify()  # chunks and checksums of a valid PNG
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 600)
        assert image.text["seed"] == "7"
        assert image.text["parameter_hash"] == METADATA["parameter_hash"]
        assert "Software" not in image.text
    assert sorted(tmp_path.iterdir()) == [path]


def test_schedule_figure_draws_the_trajectory_and_the_dosing_blocks(arm):
    trajectory, schedule = arm
    figure = schedule_figure(trajectory, schedule, drugs=["osimertinib", "igf1r_inhibitor"])
    cells, doses = figure.axes
    lines = {line.get_label(): line for line in cells.get_lines()}
    assert {"S", "P", "R", "total", "one cell"} <= set(lines)
    assert np.array_equal(lines["total"].get_ydata(), trajectory.output("total_cells"))
    assert np.array_equal(lines["P"].get_ydata(), trajectory.states["P"])
    assert cells.get_yscale() == "log"
    bars = sorted((round(b.get_y() + 0.4), b.get_x(), b.get_width()) for b in doses.patches)
    assert bars == [(0, 0.0, 40.0), (1, 0.0, 10.0)]  # rows: osimertinib, inhibitor


def test_same_data_give_the_same_bytes(arm, tmp_path):
    trajectory, schedule = arm
    first = plot_schedule(trajectory, schedule, tmp_path / "a.png", metadata=METADATA)
    second = plot_schedule(trajectory, schedule, tmp_path / "b.png", metadata=METADATA)
    assert first.read_bytes() == second.read_bytes()


def test_pareto_png_and_what_it_draws(tmp_path):
    points = _points()
    path = plot_pareto(points, tmp_path / "front.png", metadata=METADATA)
    with Image.open(path) as image:
        assert image.size == (700, 500) and image.text["seed"] == "7"
    (ax,) = pareto_figure(points).axes
    front, bounds, failed = ax.get_lines()
    assert np.array_equal(front.get_xydata(), [[p.exposure_days, p.objective] for p in points])
    assert np.array_equal(bounds.get_xydata(), [[3.0, 2.93], [5.0, 1.94]])  # None skipped
    assert np.array_equal(failed.get_xydata(), [[10.0, 1.78]])


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
