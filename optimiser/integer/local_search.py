"""Local search over integer profiles of every free drug: moves over drug and day."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


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
                 max_passes: int = 50) -> tuple[np.ndarray, float, int]:
    """Best-improvement search among feasible profiles (one per free drug, or one profile):
    ``_neighbours`` are the moves; adding lets a search that started short of the budget, e.g.
    from no drug, fill it. Only where none of those helps are the wider moves tried (removing
    a dose, where less is better, or giving it as another drug): they cost a pass's worth of
    simulations each time, which on the default problem is needed once, at the end. ``evaluate``
    scores a batch of profiles in the shape of ``start`` (one call per pass, so it can
    simulate them in one go): a value to minimise, or (violation, value) where a limit may be
    broken: a search that starts outside the limits first reduces the violation.

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
    passes, wider = 0, False
    while passes < max_passes:
        candidates = [w for w in _neighbours(best, allowed, levels, max_shift, wider)
                      if feasible(w.reshape(shape))]
        scored = [(*value, k) for k, value in enumerate(values(candidates))]
        if not scored or not _better(min(scored)[:2], best_value):
            if wider:
                break
            wider = True  # no shift, level change or addition helps: try the wider moves
            continue
        *best_value, k = min(scored)
        best = candidates[k]
        passes, wider = passes + 1, False
    value = best_value[1] if best_value[0] <= 0 else np.inf
    return best.reshape(shape), value, len(cache)


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
