"""``optimise dashboard``: a real optuna-dashboard over a real study, fetched through its HTTP
API, then stopped the way a user stops it (Ctrl-C)."""

import json
import math
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from .conftest import CLI, run_cli

V1 = ("--preset", "persister_v1")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 3-trial study of the most likely cure: its trials carry P(cure)."""
    runs = tmp_path_factory.mktemp("runs")
    made = run_cli(*V1, "--objective", "cure", "--budget", "10d", "--study", "watched",
                   "--trials", "3", "--runs-dir", str(runs), "--json")
    assert made.returncode == 0, made.stderr
    return runs


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    """The dashboard command, and the study address it prints once it listens."""
    server = subprocess.Popen([*CLI, "dashboard", *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    assert line.startswith("dashboard of study"), (line, server.stderr.read())
    return server, line.split(": ", 1)[1].split()[0]


def test_the_dashboard_serves_the_study_with_its_metric_and_trial_figures(study):
    server, address = _start("--study", "watched", "--runs-dir", str(study), "--port", "0")
    try:
        root, _, study_id = address.partition("/dashboard/studies/")
        assert root.startswith("http://127.0.0.1:")  # loopback only
        summaries = _get(f"{root}/api/studies")["study_summaries"]
        assert [s["study_id"] for s in summaries if s["study_name"] == "watched"] == [
            int(study_id)]
        detail = _get(f"{root}/api/studies/{study_id}")
        assert detail["name"] == "watched"
        assert detail["objective_names"] == ["log10_expected_lineages"]
        complete = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert len(complete) == 3
        for trial in complete:
            attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
            # P(cure) = exp(-expected surviving lineages), the objective being its log10
            assert float(attrs["P(cure)"]) == pytest.approx(
                math.exp(-10 ** trial["values"][0]), rel=1e-9)
            days = float(attrs["exposure IGF-1R inhibitor (reference-dose days)"])
            assert days == pytest.approx(sum(json.loads(attrs["result"])["doses"]))
            assert days <= 10 + 1e-9
            assert attrs["check"] == "every rule and limit kept (screening simulation)"
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    assert err.strip() == "dashboard of study watched stopped"


def test_a_pareto_study_names_both_of_its_values(tmp_path):
    made = run_cli(*V1, "--budget", "10d", "--pareto", "--trials", "2", "--study", "front",
                   "--runs-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    import optuna

    stored = optuna.load_study(study_name="front",
                               storage=f"sqlite:///{tmp_path / 'studies.db'}")
    assert stored.metric_names == ["log10_total_cells",
                                   "exposure IGF-1R inhibitor (reference-dose days)"]


def test_a_study_the_storage_lacks_is_named_with_the_ones_it_holds(study):
    shown = run_cli("dashboard", "--study", "other", "--runs-dir", str(study))
    assert shown.returncode == 2
    assert shown.stderr.strip() == (f"error: study 'other' is not in sqlite:///"
                                    f"{study / 'studies.db'}; it holds watched")


def test_no_study_file_is_refused_without_creating_one(tmp_path):
    shown = run_cli("dashboard", "--study", "watched", "--runs-dir", str(tmp_path))
    assert shown.returncode == 2
    assert "no study file" in shown.stderr and "optimise --study watched" in shown.stderr
    assert not any(tmp_path.iterdir())


def test_a_taken_port_is_refused_in_one_line(study):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.perf_counter()
        shown = run_cli("dashboard", "--study", "watched", "--runs-dir", str(study),
                        "--port", str(port), timeout=30)
    assert shown.returncode == 2 and time.perf_counter() - started < 30
    assert shown.stderr.strip() == (f"error: cannot serve on 127.0.0.1:{port} (Address already "
                                    "in use); give another --port")


def test_without_the_extra_the_message_names_it(study):
    """optuna-dashboard is optional: without it, one line that says how to install it."""
    blocked = "import sys; sys.modules['optuna_dashboard'] = None; "
    shown = subprocess.run([CLI[0], "-c", blocked + CLI[2], "dashboard", "--study", "watched",
                            "--runs-dir", str(study)], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 2
    assert shown.stderr.strip() == ("error: optuna-dashboard is not installed; 'optimise "
                                    "dashboard' needs the dashboard extra: pip install -e "
                                    "'.[dashboard]'")
