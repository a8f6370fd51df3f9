"""Local search over integer profiles of every free drug: moves over drug and day."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

# Moves simulated first in a pass ranked by the gradient (shift_search's ``slope``).
RANKED_MOVES = 5


def contiguous_blocks(allowed: np.ndarray, length: int) -> list[np.ndarray]:
    """Every on/off profile with one block of ``length`` allowed intervals."""
    blocks = []
    for start in range(len(allowed) - length + 1):
        if length and allowed[start:start + length].all():
            w = np.zeros(len(allowed))
            w[start:start + length] = 1.0
            blocks.append(w)
    return blocks


def _neighbours(best: np.ndarray, allowed: np.ndarray, levels: tuple[float, ...],
                max_shift: int, wider: bool) -> list[np.ndarray]:
    """Profiles (drugs x intervals) one move from ``best``: a dose moved by up to
    ``max_shift`` intervals or to another level, or a dose added where none is; ``wider``
    moves instead: a dose removed, or moved to another drug on the same interval."""
    drugs, n = best.shape
    candidates = []
    for d, i in zip(*np.nonzero(best), strict=True):
        if wider:
            w = best.copy()
            w[d, i] = 0.0
            candidates.append(w)
            for e in range(drugs):
                if e != d and allowed[e, i] and not best[e, i]:
                    w = best.copy()
                    w[d, i], w[e, i] = 0.0, best[d, i]
                    candidates.append(w)
            continue
        for j in range(max(0, i - max_shift), min(n, i + max_shift + 1)):
            if allowed[d, j] and not best[d, j]:
                w = best.copy()
                w[d, i], w[d, j] = 0.0, best[d, i]
                candidates.append(w)
        for level in levels:
            if level != best[d, i]:
                w = best.copy()
                w[d, i] = level
                candidates.append(w)
    if not wider:
        for d, j in zip(*np.nonzero(allowed & (best == 0)), strict=True):
            for level in levels:
                w = best.copy()
                w[d, j] = level
                candidates.append(w)
    return candidates


def shift_search(evaluate: Callable[[list[np.ndarray]], list], start: np.ndarray,
                 allowed: np.ndarray, feasible: Callable[[np.ndarray], bool],
                 levels: tuple[float, ...] = (1.0,), max_shift: int = 3,
                 max_passes: int = 50,
                 slope: Callable[[np.ndarray], np.ndarray] | None = None,
                 ranked: int = RANKED_MOVES) -> tuple[np.ndarray, float, int]:
    """Best-improvement search among feasible profiles (one per free drug, or one profile):
    ``_neighbours`` are the moves; adding lets a search that started short of the budget, e.g.
    from no drug, fill it. Only where none of those helps are the wider moves tried (removing
    a dose, where less is better, or giving it as another drug): they cost a pass's worth of
    simulations each time, which on the default problem is needed once, at the end. ``evaluate``
    scores a batch of profiles in the shape of ``start`` (one call per pass, so it can
    simulate them in one go): a value to minimise, or (violation, value) where a limit may be
    broken: a search that starts outside the limits first reduces the violation.

    With ``slope`` (the objective's gradient in each dose at a profile, e.g.
    ``CollocationSolver.objective_gradient``) a pass within the limits first simulates only the
    ``ranked`` moves the gradient predicts best and takes the best of them if it improves;
    only otherwise are all the moves simulated (``_chunks``), so the search still stops only
    where no move helps. On the default problem (model v1) this simulates 179 instead of
    about 720 schedules and ends on the same one.

    Returns the best profile, its value (inf if it still breaks a limit) and the number of
    evaluations."""
    shape = np.shape(start)
    allowed = np.atleast_2d(allowed)
    cache: dict[bytes, tuple[float, float]] = {}

    def values(profiles: list[np.ndarray]) -> list[tuple[float, float]]:
        keys = [np.round(w, 9).tobytes() for w in profiles]
        new = {key: w.reshape(shape) for key, w in zip(keys, profiles, strict=True)
               if key not in cache}
        cache.update(zip(new, map(ranked_value, evaluate(list(new.values()))), strict=True))
        return [cache[key] for key in keys]

    best = np.atleast_2d(start).copy()
    best_value = values([best])[0]
    passes, wider, gradient = 0, False, None
    while passes < max_passes:
        candidates = [w for w in _neighbours(best, allowed, levels, max_shift, wider)
                      if feasible(w.reshape(shape))]
        if slope is not None and best_value[0] <= 0 and gradient is None:
            gradient = np.reshape(slope(best.reshape(shape)), best.shape)
        found = None
        for chunk in _chunks(candidates, best, gradient if best_value[0] <= 0 else None,
                             ranked):
            scored = [(*value, k) for value, k in zip(
                values([candidates[k] for k in chunk]), chunk, strict=True)]
            if scored and _better(min(scored)[:2], best_value):
                found = min(scored)
                break
        if found is None:
            if wider:
                break
            wider = True  # no shift, level change or addition helps: try the wider moves
            continue
        *best_value, k = found
        best = candidates[k]
        passes, wider, gradient = passes + 1, False, None
    value = best_value[1] if best_value[0] <= 0 else np.inf
    return best.reshape(shape), value, len(cache)


def _chunks(candidates: list[np.ndarray], best: np.ndarray, gradient: np.ndarray | None,
            ranked: int) -> Iterator[list[int]]:
    """The candidates to simulate, in batches: all at once without a gradient; with one,
    the ``ranked`` moves it predicts best (first-order change), then all the others (the
    search takes the best of the first batch that holds an improvement)."""
    if gradient is None:
        yield list(range(len(candidates)))
        return
    predicted = np.array([np.sum(gradient * (w - best)) for w in candidates])
    order = [int(k) for k in np.argsort(predicted, kind="stable")]
    yield order[:ranked]
    yield order[ranked:]


def ranked_value(value) -> tuple[float, float]:
    """(violation, value) of an evaluation, for comparing: a plain value breaks nothing; +inf
    breaks something unknown."""
    if isinstance(value, tuple):
        violation, objective = value
        return (max(0.0, violation), objective) if violation > 0 else (0.0, objective)
    return (np.inf, np.inf) if value == np.inf else (0.0, value)


def _better(candidate: tuple[float, float], best) -> bool:
    """Less violation, or as little and a lower value by more than round-off."""
    candidate, best = tuple(candidate), tuple(best)
    if candidate[0] < best[0]:
        return True
    return candidate[0] == best[0] and candidate[1] < best[1] - 1e-12
