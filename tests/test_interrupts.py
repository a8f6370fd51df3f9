"""Ctrl-C and SIGTERM (issue 18): real signals sent to the real command at several points of
a run (while Python imports, during the relaxed IPOPT solve, during rounding, scoring and the
check's integrations) end it within 5 s with one line on stderr, exit code 130 and no output at
all: no --out directory, no staged file, nothing on stdout. Interrupts of a study are tested
with the study itself (tests/test_concurrency.py)."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from .conftest import ARMS, CLI

MESSAGE = ("error: interrupted ({name}); nothing was written; run the same command again (a "
           "study resumes and retries the interrupted trial)")
# Seconds after the start: imports; the relaxed solve; the search, scoring and the check (the
# main job takes about 7 s on 2 cores, most of it after the first 2 s).
DELAYS = [0.3, 2.0, 3.5, 5.0]
STOP_S = 5  # the longest wait from the signal to the exit, with room for a loaded machine


def _interrupt(args: list[str], delay: float, number: int, cwd) -> tuple[int, str, str, float]:
    process = subprocess.Popen([*CLI, *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    sent = time.perf_counter()
    process.send_signal(number)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err, time.perf_counter() - sent


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_the_main_job_with_one_line_and_nothing_written(delay, number, tmp_path):
    code, out, err, seconds = _interrupt(["--budget", "10d", "--out", "result", "--export",
                                          "sbml"], delay, number, tmp_path)
    if code == 0:  # finished before the signal (a fast machine): nothing to check
        pytest.skip(f"the run ended before {delay} s")
    assert code == 130, err
    assert err.strip() == MESSAGE.format(name=signal.Signals(number).name), err
    assert out == ""
    # 0.2-1.1 s on an idle 2-core machine; CasADi notices the signal between IPOPT iterations
    assert seconds < STOP_S, f"took {seconds:.1f} s to stop"
    assert list(tmp_path.iterdir()) == [], "an interrupted run left files"


def test_a_signal_during_a_simulation_writes_nothing(tmp_path):
    code, out, err, seconds = _interrupt(
        ["simulate", "--schedule", str(ARMS / "osimertinib_alone.json"), "--out", "sim"],
        1.0, signal.SIGINT, tmp_path)
    if code == 0:
        pytest.skip("the simulation ended before the signal")
    assert (code, out) == (130, "")
    assert err.strip() == MESSAGE.format(name="SIGINT")
    assert seconds < STOP_S and list(tmp_path.iterdir()) == []
