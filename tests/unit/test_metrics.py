"""loopml.metrics: every metric against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS
from loopml.metrics import (
    PROBA_EPS,
    all_metrics,
    clip_proba,
    default_metric,
    greater_is_better,
    score,
)

EXACT = {"rel": 1e-12, "abs": 1e-15}

# A small binary problem with string labels. 3 "yes", 4 "no"; the errors are not symmetric,
# so the positive class changes precision, recall and pr_auc.
Y_BIN = np.array(["no", "yes", "yes", "no", "yes", "no", "no"])
PRED_BIN = np.array(["no", "yes", "no", "no", "yes", "yes", "yes"])
P_YES = np.array([0.1, 0.8, 0.35, 0.3, 0.9, 0.6, 0.4])
PROBA_BIN = np.column_stack([1 - P_YES, P_YES])  # columns follow CLASSES_BIN
CLASSES_BIN = ["no", "yes"]


# --------------------------------------------------------------------------------------------
# names


@pytest.mark.parametrize(
    ("metric", "expected"),
    [("roc_auc", True), ("accuracy", True), ("r2", True), ("log_loss", False), ("rmse", False)],
)
def test_greater_is_better(metric: str, expected: bool) -> None:
    assert greater_is_better(metric) is expected


@pytest.mark.parametrize(
    ("task", "metric"), [("binary", "roc_auc"), ("multiclass", "log_loss"), ("regression", "rmse")]
)
def test_default_metric(task: str, metric: str) -> None:
    assert default_metric(task) == metric  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# regression


def test_regression_metrics_by_hand() -> None:
    y = [1.0, 2.0, 3.0, 4.0]
    pred = [1.5, 2.0, 2.0, 5.0]
    # errors 0.5, 0, 1, 1: mae 2.5/4, mse 2.25/4, ss_res 2.25 vs ss_tot 5, mape (0.5+0+1/3+1/4)/4
    assert all_metrics("regression", y, pred) == pytest.approx(
        {"mae": 0.625, "rmse": 0.75, "r2": 0.55, "mape": (0.5 + 1 / 3 + 0.25) / 4}, **EXACT
    )


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 2, 50)
    pred = y + rng.normal(0, 1, 50)
    got = all_metrics("regression", y, pred)
    assert got == pytest.approx(
        {
            "mae": skm.mean_absolute_error(y, pred),
            "rmse": math.sqrt(skm.mean_squared_error(y, pred)),
            "r2": skm.r2_score(y, pred),
            "mape": skm.mean_absolute_percentage_error(y, pred),
        },
        **EXACT,
    )


def test_all_metrics_names_follow_the_task() -> None:
    assert list(all_metrics("regression", [1.0, 2.0], [1.0, 2.5])) == list(REGRESSION_METRICS)
    got = all_metrics("binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, "yes")
    assert list(got) == list(CLASSIFICATION_METRICS)


def test_classification_metric_on_regression_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^metric 'roc_auc' does not apply to regression$"):
        score("roc_auc", "regression", [1.0, 2.0], [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# binary, string labels


def test_binary_metrics_by_hand_with_positive_yes() -> None:
    got = all_metrics("binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, positive_class="yes")
    # yes: TP 2 (rows 1, 4), FP 2 (rows 5, 6), FN 1 (row 2); no: 2 of 4 right
    # ranking by P(yes): .9 y, .8 y, .6 n, .4 n, .35 y, .3 n, .1 n -> 10 of 12 pairs in order
    p_true = [0.9, 0.8, 0.35, 0.7, 0.9, 0.4, 0.6]
    assert got == pytest.approx(
        {
            "accuracy": 4 / 7,
            "balanced_accuracy": (2 / 3 + 2 / 4) / 2,
            "precision": 2 / 4,
            "recall": 2 / 3,
            "f1": 4 / 7,
            "roc_auc": 10 / 12,
            "pr_auc": (1 + 1 + 3 / 5) / 3,
            "log_loss": -float(np.mean(np.log(p_true))),
        },
        **EXACT,
    )


def test_binary_metrics_by_hand_with_positive_no() -> None:
    got = all_metrics("binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, positive_class="no")
    # no: TP 2 (rows 0, 3), FP 1 (row 2), FN 2 (rows 5, 6)
    # ranking by P(no): .9 n, .7 n, .65 y, .6 n, .4 n, .2 y, .1 y
    assert got["precision"] == pytest.approx(2 / 3, **EXACT)
    assert got["recall"] == pytest.approx(2 / 4, **EXACT)
    assert got["f1"] == pytest.approx(4 / 7, **EXACT)
    assert got["roc_auc"] == pytest.approx(10 / 12, **EXACT)
    assert got["pr_auc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 5) / 4, **EXACT)
    # the positive class does not change the symmetric metrics
    assert got["accuracy"] == pytest.approx(4 / 7, **EXACT)
    assert got["log_loss"] == pytest.approx(
        score("log_loss", "binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, "yes"), **EXACT
    )


@pytest.mark.parametrize("positive", ["yes", "no"])
def test_binary_metrics_match_sklearn(positive: str) -> None:
    p = PROBA_BIN[:, CLASSES_BIN.index(positive)]
    y_pos = np.equal(Y_BIN, positive).astype(int)
    expected = {
        "accuracy": skm.accuracy_score(Y_BIN, PRED_BIN),
        "balanced_accuracy": skm.balanced_accuracy_score(Y_BIN, PRED_BIN),
        "precision": skm.precision_score(Y_BIN, PRED_BIN, pos_label=positive),
        "recall": skm.recall_score(Y_BIN, PRED_BIN, pos_label=positive),
        "f1": skm.f1_score(Y_BIN, PRED_BIN, pos_label=positive),
        "roc_auc": skm.roc_auc_score(y_pos, p),
        "pr_auc": skm.average_precision_score(y_pos, p),
        "log_loss": skm.log_loss(Y_BIN, PROBA_BIN, labels=CLASSES_BIN),
    }
    got = all_metrics("binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, positive)
    assert got == pytest.approx(expected, **EXACT)


@pytest.mark.parametrize("metric", ["precision", "recall", "f1", "roc_auc", "pr_auc"])
def test_binary_probability_columns_follow_the_given_class_order(metric: str) -> None:
    as_given = score(metric, "binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, "yes")
    swapped = score(metric, "binary", Y_BIN, PRED_BIN, PROBA_BIN[:, ::-1], ["yes", "no"], "yes")
    assert swapped == pytest.approx(as_given, **EXACT)


@pytest.mark.filterwarnings("ignore:Labels passed were:UserWarning")
def test_log_loss_columns_follow_the_given_class_order() -> None:
    as_given = score("log_loss", "binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, "yes")
    swapped = score("log_loss", "binary", Y_BIN, PRED_BIN, PROBA_BIN[:, ::-1], ["yes", "no"], "yes")
    assert swapped == pytest.approx(as_given, **EXACT)


def test_binary_integer_labels() -> None:
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([0.2, 0.7, 0.4, 0.5, 0.9])
    proba = np.column_stack([1 - p1, p1])
    # positives .7 .4 .9 vs negatives .2 .5: 5 of 6 pairs in order
    assert score("roc_auc", "binary", y, y, proba, [0, 1], 1) == pytest.approx(5 / 6, **EXACT)
    assert score("roc_auc", "binary", y, y, proba, [0, 1], 0) == pytest.approx(5 / 6, **EXACT)


def test_ranking_metrics_on_one_class_are_nan_but_log_loss_is_defined() -> None:
    y = np.array(["yes", "yes", "yes"])
    proba = np.array([[0.2, 0.8], [0.5, 0.5], [0.1, 0.9]])
    assert math.isnan(score("roc_auc", "binary", y, y, proba, CLASSES_BIN, "yes"))
    assert math.isnan(score("pr_auc", "binary", y, y, proba, CLASSES_BIN, "yes"))
    assert score("log_loss", "binary", y, y, proba, CLASSES_BIN, "yes") == pytest.approx(
        -float(np.mean(np.log([0.8, 0.5, 0.9]))), **EXACT
    )


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "log_loss"])
def test_probability_metrics_need_probabilities(metric: str) -> None:
    with pytest.raises(ValueError, match=rf"^metric '{metric}' needs class probabilities$"):
        score(metric, "binary", Y_BIN, PRED_BIN, positive_class="yes")


def test_regression_metric_on_classification_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^metric 'rmse' does not apply to binary$"):
        score("rmse", "binary", Y_BIN, PRED_BIN, PROBA_BIN, CLASSES_BIN, "yes")


# --------------------------------------------------------------------------------------------
# multiclass


def test_multiclass_log_loss_with_a_class_absent_from_y_true() -> None:
    y = np.array(["a", "b", "a", "b"])
    classes = ["a", "b", "c"]
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.3, 0.7, 0.0], [0.1, 0.8, 0.1]])
    got = score("log_loss", "multiclass", y, y, proba, classes)
    assert got == pytest.approx(-float(np.mean(np.log([0.7, 0.3, 0.3, 0.8]))), **EXACT)
    assert got == pytest.approx(skm.log_loss(y, proba, labels=classes), **EXACT)


def test_multiclass_ranking_metrics_with_two_of_three_classes_present() -> None:
    y = np.array(["a", "b", "a", "b"])
    classes = ["a", "b", "c"]
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.3, 0.7, 0.0], [0.1, 0.8, 0.1]])
    # renormalised P(b | a or b): .2/.9, .3/.8, .7, .8/.9; b rows .375 and .889 vs a rows .222
    # and .7: 3 of 4 pairs in order
    assert score("roc_auc", "multiclass", y, y, proba, classes) == pytest.approx(0.75, **EXACT)


def test_multiclass_metrics_match_sklearn_with_an_absent_class() -> None:
    y = np.array(["a", "b", "c", "a", "b", "c", "a"])
    pred = np.array(["a", "b", "b", "a", "c", "c", "b"])
    classes = ["a", "b", "c", "d"]
    proba = np.array(
        [
            [0.6, 0.2, 0.1, 0.1],
            [0.1, 0.6, 0.2, 0.1],
            [0.2, 0.4, 0.3, 0.1],
            [0.5, 0.2, 0.2, 0.1],
            [0.2, 0.3, 0.4, 0.1],
            [0.1, 0.1, 0.7, 0.1],
            [0.3, 0.4, 0.2, 0.1],
        ]
    )
    present = proba[:, :3] / proba[:, :3].sum(axis=1, keepdims=True)
    onehot = np.stack([(y == c).astype(int) for c in "abc"], axis=1)
    expected = {
        "accuracy": 4 / 7,
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"),
        "f1": skm.f1_score(y, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y, present, multi_class="ovr", labels=["a", "b", "c"]),
        "pr_auc": skm.average_precision_score(onehot, present, average="macro"),
        "log_loss": -float(np.mean(np.log([0.6, 0.6, 0.3, 0.5, 0.3, 0.7, 0.3]))),
    }
    got = all_metrics("multiclass", y, pred, proba, classes)
    assert got == pytest.approx(expected, **EXACT)


def test_multiclass_roc_auc_columns_follow_the_given_class_order() -> None:
    y = np.array(["a", "b", "c", "a", "b", "c"])
    proba = np.array(
        [[0.6, 0.2, 0.2], [0.1, 0.6, 0.3], [0.2, 0.4, 0.4], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5],
         [0.1, 0.1, 0.8]]
    )  # fmt: skip
    as_given = score("roc_auc", "multiclass", y, y, proba, ["a", "b", "c"])
    permuted = score("roc_auc", "multiclass", y, y, proba[:, [2, 0, 1]], ["c", "a", "b"])
    assert permuted == pytest.approx(as_given, **EXACT)


def test_multiclass_ranking_metric_on_one_class_is_nan() -> None:
    y = np.array(["a", "a"])
    proba = np.array([[0.5, 0.3, 0.2], [0.6, 0.2, 0.2]])
    assert math.isnan(score("roc_auc", "multiclass", y, y, proba, ["a", "b", "c"]))


# --------------------------------------------------------------------------------------------
# clip_proba


def test_clip_proba_never_returns_zero_and_rows_sum_to_one() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 0.0], [0.25, 0.75], [0.0, 1.0]])
    out = clip_proba(proba)
    assert (out > 0).all()
    assert out.min() == pytest.approx(PROBA_EPS / (1 + PROBA_EPS), rel=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out[1], [0.5, 0.5])  # an all-zero row becomes uniform
    np.testing.assert_array_equal(out[2], [0.25, 0.75])  # rows without zeros are unchanged


def test_clip_proba_does_not_modify_its_input() -> None:
    proba = np.array([[1.0, 0.0]])
    clip_proba(proba)
    np.testing.assert_array_equal(proba, [[1.0, 0.0]])


def test_clip_proba_accepts_lists_of_ints() -> None:
    out = clip_proba([[1, 0, 0]])  # type: ignore[arg-type]
    assert out.dtype == np.float64
    assert (out > 0).all()


def test_log_loss_is_finite_when_the_true_class_got_probability_zero() -> None:
    y = np.array(["no", "yes"])
    proba = np.array([[1.0, 0.0], [1.0, 0.0]])  # row 2: P(yes) = 0 but the truth is yes
    got = score("log_loss", "binary", y, y, proba, CLASSES_BIN, "yes")
    assert got == pytest.approx(-math.log(PROBA_EPS / (1 + PROBA_EPS)) / 2, rel=1e-9)
