"""Whether to balance the classes: one choice for the whole search, not a family's."""

from __future__ import annotations

from typing import Any

#: ``class_weight: auto`` balances the classes when the rarest one is below this share.
IMBALANCE_SHARE = 0.10

#: Metrics that score the probabilities or the plain error rate: reweighting the classes
#: moves the probabilities away from the true frequencies, which these metrics punish.
UNWEIGHTED_METRICS = frozenset({"log_loss", "accuracy"})


def resolve_class_weight(setting: str, y: Any, metric: str | None = None) -> str | None:
    """The class weighting to train with: ``"balanced"`` or None.

    Parameters
    ----------
    setting
        ``training.class_weight``: ``"balanced"``, ``"none"``, or ``"auto"`` (balanced when the
        rarest class is less than 10% of the rows, unless ``metric`` is one that balancing
        hurts: log loss or accuracy).
    y
        The classification target.
    metric
        The metric the search optimises.

    Raises
    ------
    ValueError
        When ``setting`` is none of the three.

    Examples
    --------
    >>> resolve_class_weight("auto", ["a"] * 95 + ["b"] * 5)
    'balanced'
    >>> resolve_class_weight("auto", ["a"] * 80 + ["b"] * 20) is None
    True
    >>> resolve_class_weight("auto", ["a"] * 95 + ["b"] * 5, metric="log_loss") is None
    True
    """
    import numpy as np
    import pandas as pd

    if setting == "balanced":
        return "balanced"
    if setting == "none":
        return None
    if setting != "auto":
        raise ValueError(f"class_weight must be 'auto', 'balanced' or 'none', got {setting!r}.")
    counts = pd.Series(np.asarray(y, dtype=object).ravel()).value_counts(dropna=True)
    if len(counts) < 2 or metric in UNWEIGHTED_METRICS:
        return None
    return "balanced" if counts.min() / counts.sum() < IMBALANCE_SHARE else None
