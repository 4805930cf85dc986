"""Calibration, Brier score, lift and gains (loopml.evaluation._probability)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.metrics import brier_score_loss

from loopml.evaluation import LiftRow, calibration, lift_table
from loopml.evaluation._probability import calibration_curve

CLOSE = {"rel": 1e-12, "abs": 1e-15}


def test_the_curve_equals_scikit_learns_with_counts_and_brier() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(300)
    truth = rng.random(300) < p**1.5  # over-confident probabilities

    curve = calibration_curve(truth, p, "yes", n_bins=10)

    observed, predicted = sk_calibration_curve(truth, p, n_bins=10)
    assert curve.fraction_positive == pytest.approx(tuple(observed), **CLOSE)
    assert curve.mean_predicted == pytest.approx(tuple(predicted), **CLOSE)
    edges = np.searchsorted(np.linspace(0, 1, 11)[1:-1], p)
    assert curve.counts == tuple(int(c) for c in np.bincount(edges, minlength=10) if c)
    assert curve.brier == pytest.approx(brier_score_loss(truth, p), **CLOSE)
    ece = (
        sum(
            n * abs(o - m)
            for n, o, m in zip(
                curve.counts, curve.fraction_positive, curve.mean_predicted, strict=True
            )
        )
        / 300
    )
    assert curve.ece == pytest.approx(ece, **CLOSE)
    assert curve.p_value < 0.01  # the deviation is not chance


def test_a_hand_made_curve() -> None:
    truth = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.8, 0.9])

    curve = calibration_curve(truth, p, "yes", n_bins=2)

    assert curve.mean_predicted == pytest.approx((0.15, (0.6 + 0.8 + 0.9) / 3), **CLOSE)
    assert curve.fraction_positive == (0.0, 1.0)
    assert curve.counts == (2, 3)
    # |0 − 0.15| on 2 rows, |1 − 0.7667| on 3 rows
    assert curve.ece == pytest.approx((2 * 0.15 + 3 * (1 - 2.3 / 3)) / 5, **CLOSE)
    assert curve.brier == pytest.approx((0.01 + 0.04 + 0.16 + 0.04 + 0.01) / 5, **CLOSE)
    # Hosmer–Lemeshow: (observed − expected)² / Σ p(1 − p) per bin, 2 degrees of freedom
    statistic = (0 - 0.3) ** 2 / (0.09 + 0.16) + (3 - 2.3) ** 2 / (0.24 + 0.16 + 0.09)
    assert curve.p_value == pytest.approx(math.exp(-statistic / 2), **CLOSE)  # chi² with 2 dof


def test_well_calibrated_probabilities_are_rarely_flagged_by_the_test() -> None:
    p_values = []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        p = rng.random(400)
        p_values.append(calibration_curve(rng.random(400) < p, p, "yes").p_value)

    # a test at the 1% level: about one calibrated model in a hundred is flagged by chance
    assert np.mean(np.array(p_values) < 0.01) <= 0.03
    assert 0.4 < np.median(p_values) < 0.7


def test_binary_calibration_judges_the_positive_class() -> None:
    y = np.array(["no", "yes", "yes", "no", "yes"])
    p_yes = np.array([0.2, 0.7, 0.9, 0.4, 0.6])
    proba = np.column_stack([1 - p_yes, p_yes])

    cal = calibration(y, proba, ["no", "yes"], "yes", n_bins=5)

    assert [c.label for c in cal.curves] == ["yes"]
    assert cal.brier == pytest.approx(brier_score_loss(y, p_yes, pos_label="yes"), **CLOSE)
    # the reference: always predicting the holdout's rate of "yes", 3/5
    assert cal.reference_brier == pytest.approx(np.mean(((y == "yes") - 0.6) ** 2), **CLOSE)
    assert cal.n_bins == 5


def test_multiclass_calibration_has_one_curve_per_class_and_the_multiclass_brier() -> None:
    rng = np.random.default_rng(1)
    classes = ["apple", "banana", "cherry"]
    y = rng.choice(classes, 120)
    proba = rng.dirichlet([2, 2, 2], 120)

    cal = calibration(y, proba, classes)

    assert [c.label for c in cal.curves] == classes
    assert cal.brier == pytest.approx(
        brier_score_loss(y, proba, labels=classes, scale_by_half=False), **CLOSE
    )
    for j, curve in enumerate(cal.curves):
        assert curve.brier == pytest.approx(brier_score_loss(y == classes[j], proba[:, j]), **CLOSE)
    assert cal.to_dict()["curves"][0]["label"] == "apple"


# ---------------------------------------------------------------------------- lift


def test_lift_on_a_hand_made_table() -> None:
    # ten rows, four positives; scores rank them in groups of two
    truth = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.65, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])

    lift = lift_table(truth, scores, "yes", n_groups=5)

    assert lift.base_rate == 0.4
    assert [(r.rows, r.positives) for r in lift.rows] == [(2, 2), (2, 1), (2, 1), (2, 0), (2, 0)]
    first, second = lift.rows[0], lift.rows[1]
    assert first == LiftRow(
        group=1,
        rows=2,
        positives=2,
        rate=1.0,
        lift=2.5,
        cumulative_rows=2,
        cumulative_positives=2,
        gain=0.5,
        cumulative_lift=2.5,
        min_score=0.8,
        max_score=0.9,
    )
    assert (second.lift, second.gain, second.cumulative_lift) == (1.25, 0.75, 1.875)
    assert [r.gain for r in lift.rows] == [0.5, 0.75, 1.0, 1.0, 1.0]
    assert lift.rows[-1].cumulative_lift == 1.0
    assert lift.gains_curve() == ([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], [0.0, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_lift_breaks_ties_by_row_order() -> None:
    truth = np.array([0, 1, 0, 1])
    scores = np.full(4, 0.5)

    lift = lift_table(truth, scores, "yes", n_groups=2)

    assert [r.positives for r in lift.rows] == [1, 1]  # rows 0, 1 then 2, 3


def test_lift_with_fewer_rows_than_groups_has_one_group_per_row() -> None:
    lift = lift_table(np.array([1, 0, 1]), np.array([0.2, 0.1, 0.9]), "yes")

    assert [r.positives for r in lift.rows] == [1, 1, 0]
    assert lift.to_dict()["rows"][0]["group"] == 1


def test_lift_without_positives_has_no_gain() -> None:
    lift = lift_table(np.array([0, 0]), np.array([0.3, 0.1]), "yes", n_groups=2)

    assert lift.base_rate == 0.0
    assert all(math.isnan(r.gain) and math.isnan(r.lift) for r in lift.rows)
