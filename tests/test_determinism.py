"""The same inputs and seed give the same schedule: twice in one process, and in separate
worker processes (spawned, as the search's workers are, each building its own solver)."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from models.persister import persister_problem
from optimiser.pipeline import optimise
from optimiser.search import SearchSettings

PROBLEM = {"budget_days": 4.0, "treatment_days": 14.0, "horizon": 40.0, "max_run": 3.0}


def _outcome(seed: int, robust: int | None = None, search: SearchSettings | None = None) -> tuple:
    """What a user gets: the doses, the objective and the bound (exact values, no rounding)."""
    problem = persister_problem(**PROBLEM)
    if robust is not None:
        problem = problem.robust(robust, seed=seed)
    result = optimise(problem, seed=seed, search=search)
    return (tuple(result.schedule.fractions(problem.model).ravel().tolist()), result.objective,
            result.lower_bound, result.provenance["seed"])


@pytest.mark.parametrize("robust", [None, 2])
def test_same_inputs_and_seed_give_the_same_schedule_in_one_process(robust):
    first = _outcome(seed=7, robust=robust)
    assert _outcome(seed=7, robust=robust) == first  # bit for bit


def test_worker_processes_reproduce_the_schedule_bit_for_bit():
    here = _outcome(seed=3, robust=2)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as workers:
        there = list(workers.map(_outcome, [3, 3], [2, 2]))
    assert there == [here, here]


def test_a_different_seed_draws_different_parameter_sets():
    problem = persister_problem(**PROBLEM)
    assert np.array_equal(problem.robust(2, seed=1).scenario_vectors,
                          problem.robust(2, seed=1).scenario_vectors)
    assert not np.array_equal(problem.robust(2, seed=1).scenario_vectors,
                              problem.robust(2, seed=2).scenario_vectors)


def test_a_seeded_study_repeats_its_trials_and_result(tmp_path):
    """One worker, the same sampler seed, fresh storage: the same trials and the same schedule
    (with several workers the order in which trials finish depends on timing)."""
    runs = []
    for k in range(2):
        settings = SearchSettings(trials=5, runs_dir=tmp_path / f"run{k}", seed=11)
        runs.append(_outcome(seed=11, search=settings))
    assert runs[0] == runs[1]
