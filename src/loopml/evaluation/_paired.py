"""Two models on the same rows: a paired test of the primary metric (champion against
challenger at retraining, and on shadow traffic in monitoring).

Both models predict the same labelled rows (the most recent labelled traffic). The paired
bootstrap resamples those rows ``n_resamples`` times with one seeded generator and scores both
models on every resample (:func:`loopml.evaluation.bootstrap_scores` draws the same resamples
for the same seed, all at once where the metric is a sum over rows); the per-resample
differences give a percentile interval and a two-sided p-value,
``min(1, 2 * (1 + #{resamples where the challenger is not better}) / (B + 1))`` on the side
of the observed difference. For accuracy the p-value comes from McNemar's test on the
discordant rows instead: the exact binomial test when fewer than ``MCNEMAR_EXACT_BELOW``
rows are discordant, else the chi-square test with continuity correction; the interval is
still the bootstrap's.

The challenger is *significantly better* when the difference favours it and the p-value is
below ``alpha``, i.e. the ``1 - alpha`` interval of the difference excludes zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from loopml.data import Problem
from loopml.evaluation._bootstrap import Resampling, bootstrap_scores
from loopml.metrics import greater_is_better, score

#: McNemar's test is exact (binomial) below this many discordant rows, chi-square above.
MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class Scored:
    """One model's predictions on the common rows (probabilities for classifiers)."""

    pred: np.ndarray
    proba: np.ndarray | None = None


@dataclass(frozen=True)
class PairedTest:
    """Champion and challenger on the same rows, and whether the difference is real."""

    metric: str
    champion: float
    challenger: float
    difference: float  # challenger minus champion, in the metric's units
    low: float  # the (1 - alpha) percentile bootstrap interval of ``difference``
    high: float
    p_value: float  # two-sided
    test: str  # "paired bootstrap", "mcnemar exact" or "mcnemar chi-square"
    alpha: float
    n_rows: int
    n_resamples: int

    @property
    def favours_challenger(self) -> bool:
        """The challenger's point estimate is better (higher, or lower for losses)."""
        sign = 1.0 if greater_is_better(self.metric) else -1.0
        return bool(sign * self.difference > 0)

    @property
    def significant(self) -> bool:
        """The challenger is better and the p-value is below alpha."""
        return self.favours_challenger and self.p_value < self.alpha

    def describe(self) -> str:
        """``"roc_auc 0.9100 vs 0.8200 (+0.0900, 95% CI +0.05 to +0.13, p=0.001, ...)"``."""
        return (
            f"{self.metric} {self.challenger:.4f} vs the champion's {self.champion:.4f} "
            f"({self.difference:+.4f}, {1 - self.alpha:.0%} CI {self.low:+.4f} to "
            f"{self.high:+.4f}, p={self.p_value:.4g}, {self.test}, {self.n_rows} rows)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def paired_test(
    problem: Problem,
    y: Any,
    champion: Scored,
    challenger: Scored,
    *,
    alpha: float = 0.05,
    resampling: Resampling = Resampling(),  # frozen: one shared default is safe
) -> PairedTest:
    """Compare two models' primary metric (``problem.metric``) on the same labelled rows.

    See the module docstring for the tests; ``resampling`` gives the number of bootstrap
    resamples and their seed.

    Examples
    --------
    >>> import numpy as np
    >>> from loopml.data import Problem
    >>> y = np.array([0.0, 1.0, 2.0, 3.0] * 25)
    >>> problem = Problem("regression", "y", "mae", None)
    >>> t = paired_test(problem, y, Scored(y + 1.0), Scored(y + 0.1))
    >>> round(t.difference, 4), t.p_value < 0.01, t.significant
    (-0.9, True, True)
    """
    y = np.asarray(y)
    metric = problem.metric
    args = (problem.task, y)
    extra = (problem.classes or None, problem.positive_class)
    values = [score(metric, *args, s.pred, s.proba, *extra) for s in (champion, challenger)]
    boots = [
        bootstrap_scores(metric, *args, s.pred, s.proba, *extra, resampling=resampling)
        for s in (champion, challenger)
    ]
    diffs = boots[1] - boots[0]
    diffs = diffs[~np.isnan(diffs)]
    difference = values[1] - values[0]
    if len(diffs):
        low, high = (float(v) for v in np.percentile(diffs, [50 * alpha, 100 - 50 * alpha]))
    else:
        low = high = float("nan")
    if metric == "accuracy":
        p_value, test = mcnemar(champion.pred == y, challenger.pred == y)
    else:
        p_value, test = bootstrap_p_value(diffs, difference), "paired bootstrap"
    return PairedTest(
        metric=metric,
        champion=float(values[0]),
        challenger=float(values[1]),
        difference=float(difference),
        low=low,
        high=high,
        p_value=p_value,
        test=test,
        alpha=alpha,
        n_rows=len(y),
        n_resamples=resampling.n_resamples,
    )


def bootstrap_p_value(diffs: np.ndarray, observed: float) -> float:
    """Two-sided p-value of a paired bootstrap: how often the resampled difference falls on
    the other side of zero than the observed one (1 when none differ).

    Examples
    --------
    >>> import numpy as np
    >>> bootstrap_p_value(np.array([0.1] * 99), 0.1)  # never on the other side: 2 / 100
    0.02
    >>> bootstrap_p_value(np.zeros(99), 0.0)
    1.0
    """
    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) == 0 or observed == 0 or not math.isfinite(observed):
        return 1.0
    other_side = int(np.sum(diffs <= 0)) if observed > 0 else int(np.sum(diffs >= 0))
    return min(1.0, 2.0 * (1 + other_side) / (len(diffs) + 1))


def mcnemar(champion_right: Any, challenger_right: Any) -> tuple[float, str]:
    """McNemar's two-sided p-value on paired right/wrong outcomes, and the test's name.

    Only the discordant rows count: ``b`` where only the champion is right, ``c`` where only
    the challenger is. Exact binomial (``b ~ Binomial(b + c, 1/2)``) below
    :data:`MCNEMAR_EXACT_BELOW` discordant rows, else chi-square with continuity correction.

    Examples
    --------
    >>> mcnemar([True] * 10, [False] + [True] * 9)  # b=1, c=0: exact, 2 * P(X <= 0) = 1
    (1.0, 'mcnemar exact')
    >>> mcnemar([False] * 10 + [True], [True] * 9 + [False] * 2)  # b=1, c=9
    (0.021484375, 'mcnemar exact')
    """
    first = np.asarray(champion_right, dtype=bool)
    second = np.asarray(challenger_right, dtype=bool)
    b = int(np.sum(first & ~second))
    c = int(np.sum(~first & second))
    n = b + c
    if n == 0:
        return 1.0, "mcnemar exact"
    if n < MCNEMAR_EXACT_BELOW:
        tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
        return min(1.0, 2.0 * tail), "mcnemar exact"
    statistic = (abs(b - c) - 1) ** 2 / n
    return math.erfc(math.sqrt(statistic / 2.0)), "mcnemar chi-square"  # chi2(1) survival
