"""The AutoML benchmark's scorer and normaliser (benchmarks/_scoring.py) on hand-made numbers."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "_scoring.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_scoring", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sc = _load()


# --- labels ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "key"),
    [(1, "1"), (np.int64(1), "1"), (1.0, "1"), ("1", "1"), ("1.0", "1"), (">50K", ">50K")],
)
def test_label_key_matches_labels_across_types(value, key):
    assert sc.label_key(value) == key


def test_label_key_keeps_non_integral_numbers_distinct():
    assert sc.label_key(0.5) != sc.label_key(0)
    assert sc.label_key("yes") == "yes"


# --- probability matrix ----------------------------------------------------------------------


def test_unseen_class_gets_zero_then_clipped_and_rows_sum_to_one():
    # The model knows classes 5 and 6 only; the suite has 3, 5, 6.
    p = sc.probability_matrix([[0.25, 0.75], [1.0, 0.0]], [5, 6], ["3", "5", "6"])
    assert p.shape == (2, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # Class 3 was never seen: 0 before clipping, so 1e-15 after it (up to renormalisation).
    assert p[0, 0] == pytest.approx(1e-15 / (1 + 1e-15), rel=1e-9)
    np.testing.assert_allclose(p[0, 1:], [0.25, 0.75], rtol=1e-12)
    # A probability of exactly 0 for a seen class is clipped too.
    assert p[1, 2] == pytest.approx(1e-15 / (1 + 2e-15), rel=1e-9)


def test_columns_follow_the_suite_order_not_the_model_order():
    p = sc.probability_matrix([[0.9, 0.1]], ["b", "a"], ["a", "b"])
    np.testing.assert_allclose(p, [[0.1, 0.9]])


def test_rows_are_renormalised_and_nan_counts_as_zero():
    p = sc.probability_matrix([[2.0, 2.0], [np.nan, 0.5]], [0, 1], [0, 1])
    np.testing.assert_allclose(p[0], [0.5, 0.5])
    assert p[1, 1] == pytest.approx(1.0)


def test_probability_matrix_rejects_a_column_count_mismatch():
    with pytest.raises(ValueError, match="columns"):
        sc.probability_matrix([[0.5, 0.5]], [0, 1, 2], [0, 1, 2])


# --- classification --------------------------------------------------------------------------


def test_binary_scores_the_positive_class_by_roc_auc():
    y = ["no", "yes", "no", "yes"]
    proba = [[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]  # columns: no, yes
    m = sc.score("binary", y, proba, model_classes=["no", "yes"], positive_class="yes")
    # Positives score 0.4 and 0.8, negatives 0.1 and 0.35: every pair ordered right.
    assert m["roc_auc"] == pytest.approx(1.0)
    expected_ll = -np.mean(np.log([0.9, 0.4, 0.65, 0.8]))
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["accuracy"] == pytest.approx(0.75)  # row 2 predicts "no"


def test_binary_positive_class_is_not_assumed_to_be_the_second_column():
    y = [1, 0, 1, 0]
    proba = [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]]  # columns: 1, 0
    m = sc.score("binary", y, proba, model_classes=[1, 0], positive_class=1)
    # Scores for class 1: positives 0.8, 0.6; negatives 0.3, 0.1 -> perfect ordering.
    assert m["roc_auc"] == pytest.approx(1.0)


def test_binary_auc_with_a_tie():
    y = [0, 1, 0, 1]
    proba = [[0.5, 0.5], [0.5, 0.5], [0.8, 0.2], [0.2, 0.8]]
    m = sc.score("binary", y, proba, model_classes=[0, 1], positive_class=1)
    # Pairs (pos, neg): (0.5,0.5)=0.5, (0.5,0.2)=1, (0.8,0.5)=1, (0.8,0.2)=1 -> 3.5/4.
    assert m["roc_auc"] == pytest.approx(0.875)


def test_multiclass_log_loss_gives_unseen_classes_a_clipped_zero():
    # The model never saw class 9; one test row is class 9.
    y = [5, 6, 9]
    proba = [[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]]
    m = sc.score("multiclass", y, proba, model_classes=[5, 6], all_classes=["5", "6", "9"])
    denominator = 1.0 + 1e-15  # each row: the two seen classes plus the clipped zero
    expected = -np.mean(
        [np.log(0.7 / denominator), np.log(0.6 / denominator), np.log(1e-15 / denominator)]
    )
    assert m["log_loss"] == pytest.approx(expected, rel=1e-9)
    assert m["log_loss"] == pytest.approx((-math.log(0.7) - math.log(0.6) + 34.538776) / 3, 1e-6)
    assert m["accuracy"] == pytest.approx(2 / 3)
    # Balanced accuracy: recall 1 for 5 and 6, 0 for 9.
    assert m["balanced_accuracy"] == pytest.approx(2 / 3)


def test_multiclass_labels_from_different_environments_match():
    # Labels read as ints in one venv, as strings or floats in another.
    m = sc.score(
        "multiclass",
        [3, 4, 5],
        np.eye(3),
        model_classes=["3", 4.0, np.int64(5)],
        all_classes=["3", "4", "5"],
    )
    assert m["log_loss"] == pytest.approx(-math.log(1 / (1 + 2e-15)), abs=1e-12)
    assert m["accuracy"] == 1.0


def test_a_test_label_missing_from_the_declared_classes_still_counts():
    proba = [[1.0, 0.0], [1.0, 0.0]]
    m = sc.score("multiclass", ["a", "z"], proba, model_classes=["a", "b"], all_classes=["a", "b"])
    assert m["log_loss"] == pytest.approx(-0.5 * math.log(1e-15 / (1 + 2e-15)), rel=1e-9)


# --- regression ------------------------------------------------------------------------------


def test_regression_metrics():
    m = sc.score("regression", [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 4.0, 2.0])
    assert m["rmse"] == pytest.approx(math.sqrt(5 / 4))
    assert m["mae"] == pytest.approx(3 / 4)
    assert m["r2"] == pytest.approx(1 - 5 / 5)  # SS_tot = 5


def test_non_finite_regression_predictions_score_nan():
    m = sc.score("regression", [1.0, 2.0], [1.0, np.inf])
    assert math.isnan(m["rmse"])


# --- normalisation, ranks, goals -------------------------------------------------------------


def test_normalised_best_peer_is_one_baseline_zero():
    scores = {"hgb": 0.80, "a": 0.90, "b": 0.85, "c": 0.70}
    n = sc.normalised_scores(scores, "hgb", higher_is_better=True)
    assert n["hgb"] == 0.0
    assert n["a"] == pytest.approx(1.0)
    assert n["b"] == pytest.approx(0.5)
    assert n["c"] == pytest.approx(-1.0)  # -0.1 / 0.1, and the clip keeps it at -1


def test_normalised_clips_below_minus_one():
    n = sc.normalised_scores({"hgb": 0.8, "a": 0.82, "b": 0.5}, "hgb", higher_is_better=True)
    assert n["b"] == -1.0  # (0.5 - 0.8) / 0.02 = -15, clipped


def test_normalised_loss_metric_is_flipped():
    n = sc.normalised_scores({"hgb": 1.0, "a": 0.8, "b": 0.9}, "hgb", higher_is_better=False)
    assert n["a"] == pytest.approx(1.0)
    assert n["b"] == pytest.approx(0.5)


def test_normalised_baseline_best_uses_baseline_to_worst_scale():
    n = sc.normalised_scores({"hgb": 0.5, "a": 0.6, "b": 0.9}, "hgb", higher_is_better=False)
    assert n["a"] == pytest.approx(-0.25)
    assert n["b"] == pytest.approx(-1.0)
    assert all(-1 <= v <= 0 for v in n.values())


def test_normalised_failed_peer_gets_minus_one_and_no_say_in_the_scale():
    n = sc.normalised_scores({"hgb": 0.8, "a": 0.9, "b": None}, "hgb", higher_is_better=True)
    assert n == {"hgb": 0.0, "a": pytest.approx(1.0), "b": -1.0}


def test_normalised_all_tied_is_zero_and_no_baseline_is_none():
    n = sc.normalised_scores({"hgb": 0.8, "a": 0.8}, "hgb", higher_is_better=True)
    assert n == {"hgb": 0.0, "a": 0.0}
    assert sc.normalised_scores({"hgb": None, "a": 0.8}, "hgb", True) == {"hgb": None, "a": None}


def test_ranks_with_ties_and_failures():
    r = sc.ranks({"a": 0.9, "b": 0.8, "c": 0.9, "d": None}, higher_is_better=True)
    assert r == {"a": 1.5, "b": 3.0, "c": 1.5, "d": 4.0}
    r = sc.ranks({"a": 2.0, "b": 1.0, "c": float("nan")}, higher_is_better=False)
    assert r == {"a": 2.0, "b": 1.0, "c": 3.0}


def test_baseline_gap_tolerances():
    assert sc.baseline_gap_ok("roc_auc", 0.8951, 0.90) is True  # 0.0049 below
    assert sc.baseline_gap_ok("roc_auc", 0.894, 0.90) is False  # 0.006 below
    assert sc.baseline_gap_ok("rmse", 100.49, 100.0) is True  # 0.49% above
    assert sc.baseline_gap_ok("rmse", 100.6, 100.0) is False
    assert sc.baseline_gap_ok("log_loss", 0.5, 0.6) is True
    assert sc.baseline_gap_ok("log_loss", None, 0.6) is False
    assert sc.baseline_gap_ok("rmse", 1.0, None) is None


def test_fit_time_budget_plus_ten_percent():
    assert sc.fit_time_ok(65.9, 60) is True
    assert sc.fit_time_ok(66.1, 60) is False
    assert sc.fit_time_ok(None, 60) is False


def test_mean_skips_missing_values():
    assert sc.mean([1.0, None, 3.0, float("nan")]) == 2.0
    assert sc.mean([None]) is None
