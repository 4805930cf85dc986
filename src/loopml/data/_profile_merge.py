"""Mergeable summaries for the partitioned profile: each is computed on one part alone and
merged with the others' without seeing their rows.

- :class:`Moments`: count, mean and the second and third central sums, merged exactly
  (Chan's and Pébay's pairwise formulas), for the mean, standard deviation and skew.
- :class:`DistinctSketch`: a K-minimum-values sketch of 64-bit hashes. Exact while a column
  has fewer than :data:`KMV_HASHES` distinct values; past that an estimate whose relative
  standard error is about ``1 / sqrt(KMV_HASHES - 2)`` (0.8%).
- Counters (category and text counts, missing-value patterns) add up; those cut to their
  most frequent entries per part (:func:`top_counts`) give lower bounds for the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

KMV_HASHES = 16_384
_SPACE = float(2**64)


@dataclass(frozen=True)
class Moments:
    """Count, mean, and the sums of squared and cubed deviations from the mean."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        if len(values) == 0:
            return cls()
        mean = float(values.mean())
        centred = values - mean
        squares = centred * centred
        return cls(len(values), mean, float(squares.sum()), float(np.dot(squares, centred)))

    def merge(self, other: Moments) -> Moments:
        if not other.n:
            return self
        if not self.n:
            return other
        na, nb = float(self.n), float(other.n)
        n = na + nb
        delta = other.mean - self.mean
        m2 = self.m2 + other.m2 + delta * delta * na * nb / n
        m3 = (
            self.m3
            + other.m3
            + delta**3 * na * nb * (na - nb) / (n * n)
            + 3.0 * delta * (na * other.m2 - nb * self.m2) / n
        )
        return Moments(self.n + other.n, self.mean + delta * nb / n, m2, m3)

    @property
    def std(self) -> float:
        """The sample standard deviation (n − 1), as the in-memory profile."""
        return float(np.sqrt(self.m2 / (self.n - 1))) if self.n > 1 else 0.0

    @property
    def skew(self) -> float:
        if self.n == 0 or self.m2 <= 0:
            return 0.0
        return float((self.m3 / self.n) / (self.m2 / self.n) ** 1.5)


@dataclass(frozen=True)
class DistinctSketch:
    """The :data:`KMV_HASHES` smallest distinct 64-bit hashes of a column's values."""

    hashes: np.ndarray  # sorted, unique, uint64

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> DistinctSketch:
        array = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
        if len(array) == 0:
            return cls(np.empty(0, dtype=np.uint64))
        if array.dtype == object:  # mixed or text values: hashed as their text
            array = np.asarray([str(v) for v in array], dtype=object)
        hashes = pd.util.hash_array(array, categorize=False)
        if len(hashes) > 4 * KMV_HASHES:  # the smallest distinct are among the smallest
            cut = np.partition(hashes, 4 * KMV_HASHES)[4 * KMV_HASHES]
            smallest = pd.unique(hashes[hashes <= cut])
            if len(smallest) >= KMV_HASHES:
                return cls(np.sort(smallest)[:KMV_HASHES])
        return cls(np.sort(pd.unique(hashes))[:KMV_HASHES])

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        both = np.union1d(self.hashes, other.hashes)
        return DistinctSketch(both[:KMV_HASHES])

    @property
    def exact(self) -> bool:
        return len(self.hashes) < KMV_HASHES

    def estimate(self) -> int:
        """Distinct values: exact while the sketch is not full, else the KMV estimate."""
        if self.exact:
            return len(self.hashes)
        kth = (float(self.hashes[-1]) + 1.0) / _SPACE
        return round((KMV_HASHES - 1) / kth)


def add_counts(total: dict[object, int], part: Mapping[object, int]) -> dict[object, int]:
    for key, count in part.items():
        total[key] = total.get(key, 0) + int(count)
    return total


def top_counts(values: pd.Series, limit: int | None = None) -> dict[object, int]:
    """Value counts of the present values (the ``limit`` most frequent when given)."""
    counts = values.value_counts(dropna=True)
    if limit is not None:
        counts = counts.iloc[:limit]
    return {key: int(c) for key, c in counts.items()}


def ranked(counts: Mapping[object, int]) -> list[tuple[object, int]]:
    """Entries by count, most frequent first (ties by their text, for a stable order)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))


def merge_all(items: Iterable[Moments]) -> Moments:
    out = Moments()
    for item in items:
        out = out.merge(item)
    return out
