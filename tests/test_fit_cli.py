"""``optimise fit`` as a user runs it on the shipped PDX data, and its fitted set going straight
into ``optimise --parameters`` (and its ensemble into ``--ensemble --robust``)."""

from __future__ import annotations

import json
import tomllib

import pytest

from .conftest import REPO, run_cli

DATA = REPO / "experiments" / "data" / "pdx_egfr_tki"
RANGES = REPO / "experiments" / "data" / "calibration_pdx.toml"
V1 = ("--preset", "persister_v1")


def _fit(*args):
    return run_cli(*V1, "fit", "--data", str(DATA / "observations.csv"), "--schedules",
                   str(DATA / "schedules"), *args)


@pytest.fixture(scope="module")
def by_arm(tmp_path_factory):
    """P11 control and dacomitinib, days 0-10, one fit per arm: the control arm cannot tell the
    drug's kill rate."""
    out = tmp_path_factory.mktemp("fit")
    completed = _fit("--arms", "p11_*", "--until", "10", "--free", "r_S,k_S", "--by", "arm",
                     "--ranges", str(RANGES), "--starts", "1", "--out", str(out))
    return completed, out


def test_fit_by_arm_writes_its_files_and_flags_what_it_cannot_identify(by_arm):
    completed, out = by_arm
    assert completed.returncode == 0, completed.stderr
    summary = json.loads((out / "fit.json").read_text())
    groups = {g["name"]: g for g in summary["groups"]}
    assert set(groups) == {"p11_control", "p11_dacomitinib"}
    assert summary["data"]["subjects"] == 27
    control = groups["p11_control"]["estimates"]
    assert control["k_S"]["verdict"] == "not identifiable"
    assert control["k_S"]["lower"] is None and control["k_S"]["upper"] is None
    assert control["r_S"]["identifiable"]
    assert control["r_S"]["lower"] < control["r_S"]["value"] < control["r_S"]["upper"]
    for group in groups.values():
        assert group["check"]["max_abs_difference_ln_volume"] < 1e-3
        assert group["aic"] == pytest.approx(2 * group["neg_log_likelihood"]
                                             + 2 * group["estimated_quantities"])
        assert len(group["subjects_fit"]) == group["subjects"]
    for arm in groups:
        fitted = tomllib.loads((out / "groups" / arm / "fitted.toml").read_text())
        digest = summary["data"]["sha256_12"]
        assert fitted["parameters"]["r_S"]["source"].startswith(f"fit: {digest}, ")
        assert fitted["parameters"]["K"]["source"].startswith("doi:") or fitted[
            "parameters"]["K"]["source"].startswith("assumption")
    assert (out / "fit.png").stat().st_size > 10_000
    assert "not identifiable" in completed.stdout


def test_fitted_parameters_and_ensemble_go_into_optimise(by_arm, tmp_path):
    _, out = by_arm
    group = out / "groups" / "p11_dacomitinib"
    plain = run_cli(*V1, "--budget", "10d", "--json", "--parameters", str(group / "fitted.toml"))
    assert plain.returncode == 0, plain.stderr
    report = json.loads(plain.stdout)
    assert report["check"]["passed"] is True
    assert report["provenance"]["parameter_set"].endswith("-fit-p11_dacomitinib")
    # the fitted growth and kill change the answer: v1's default set gives 1.7850 (test_cli)
    assert abs(report["objective"]["value"] - 1.7850) > 0.01
    robust = run_cli(*V1, "--budget", "10d", "--json", "--parameters", str(group / "fitted.toml"),
                     "--ensemble", str(group / "ensemble.toml"), "--robust", "2")
    assert robust.returncode == 0, robust.stderr
    assert json.loads(robust.stdout)["check"]["passed"] is True


@pytest.mark.parametrize("args,fragments", [
    (("--free", "r_S,bogus"), ("'bogus' is not a parameter", "give some of")),
    (("--free", "V0"), ("fitted per subject", "leave it out")),
    (("--free", "r_S", "--by", "cage"), ("--by 'cage'", "give pooled, arm or subject")),
    (("--free", "r_S", "--starts", "0"), ("--starts 0", "at least 1")),
    (("--free", "r_S", "--arms", "p99_*"), ("no arm of", "its arms are")),
    (("--free", "r_S", "--until", "-1"), ("has 2 measurements up to day -1", "later --until")),
    (("--free", "r_S", "--detection-limit", "0"), ("must be positive", "calipers")),
])
def test_bad_fit_requests_are_one_line_and_exit_2(args, fragments, tmp_path):
    completed = _fit(*args, "--out", str(tmp_path / "out"))
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_schedule_is_refused(tmp_path):
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    completed = run_cli(*V1, "fit", "--data", str(DATA / "observations.csv"), "--schedules",
                        str(schedules), "--free", "r_S", "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert "has no schedule" in completed.stderr and "add it" in completed.stderr


def test_ensemble_needs_robust(tmp_path):
    completed = run_cli(*V1, "--budget", "10d", "--ensemble", str(tmp_path / "e.toml"))
    assert completed.returncode == 2
    assert "--ensemble is what --robust N draws from" in completed.stderr
