"""Champion against challenger on the labelled traffic of an online comparison.

The service logs each prediction with its variant (``serving.challenger``): ``champion``,
``challenger`` (A/B: the challenger answered the request) or ``shadow`` (the challenger
predicted a request the champion answered; the same label counts for both). Over a span:

- **shadow**: both models predicted the same labelled requests, so the difference is tested
  on pairs (:func:`loopml.evaluation.paired_test`: McNemar for accuracy, else the paired
  bootstrap; the interval is the paired bootstrap's);
- **A/B**: each model answered its own requests, so the difference is tested on two
  independent samples: each is resampled on its own (seeded); the per-resample differences
  give the ``1 - alpha`` percentile interval and the standard error of the difference, and
  the two-sided p-value is the z-test's on that standard error (not counted from the
  resamples, so it is not floored at ``2 / (resamples + 1)``).

The challenger compared is the version behind the latest challenger row of the span, and
the champion the version that answered most of the champion rows logged since that
challenger's first row, so both saw the same period.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from loopml.data import Problem
from loopml.evaluation import Resampling, Scored, bootstrap_scores, paired_test
from loopml.metrics import greater_is_better, score
from loopml.monitoring._contract import VariantComparison
from loopml.monitoring._performance import (
    MIN_LABELLED_ROWS,
    RESAMPLES,
    Labelled,
    can_score,
    labelled_rows,
    performance_of,
)
from loopml.monitoring._windows import to_window
from loopml.serving import columns_of

if TYPE_CHECKING:
    from loopml.serving import LoggedRow, PredictionLog

#: The variants of the challenger's rows, and the champion's.
CHALLENGER_VARIANTS = ("shadow", "challenger")
CHAMPION_VARIANT = "champion"


def compare_variants(
    plog: PredictionLog,
    problem: Problem,
    columns: Sequence[str],
    *,
    since: float,
    until: float,
    alpha: float,
    seed: int = 0,
) -> VariantComparison | None:
    """The comparison of the span ``[since, until)``; None when no challenger row was logged.

    ``columns``: the model's feature names (the rows are read as a window's are).
    """
    challenger_rows = [r for v in CHALLENGER_VARIANTS for r in plog.read(since, until, variant=v)]
    if not challenger_rows:
        return None
    latest = max(challenger_rows, key=lambda r: (r.time, r.request_id))
    version, variant = latest.model_version, latest.variant
    challenger_rows = [
        r for r in challenger_rows if r.model_version == version and r.variant == variant
    ]
    start = min(r.time for r in challenger_rows)
    champion_rows = plog.read(start, until, variant=CHAMPION_VARIANT)
    counts = Counter(r.model_version for r in champion_rows if r.model_version != version)
    champion_version = counts.most_common(1)[0][0] if counts else "?"
    champion_rows = [r for r in champion_rows if r.model_version == champion_version]
    compare = _shadow if variant == "shadow" else _ab
    return compare(
        problem,
        columns,
        champion_rows,
        challenger_rows,
        versions=(champion_version, version),
        alpha=alpha,
        seed=seed,
    )


def _labelled(problem: Problem, columns: Sequence[str], rows: Sequence[LoggedRow]) -> Labelled:
    classes = list(problem.classes) if problem.is_classification else []
    window = to_window(columns_of(rows), 0.0, 0.0, columns, classes)
    return labelled_rows(problem, window.labels, window.predictions, window.probabilities)


def _shadow(
    problem: Problem,
    columns: Sequence[str],
    champion_rows: Sequence[LoggedRow],
    challenger_rows: Sequence[LoggedRow],
    *,
    versions: tuple[str, str],
    alpha: float,
    seed: int,
) -> VariantComparison:
    """Paired: the labelled requests both models predicted."""
    by_id = {r.request_id: r for r in champion_rows if r.has_label}
    pairs = [(by_id[r.label_id], r) for r in challenger_rows if r.label_id in by_id]
    first = _labelled(problem, columns, [c for c, _ in pairs])
    second = _labelled(problem, columns, [s for _, s in pairs])
    both = first.keep & second.keep  # rows either side cannot score are left out of both
    first = _subset(first, both[first.keep])
    second = _subset(second, both[second.keep])
    metric = problem.metric
    result = _skeleton(problem, "shadow", versions, first, second, alpha, seed)
    if not (can_score(problem, metric, first) and can_score(problem, metric, second)):
        return result
    test = paired_test(
        problem,
        first.truth,
        Scored(first.said, first.proba),
        Scored(second.said, second.proba),
        alpha=alpha,
        resampling=Resampling(RESAMPLES, seed=seed),
    )
    return _tested(result, test.difference, test.low, test.high, test.p_value, test.test)


def _subset(rows: Labelled, keep: np.ndarray) -> Labelled:
    return Labelled(
        rows.truth[keep],
        rows.said[keep],
        None if rows.proba is None else rows.proba[keep],
        keep,
    )


def _ab(
    problem: Problem,
    columns: Sequence[str],
    champion_rows: Sequence[LoggedRow],
    challenger_rows: Sequence[LoggedRow],
    *,
    versions: tuple[str, str],
    alpha: float,
    seed: int,
) -> VariantComparison:
    """Two samples: each model's own labelled requests."""
    first = _labelled(problem, columns, [r for r in champion_rows if r.has_label])
    second = _labelled(problem, columns, [r for r in challenger_rows if r.has_label])
    metric = problem.metric
    result = _skeleton(problem, "ab", versions, first, second, alpha, seed)
    if not (can_score(problem, metric, first) and can_score(problem, metric, second)):
        return result
    values, boots = [], []
    for i, rows in enumerate((first, second)):
        args = (metric, problem.task, rows.truth, rows.said, rows.proba)
        extra = (list(problem.classes) or None, problem.positive_class)
        values.append(score(*args, *extra))
        resampling = Resampling(RESAMPLES, seed=seed + i)  # independent samples
        boots.append(bootstrap_scores(*args, *extra, resampling=resampling))
    diffs = boots[1] - boots[0]
    diffs = diffs[~np.isnan(diffs)]
    difference = float(values[1] - values[0])
    if not len(diffs) or not np.isfinite(difference):
        return result
    low, high = (float(v) for v in np.percentile(diffs, [50 * alpha, 100 - 50 * alpha]))
    se = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
    p_value = math.erfc(abs(difference) / se / math.sqrt(2.0)) if se > 0 else float(difference == 0)
    return _tested(result, difference, low, high, p_value, "two-sample bootstrap z-test")


def _skeleton(
    problem: Problem,
    mode: str,
    versions: tuple[str, str],
    first: Labelled,
    second: Labelled,
    alpha: float,
    seed: int,
) -> VariantComparison:
    """Each variant's metric with its interval; the difference not tested yet (and the note
    saying why, when it cannot be)."""
    metric = problem.metric
    note = ""
    if not (can_score(problem, metric, first) and can_score(problem, metric, second)):
        what = "paired labelled requests" if mode == "shadow" else "labelled requests each"
        counts = (
            f"{first.rows}"
            if mode == "shadow"
            else f"{first.rows} champion, {second.rows} challenger"
        )
        note = (
            f"too few to compare: {counts} ({MIN_LABELLED_ROWS} {what} needed, and the "
            f"probabilities {metric} reads)"
        )
    return VariantComparison(
        mode=mode,
        metric=metric,
        champion_version=versions[0],
        challenger_version=versions[1],
        champion=performance_of(problem, first, metric, seed=seed),
        challenger=performance_of(problem, second, metric, seed=seed),
        difference=None,
        low=None,
        high=None,
        p_value=None,
        test="",
        alpha=alpha,
        greater_is_better=greater_is_better(metric),
        note=note,
    )


def _tested(
    result: VariantComparison,
    difference: float,
    low: float,
    high: float,
    p_value: float,
    test: str,
) -> VariantComparison:
    import dataclasses

    def finite(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return dataclasses.replace(
        result,
        difference=finite(difference),
        low=finite(low),
        high=finite(high),
        p_value=finite(p_value),
        test=test,
    )
