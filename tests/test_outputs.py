"""A run's outputs are one set (issue 18, ``optimiser.files.RunOutputs``): staged, moved into
place together with a manifest, nothing left when the run fails, and a re-run into the same
directory never leaves a mix with the earlier run's files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimiser.files import MANIFEST, STAGE_PREFIX, RunOutputs

from .conftest import ARMS, run_cli


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_committed_files_land_together_with_a_manifest(tmp_path):
    out, plot = tmp_path / "out" / "deep", tmp_path / "figures" / "f.png"
    with RunOutputs(out, {"command": "optimise --test"}) as staged:
        (staged.directory(out) / "a.csv").write_text("a")
        (staged.directory(out) / "groups").mkdir()
        (staged.directory(out) / "groups" / "b.toml").write_text("b")
        staged.file(plot).write_text("png")
        assert not out.exists() and not plot.exists()  # nothing in place before the commit
        staged.commit()
    assert _tree(tmp_path) == {"out/deep/a.csv", "out/deep/groups/b.toml", f"out/deep/{MANIFEST}",
                               "figures/f.png"}
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["command"] == "optimise --test"
    assert sorted(manifest["files"]) == ["../../figures/f.png", "a.csv", "groups/b.toml"]


def test_an_error_before_the_commit_leaves_nothing(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("the user's own file")
    with pytest.raises(RuntimeError, match="the plot failed"), \
            RunOutputs(tmp_path / "out", {}) as staged:
        (staged.directory(tmp_path / "out") / "schedule.json").write_text("{}")
        raise RuntimeError("the plot failed")
    assert _tree(tmp_path) == {"out/mine.txt"}
    assert not any(p.name.startswith(STAGE_PREFIX) for p in tmp_path.rglob("*"))


def test_a_rerun_removes_the_earlier_runs_other_files_only(tmp_path):
    out = tmp_path / "out"
    with RunOutputs(out, {"run": 1}) as staged:
        for name in ("schedule.json", "schedule.v1.json", "trajectories.csv"):
            (staged.directory(out) / name).write_text("first")
        staged.commit()
    (out / "notes.txt").write_text("the user's own file")
    with RunOutputs(out, {"run": 2}) as staged:
        (staged.directory(out) / "schedule.json").write_text("second")
        staged.commit()
    assert _tree(tmp_path) == {"out/schedule.json", f"out/{MANIFEST}", "out/notes.txt"}
    assert (out / "schedule.json").read_text() == "second"
    assert json.loads((out / MANIFEST).read_text())["run"] == 2


def test_the_command_writes_one_set_and_a_rerun_replaces_it(tmp_path):
    arm = str(ARMS / "osimertinib_alone.json")
    first = run_cli("simulate", "--schedule", arm, "--out", "sim", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert _tree(tmp_path) == {"sim/schedule.json", "sim/trajectories.csv", f"sim/{MANIFEST}"}
    (tmp_path / "sim" / "schedule.v1.json").write_text("{}")  # listed by no manifest: kept
    second = run_cli("simulate", "--schedule", arm, "--out", "sim", "--parameters", "missing",
                     cwd=tmp_path)
    assert second.returncode == 2  # a refused re-run touches nothing
    assert _tree(tmp_path) == {"sim/schedule.json", "sim/trajectories.csv", f"sim/{MANIFEST}",
                               "sim/schedule.v1.json"}
    manifest = json.loads((tmp_path / "sim" / MANIFEST).read_text())
    assert manifest["command"].startswith("optimise simulate --schedule")
    assert sorted(manifest["files"]) == ["schedule.json", "trajectories.csv"]
