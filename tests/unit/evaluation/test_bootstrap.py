"""Bootstrap intervals (loopml.evaluation._bootstrap): the fast paths equal score() per resample."""

from __future__ import annotations

import math

import numpy as np
import pytest

from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS
from loopml.evaluation import Interval, Resampling, bootstrap_interval, bootstrap_scores
from loopml.evaluation._bootstrap import (
    has_fast_path,
    percentile_interval,
    resample_indices,
)
from loopml.metrics import score

CLOSE = {"rel": 1e-12, "abs": 1e-14}


def _reference(metric, task, y, pred, proba, classes, positive, resampling):  # type: ignore[no-untyped-def]
    """The definition: score() on each resample drawn in one go from default_rng(seed)."""
    n, seed = resampling.n_resamples, resampling.seed
    idx = np.random.default_rng(seed).integers(0, len(y), size=(n, len(y)))
    return np.array(
        [
            score(
                metric, task, y[i], pred[i], None if proba is None else proba[i], classes, positive
            )
            for i in idx
        ]
    )


def _binary(seed: int = 0, n: int = 40):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    y = rng.choice(["no", "yes"], n, p=[0.7, 0.3])
    p = np.round(rng.random(n), 1)  # rounded: many tied scores
    return y, np.where(p > 0.5, "yes", "no"), np.column_stack([1 - p, p])


def _multiclass(seed: int = 0, n: int = 40):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"]
    y = rng.choice(classes, n, p=[0.6, 0.3, 0.1])
    proba = rng.dirichlet([1, 1, 1], n)
    proba[:3] = [1.0, 0.0, 0.0]  # a hard 0 and 1: clipping matters
    return y, np.array(classes)[proba.argmax(axis=1)], proba, classes


# balanced_accuracy on a resample without some class: scikit-learn warns, the value is defined
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("positive", ["yes", "no"])
@pytest.mark.parametrize("metric", list(CLASSIFICATION_METRICS))
def test_binary_resamples_equal_score_on_each_resample(metric: str, positive: str) -> None:
    y, pred, proba = _binary()

    fast = bootstrap_scores(
        metric, "binary", y, pred, proba, ["no", "yes"], positive, resampling=Resampling(30, seed=5)
    )

    expected = _reference(
        metric, "binary", y, pred, proba, ["no", "yes"], positive, Resampling(30, seed=5)
    )
    assert has_fast_path(metric, "binary")
    assert fast == pytest.approx(expected, nan_ok=True, **CLOSE)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("metric", list(CLASSIFICATION_METRICS))
def test_multiclass_resamples_equal_score_on_each_resample(metric: str) -> None:
    y, pred, proba, classes = _multiclass()

    fast = bootstrap_scores(
        metric, "multiclass", y, pred, proba, classes, resampling=Resampling(30, seed=7)
    )

    expected = _reference(
        metric, "multiclass", y, pred, proba, classes, None, Resampling(30, seed=7)
    )
    assert fast == pytest.approx(expected, nan_ok=True, **CLOSE)
    # the macro ranking metrics renormalise over the classes drawn: scored one by one
    assert has_fast_path(metric, "multiclass") is (metric not in ("roc_auc", "pr_auc"))


@pytest.mark.parametrize("metric", list(REGRESSION_METRICS))
def test_regression_resamples_equal_score_on_each_resample(metric: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=40) * 3
    y[0] = 0.0  # mape divides by max(|y|, eps)
    pred = y + rng.normal(size=40)

    fast = bootstrap_scores(metric, "regression", y, pred, resampling=Resampling(30, seed=9))

    assert fast == pytest.approx(
        _reference(metric, "regression", y, pred, None, None, None, Resampling(30, seed=9)), **CLOSE
    )


def test_r2_on_a_resample_of_one_repeated_row_follows_scikit_learn() -> None:
    # one row: every resample is that row repeated, so the total sum of squares is 0
    fast = bootstrap_scores("r2", "regression", [2.0], [2.0], resampling=Resampling(3, seed=0))
    off = bootstrap_scores("r2", "regression", [2.0], [3.0], resampling=Resampling(3, seed=0))
    assert fast.tolist() == [1.0, 1.0, 1.0]
    assert off.tolist() == [0.0, 0.0, 0.0]


def test_the_interval_is_the_percentile_interval_of_the_resamples() -> None:
    y, pred, proba = _binary(seed=1, n=60)

    ci = bootstrap_interval(
        "roc_auc",
        "binary",
        y,
        pred,
        proba,
        ["no", "yes"],
        "yes",
        resampling=Resampling(1000, seed=42),
    )

    scores = _reference(
        "roc_auc", "binary", y, pred, proba, ["no", "yes"], "yes", Resampling(1000, seed=42)
    )
    low, high = np.percentile(scores, [2.5, 97.5])
    assert ci.value == score("roc_auc", "binary", y, pred, proba, ["no", "yes"], "yes")
    assert (ci.low, ci.high) == (pytest.approx(low, **CLOSE), pytest.approx(high, **CLOSE))
    assert ci.std == pytest.approx(np.std(scores, ddof=1), **CLOSE)
    assert (ci.n_resamples, ci.n_undefined, ci.level) == (1000, 0, 0.95)
    assert ci.low < ci.value < ci.high


def test_the_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    y, pred, proba = _binary(seed=2, n=50)
    args = ("log_loss", "binary", y, pred, proba, ["no", "yes"], "yes")

    first = bootstrap_interval(*args, resampling=Resampling(200, seed=1))
    again = bootstrap_interval(*args, resampling=Resampling(200, seed=1))
    other = bootstrap_interval(*args, resampling=Resampling(200, seed=2))

    assert first == again
    assert (other.low, other.high) != (first.low, first.high)


def test_resamples_drawn_in_chunks_are_those_drawn_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import loopml.evaluation._bootstrap as bootstrap

    monkeypatch.setattr(bootstrap, "_CHUNK_CELLS", 7 * 10)  # 7 resamples of 10 rows per chunk

    chunks = list(resample_indices(10, 25, seed=3))

    assert [len(c) for c in chunks] == [7, 7, 7, 4]
    expected = np.random.default_rng(3).integers(0, 10, size=(25, 10))
    assert np.array_equal(np.concatenate(chunks), expected)


def test_undefined_resamples_are_counted_and_left_out() -> None:
    scores = np.array([0.5, np.nan, 0.7, np.nan, 0.9])

    ci = percentile_interval("roc_auc", 0.7, scores, level=0.5)

    assert (ci.n_resamples, ci.n_undefined) == (5, 2)
    assert (ci.low, ci.high) == (0.6, 0.8)  # 25th and 75th percentiles of 0.5, 0.7, 0.9


def test_an_interval_undefined_everywhere_says_so() -> None:
    # one class only: ROC AUC is undefined on the holdout and on every resample
    y = np.array(["yes"] * 5)
    proba = np.column_stack([np.full(5, 0.2), np.full(5, 0.8)])

    ci = bootstrap_interval(
        "roc_auc", "binary", y, y, proba, ["no", "yes"], "yes", resampling=Resampling(10, seed=0)
    )

    assert math.isnan(ci.value) and math.isnan(ci.low) and math.isnan(ci.high)
    assert ci.n_undefined == 10
    assert ci.describe() == "nan (no interval: undefined on every resample)"
    assert ci.to_dict()["low"] is None


def test_describe_and_to_dict() -> None:
    ci = Interval("rmse", 1.5, 1.25, 1.75, 0.95, 100, 0, 0.1)

    assert ci.describe() == "1.5000 (95% CI 1.2500–1.7500)"
    assert ci.width == 0.5
    assert ci.to_dict() == {
        "metric": "rmse",
        "value": 1.5,
        "low": 1.25,
        "high": 1.75,
        "level": 0.95,
        "n_resamples": 100,
        "n_undefined": 0,
        "std": 0.1,
    }


def test_no_rows_give_no_scores() -> None:
    scores = bootstrap_scores("mae", "regression", [], [], resampling=Resampling(3, seed=0))
    assert len(scores) == 3 and np.isnan(scores).all()
