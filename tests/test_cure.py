"""The cure probability as the product's answer: the Cure objective through the pipeline, the
least exposure for a target P(cure), an unreachable target, and the reported figures, each
against an independent simulation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.persister import IGF1R_INHIBITOR, OSIMERTINIB, persister_model, persister_problem
from models.schedule import Schedule
from optimiser import optimise
from optimiser.objectives import Cure
from optimiser.simulate import simulate

from .conftest import run_cli


def _run(*args, timeout=600):
    """The command line on model v1, whose cure figures these tests check independently."""
    return run_cli("--preset", "persister_v1", *args, timeout=timeout)


def _lineages(days) -> float:
    """Expected surviving lineages of osimertinib on days 0-39 plus the inhibitor on ``days``,
    by a fresh independent simulation."""
    model = persister_model()
    inhibitor = np.zeros(100)
    inhibitor[list(days)] = 1.0
    schedule = Schedule.from_fractions(model, {OSIMERTINIB: np.r_[np.ones(40), np.zeros(60)],
                                               IGF1R_INHIBITOR: inhibitor}, 1.0, 100.0)
    problem = persister_problem()
    return float(simulate(model, problem.parameter_vector, schedule).lineages.expected[-1])


@pytest.fixture(scope="module")
def cure_result():
    return optimise(persister_problem(budget_days=10, objective=Cure()))


def test_cure_objective_schedule_is_checked_bounded_and_beats_the_others(cure_result):
    result = cure_result
    assert result.check.passed
    assert result.lower_bound <= result.objective
    days = result.schedule.dosing_days(IGF1R_INHIBITOR)
    assert len(days) == 10
    expected = _lineages(int(d) for d in days)
    assert result.objective == pytest.approx(math.log10(expected), abs=1e-3)
    assert result.check.summary["cure_probability"] == pytest.approx(math.exp(-expected),
                                                                     rel=1e-9)
    # better than the paper's first ten days and than the log10-cells optimum (days measured
    # on the main job), both simulated independently
    assert expected < _lineages(range(10))
    assert expected <= _lineages([0, 1, 2, 3, 4, 8, 22, 28, 33, 38]) * (1 + 1e-6)


def test_cure_summary_figures_are_consistent(cure_result):
    summary = cure_result.check.summary
    expected = summary["expected_surviving_lineages"]
    assert summary["failure_probability"] == pytest.approx(-math.expm1(-expected), rel=1e-12)
    assert sum(summary["failure_sources"].values()) == pytest.approx(1.0)
    assert summary["time_to_regrowth"] is None  # the mean tumour stays below 1e6 cells
    curve = summary["no_regrowth_curve"]
    assert curve["days"][0] == 40.0 and curve["days"][-1] == 100.0
    cure = np.array(curve["cure_probability"])
    assert cure[-1] == pytest.approx(summary["cure_probability"], rel=1e-9)
    assert np.all(np.diff(cure) >= -1e-9)  # extinction is absorbing
    assert np.all(np.array(curve["no_regrowth_probability"]) >= cure - 1e-12)


def test_objective_cure_and_target_cure_on_the_command_line():
    completed = _run("--objective", "cure", "--budget", "10d", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    check = report["check"]
    assert check["passed"]
    assert report["objective"]["name"] == "log10_expected_lineages"
    for key in ("cure_probability", "failure_probability", "expected_surviving_lineages",
                "time_to_regrowth"):
        assert key in check
    assert check["cure_probability"] == pytest.approx(
        math.exp(-10 ** report["objective"]["value"]), rel=1e-3)

    completed = _run("--target-cure", "0.95", "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["check"]["passed"]
    days = report["free_drugs"][IGF1R_INHIBITOR]["days"]
    assert math.exp(-_lineages(int(d) for d in days)) >= 0.95
    assert report["objective"]["value"] == pytest.approx(25.0 * len(days))  # mg/kg
    assert report["lower_bound"]["value"] <= report["objective"]["value"]


def test_unreachable_target_gives_the_best_reachable_value():
    completed = _run("--target-cure", "0.999")
    assert completed.returncode == 1
    line = completed.stderr.strip()
    assert line.startswith("error: P(cure) >= 0.999 cannot be reached")
    reachable = float(line.split("relaxed maximum is ")[1].split(";")[0])
    # every treatment day with the inhibitor, simulated independently, is no better
    assert math.exp(-_lineages(range(40))) <= reachable + 1e-6
    assert reachable < 0.999


@pytest.mark.parametrize(("options", "message"), [
    (["--target-cure", "1.5"], "must be a probability strictly between 0 and 1"),
    (["--target-cure", "0.9", "--objective", "cure"], "does not apply"),
    (["--target-cure", "0.9", "--min-final", "cure_probability=0.8"], "say the same"),
])
def test_target_cure_refuses_bad_combinations(options, message):
    completed = _run(*options)
    assert completed.returncode == 2
    assert message in completed.stderr


@pytest.mark.parametrize(("expected", "mean"), [(0.05, 460.0), (2.0, 3e6), (40.0, 5e7)])
def test_detectable_probability_matches_sampled_compound_poisson_sums(expected, mean):
    """A Poisson number of exponential clones of mean mean / expected, sampled directly."""
    from models.persister.outcome import detectable_probability

    rng = np.random.default_rng(5)
    clones = rng.poisson(expected, 200_000)
    totals = np.array([rng.exponential(mean / expected, k).sum() for k in clones])
    sampled = float(np.mean(totals >= 1e6))
    spread = 3 * math.sqrt(max(sampled * (1 - sampled), 1e-6) / clones.size)
    assert detectable_probability(expected, mean, 1e6) == pytest.approx(sampled, abs=spread)


def test_detectable_probability_follows_the_mean_with_many_lineages():
    from models.persister.outcome import detectable_probability

    assert detectable_probability(1e6, 4e9, 1e6) == 1.0  # the mean is far above the limit
    assert detectable_probability(1e6, 1e5, 1e6) < 1e-8  # far below
    assert detectable_probability(0.0, 1e5, 1e6) == 0.0


@pytest.mark.parametrize("expected", [0.3, 4.0, 60.0, 2e3, 1e5, 1e6])
@pytest.mark.parametrize("ratio", [0.05, 0.7, 1.0, 1.3, 4.0])
def test_detectable_probability_is_the_sum_over_the_poisson_mass(expected, ratio):
    """The definition summed term by term: sum_k Poisson(k) P(Gamma(k) < limit / clone mean)."""
    from scipy import special, stats

    from models.persister.outcome import detectable_probability

    mean = 1e9
    limit = ratio * mean
    clones = np.arange(1, int(expected + 40 * math.sqrt(expected) + 40))
    below = math.exp(-expected) + math.fsum(stats.poisson.pmf(clones, expected) * special
                                            .gammainc(clones, limit * expected / mean))
    assert detectable_probability(expected, mean, limit) == pytest.approx(1 - below, abs=1e-9)


@pytest.mark.parametrize("expected", [1e8, 1e10])
def test_detectable_probability_at_the_mean_with_many_clones_is_the_edgeworth_value(expected):
    """With the limit at the mean, the compound sum's first Edgeworth term is exact to
    O(expected^-3/2): P = 1/2 - skewness phi(0) / 6, skewness 6 / (2^1.5 sqrt(expected)). A sum
    over the Poisson mass lost 4e-8 to round-off at 1e8 clones."""
    from models.persister.outcome import detectable_probability

    skewness = 6.0 / (2.0 ** 1.5 * math.sqrt(expected))
    edgeworth = 0.5 - skewness / math.sqrt(2 * math.pi) / 6.0
    assert detectable_probability(expected, 5e9, 5e9) == pytest.approx(edgeworth, abs=1e-11)
