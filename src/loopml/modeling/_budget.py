"""The search's wall-clock budget: what is spent, what is left, and what a fit will cost."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection

import numpy as np

from loopml.modeling._split import Folds

#: Margin on a refit estimate: the refit on all rows varies more than a fold fit does.
REFIT_MARGIN = 1.1


def refit_factor(n_rows: int, folds: Folds) -> float:
    """How much longer the refit on all ``n_rows`` takes than one fold's fit.

    A fold trains on part of the rows. On expanding time folds the training parts grow and the
    slowest fold, the one the fold-time estimates follow, trains on the largest part, so the
    refit is scaled from that part; on folds of equal size, from their average.

    Examples
    --------
    >>> import numpy as np
    >>> equal = [(np.arange(80), np.arange(80, 100))] * 5
    >>> refit_factor(100, equal)
    1.25
    >>> expanding = [(np.arange(n), np.arange(n, n + 20)) for n in (20, 40, 60, 80)]
    >>> refit_factor(100, expanding)
    1.25
    """
    sizes = [len(train) for train, _ in folds]
    if not sizes:
        return 1.0
    expanding = len(sizes) > 1 and all(a < b for a, b in itertools.pairwise(sizes))
    part = max(sizes) if expanding else float(np.mean(sizes))
    return n_rows / max(float(part), 1.0)


class Budget:
    """Seconds for the search and the final refit, measured on ``clock``.

    It learns what one wave of folds of each family costs from the waves it sees
    (:meth:`observe`), estimates a family not tried yet from the others through ``prior``
    (a family's fit cost relative to LightGBM's), and keeps back the time to refit the best
    model so far on all the rows.

    Parameters
    ----------
    seconds
        What the search may spend, the refit included.
    clock
        Returns the time in seconds (``time.monotonic`` outside tests).
    prior
        A family's cost prior; ``unscaled`` families (whose time grows with the encoded width
        rather than the rows) are not used to estimate the others.
    refit_factor
        See :func:`refit_factor`.
    start
        A ``clock`` reading the budget counts from (default: now).
    load
        Seconds a family's library takes to load before its first fold (importing PyTorch
        and pytabkit for the networks), added to the estimate of a family not tried yet.
    hold
        Seconds the refit reserve never goes below: time an ensemble's refit may need beyond
        the best single model's.
    """

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float],
        prior: Callable[[str], float],
        unscaled: Collection[str] = (),
        refit_factor: float = 1.0,
        start: float | None = None,
        load: Callable[[str], float] | None = None,
        hold: float = 0.0,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.prior = prior
        self.unscaled = frozenset(unscaled)
        self.refit_factor = refit_factor
        self.start = clock() if start is None else start
        self.load = load
        self.hold = hold
        self.fold_seconds: dict[str, float] = {}  # family -> seconds of one wave of folds

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    @property
    def left(self) -> float:
        return self.seconds - self.elapsed

    def observe(self, family: str, seconds: float) -> None:
        """Record that a wave of folds of ``family`` took ``seconds`` (a slow wave counts in
        full at once, a fast one only halfway)."""
        previous = self.fold_seconds.get(family, 0.0)
        self.fold_seconds[family] = max(previous * 0.5 + seconds * 0.5, seconds)

    def estimate(self, family: str) -> float:
        """Seconds one wave of folds of ``family`` should take (a wave of folds side by side
        takes about as long as one fold); a family not tried yet is scaled from the others,
        plus the time its library takes to load."""
        if family in self.fold_seconds:
            return self.fold_seconds[family]
        seen = {
            f: t for f, t in self.fold_seconds.items() if f not in self.unscaled
        } or self.fold_seconds
        prior = self.prior(family)
        scaled = max((t * prior / self.prior(f) for f, t in seen.items()), default=0.0)
        return scaled + (self.load(family) if self.load is not None else 0.0)

    def refit_reserve(self, best_family: str | None) -> float:
        """Seconds to keep for refitting the best model so far (``None``: none yet)."""
        if best_family is None:
            return 0.0
        refit = self.fold_seconds.get(best_family, 0.0) * self.refit_factor * REFIT_MARGIN
        return max(refit, self.hold)

    def affordable(self, family: str, best_family: str | None) -> bool:
        """Whether a wave of ``family`` fits, leaving time to refit the best model after it
        (which may then be this one)."""
        needed = self.estimate(family)
        reserve = max(self.refit_reserve(best_family), needed * self.refit_factor * REFIT_MARGIN)
        return self.left - reserve >= needed

    def has_room(self, best_family: str | None) -> bool:
        """Whether another trial may start: always before the first model, else while more
        than the refit reserve is left."""
        return best_family is None or self.left - self.refit_reserve(best_family) > 0
