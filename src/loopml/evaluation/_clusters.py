"""What sets each cluster apart: its size, the features whose values in it differ most from
all rows (numbers by the standardised difference of means, categories by how much more often
a label occurs in it), its mean (the centroid, in the data's units) and a medoid row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TOP_FEATURES = 5


@dataclass(frozen=True)
class ClusterProfile:
    cluster: int  # -1: noise (rows no cluster took)
    rows: int
    share: float
    #: the features that set it apart, strongest first: (feature, what, strength)
    distinct: list[tuple[str, str, float]] = field(default_factory=list)
    centroid: dict[str, float] = field(default_factory=dict)  # numeric means
    medoid: int = -1  # position of the row closest to the cluster's centre (numbers scaled)


def cluster_profiles(
    frame: pd.DataFrame, roles: dict[str, str], labels: np.ndarray
) -> list[ClusterProfile]:
    """One :class:`ClusterProfile` per cluster of ``labels`` (the rows of ``frame``), largest
    first."""
    numeric = [c for c, r in roles.items() if r in ("numeric", "boolean") and c in frame]
    categorical = [c for c, r in roles.items() if r == "categorical" and c in frame]
    numbers = frame[numeric].apply(pd.to_numeric, errors="coerce").astype(float)
    mean, std = numbers.mean(), numbers.std().replace(0, np.nan)
    scaled = ((numbers - mean) / std).fillna(0.0).to_numpy()
    out = []
    clusters, sizes = np.unique(labels, return_counts=True)
    for cluster, size in sorted(zip(clusters, sizes, strict=True), key=lambda cs: -cs[1]):
        mine = labels == cluster
        distinct: list[tuple[str, str, float]] = []
        inside = numbers[mine].mean()
        for c in numeric:
            if not np.isnan(std[c]):
                effect = float((inside[c] - mean[c]) / std[c])
                distinct.append((c, f"mean {inside[c]:.4g} against {mean[c]:.4g}", effect))
        for c in categorical:
            distinct.append(_most_over(frame[c], mine, c))
        distinct.sort(key=lambda d: -abs(d[2]))
        centre = scaled[mine].mean(axis=0) if numeric else None
        medoid = (
            int(np.flatnonzero(mine)[((scaled[mine] - centre) ** 2).sum(axis=1).argmin()])
            if centre is not None
            else int(np.flatnonzero(mine)[0])
        )
        out.append(
            ClusterProfile(
                cluster=int(cluster),
                rows=int(size),
                share=float(size / len(labels)),
                distinct=distinct[:TOP_FEATURES],
                centroid={c: float(inside[c]) for c in numeric},
                medoid=medoid,
            )
        )
    return out


def _most_over(values: pd.Series, mine: np.ndarray, column: str) -> tuple[str, str, float]:
    """The label most over-represented in the cluster, with its lift (as a log ratio)."""
    overall = values.astype("string").value_counts(normalize=True)
    inside = values[mine].astype("string").value_counts(normalize=True)
    if inside.empty:
        return column, "no value", 0.0
    lift = (inside / overall.reindex(inside.index)).astype(float)
    label: Any = lift.idxmax()
    what = f"{label}: {inside[label]:.0%} of the cluster against {overall[label]:.0%} of all rows"
    return column, what, float(np.log(lift[label]))
