"""Drift statistics (loopml.monitoring._drift): KS on the sketch, chi-square, BH, data quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loopml.data import Problem, infer_schema
from loopml.monitoring import (
    Reference,
    build_reference,
    data_quality,
    feature_drift,
    prediction_drift,
)
from loopml.monitoring._drift import (
    benjamini_hochberg,
    chi2_homogeneity,
    ks_p_value,
    ks_statistic,
    pooled_table,
)

REGRESSION = Problem(task="regression", target="y", metric="rmse", gate=None)


def make(n: int, rng: np.random.Generator, shift: float = 0.0, share: float = 0.0) -> pd.DataFrame:
    """Three numbers and two categories; ``shift`` moves x0, ``share`` moves c0's first label."""
    p = np.array([0.4, 0.3, 0.2, 0.1]) + np.array([share, -share, 0.0, 0.0])
    return pd.DataFrame(
        {
            "x0": rng.normal(0, 1, n) + shift,
            "x1": rng.exponential(2.0, n),
            "x2": rng.integers(0, 5, n).astype(float),  # ties
            "c0": rng.choice(["a", "b", "c", "d"], n, p=p),
            "c1": rng.choice(["u", "v"], n),
        }
    )


@pytest.fixture(scope="module")
def reference() -> Reference:
    data = make(20_000, np.random.default_rng(0)).assign(y=0.0)
    schema = infer_schema(data, "y")
    return Reference.from_dict(build_reference(data.drop(columns="y"), schema, REGRESSION))


def test_ks_on_the_sketch_matches_scipy_on_the_samples() -> None:
    rng = np.random.default_rng(3)
    ref, win = rng.normal(size=5000), rng.normal(0.05, 1, size=2000)
    q = np.quantile(ref, np.linspace(0, 1, 1001))
    d = ks_statistic(q, np.sort(win))
    want = stats.ks_2samp(ref, win, method="asymp")
    assert d == pytest.approx(want.statistic, abs=2e-3)
    assert ks_p_value(want.statistic, 5000, 2000) == pytest.approx(want.pvalue, rel=0.05)


def test_ks_p_values_hold_their_level_without_drift(reference: Reference) -> None:
    """Over 200 seeded windows of the reference's own distribution, the share of p-values
    below 0.05 stays within a binomial bound (mean 10 of 200; 20 or more has p < 0.002)."""
    p_values = []
    for seed in range(200):
        window = make(1000, np.random.default_rng(100 + seed))[["x0", "x1"]]
        p_values += [f.p_value for f in feature_drift(reference, window, alpha=0.05, min_effect=0)]
    p = np.array(p_values)
    assert len(p) == 400
    assert 0.01 <= np.mean(p < 0.05) <= 0.08
    assert 0.4 <= np.mean(p < 0.5) <= 0.6  # uniform-ish, not just conservative at the tail


def test_no_drift_gives_no_alarm(reference: Reference) -> None:
    found = feature_drift(reference, make(5000, np.random.default_rng(7)), alpha=0.05,
                          min_effect=0.005)  # fmt: skip
    assert [f.name for f in found] == ["x0", "x1", "x2", "c0", "c1"]
    assert not any(f.drifted for f in found)
    assert [f.test for f in found] == ["ks", "ks", "ks", "chi2", "chi2"]


def test_a_known_shift_is_detected_and_named(reference: Reference) -> None:
    rng = np.random.default_rng(8)
    found = feature_drift(reference, make(10_000, rng, shift=0.15), alpha=0.05, min_effect=0.005)
    assert [f.name for f in found if f.drifted] == ["x0"]
    found = feature_drift(reference, make(10_000, rng, share=0.05), alpha=0.05, min_effect=0.005)
    assert [f.name for f in found if f.drifted] == ["c0"]
    c0 = found[3]
    assert c0.adjusted_p_value < 0.05 and c0.effect >= 0.005 and c0.effect_measure == "psi"


def test_a_trivial_shift_in_a_huge_window_is_significant_but_not_drift(
    reference: Reference,
) -> None:
    found = feature_drift(reference, make(200_000, np.random.default_rng(9), shift=0.03),
                          alpha=0.05, min_effect=0.01)  # fmt: skip
    x0 = found[0]
    assert x0.adjusted_p_value < 0.05 and x0.effect < 0.01 and not x0.drifted


def test_other_effect_measures(reference: Reference) -> None:
    window = make(10_000, np.random.default_rng(10), shift=0.5, share=0.1)
    found = feature_drift(
        reference,
        window,
        alpha=0.05,
        min_effect=0.01,
        numeric_effect="wasserstein",
        categorical_effect="jensen_shannon",
    )
    x0, c0 = found[0], found[3]
    assert x0.effect_measure == "wasserstein" and x0.effect == pytest.approx(0.5, abs=0.05)
    assert c0.effect_measure == "jensen_shannon" and 0.0 < c0.effect < 1.0


def test_logged_json_values_are_read_as_the_pipeline_reads_them(reference: Reference) -> None:
    window = make(3000, np.random.default_rng(11)).astype(object)
    window.loc[:99, "x0"] = "1,5"  # unreadable as a number: invalid, not tested
    window.loc[window["c0"] == "a", "c0"] = " A "  # normalised to "a"
    found = {f.name: f for f in feature_drift(reference, window, alpha=0.05, min_effect=0.005)}
    assert found["x0"].rows == 2900
    assert found["c0"].rows == 3000 and not found["c0"].drifted


def test_benjamini_hochberg_by_hand() -> None:
    # sorted p: 0.005, 0.01, 0.03, 0.04, 0.2 (n = 5); p * n / rank: 0.025, 0.025, 0.05, 0.05,
    # 0.2; the running minimum from the top leaves them as they are.
    adjusted = benjamini_hochberg([0.04, 0.01, 0.2, 0.005, 0.03])
    assert adjusted.round(6).tolist() == [0.05, 0.025, 0.2, 0.025, 0.05]
    # a larger p with a smaller p * n / rank pulls the ones below it down
    assert benjamini_hochberg([0.02, 0.021, 0.5]).round(4).tolist() == [0.0315, 0.0315, 0.5]
    assert benjamini_hochberg([0.9, 0.99]).tolist() == [0.99, 0.99]
    assert benjamini_hochberg([]).tolist() == []


def test_chi_square_pools_unseen_and_rare_labels() -> None:
    # reference: a, b, c and a rare d; window: a, b, c and two labels the reference never saw
    table = pooled_table(np.array([500, 300, 198, 2]), np.array([240, 150, 100, 0]))
    assert table.shape == (2, 3)  # d (expected under 5 in the window) joins the smallest cell
    stat, p = chi2_homogeneity(table)
    want = stats.chi2_contingency(table, correction=False)
    assert (stat, p) == pytest.approx((want.statistic, want.pvalue))


def test_unseen_labels_drift(reference: Reference) -> None:
    window = make(5000, np.random.default_rng(12))
    window.loc[:499, "c0"] = "new"
    found = {f.name: f for f in feature_drift(reference, window, alpha=0.05, min_effect=0.005)}
    assert found["c0"].drifted and found["c0"].p_value < 1e-10
    window.loc[:2, "c0"] = ["z1", "z2", "z3"]  # a handful of unseen labels: pooled, no alarm
    window.loc[3:499, "c0"] = make(497, np.random.default_rng(13))["c0"].to_numpy()
    found = {f.name: f for f in feature_drift(reference, window, alpha=0.05, min_effect=0.005)}
    assert not found["c0"].drifted and np.isfinite(found["c0"].statistic)


def test_data_quality_rates_on_a_hand_made_window(reference: Reference) -> None:
    window = pd.DataFrame(
        {
            "x0": [0.1, None, "oops", 99.0, -0.2] * 40,  # missing, invalid, out of range: 20% each
            "x1": [1.0] * 200,
            "c0": ["a", "b", "new", None, "c"] * 40,  # unseen 20%, missing 20%
        },
        dtype=object,
    )
    found = {q.name: q for q in data_quality(reference, window, alpha=0.01)}
    assert list(found) == ["x0", "x1", "c0"]
    x0 = found["x0"]
    assert (x0.missing_rate, x0.invalid_rate, x0.out_of_range_rate) == (0.2, 0.2, 0.2)
    assert x0.reference_missing_rate == 0.0 and x0.drifted
    c0 = found["c0"]
    assert (c0.missing_rate, c0.unseen_rate, c0.drifted) == (0.2, 0.2, True)
    assert not found["x1"].drifted and found["x1"].missing_rate == 0.0


def test_prediction_drift_of_a_regressor() -> None:
    rng = np.random.default_rng(14)
    data = make(5000, rng).assign(y=0.0)
    schema = infer_schema(data, "y")
    d = build_reference(data.drop(columns="y"), schema, REGRESSION,
                        holdout_y=pd.Series(rng.normal(size=5000)),
                        holdout_predictions=rng.normal(size=5000))  # fmt: skip
    ref = Reference.from_dict(d)
    same = prediction_drift(ref, pd.Series(rng.normal(size=3000)), alpha=0.05, min_effect=0.005)
    moved = prediction_drift(ref, pd.Series(rng.normal(0.5, 1, 3000)), alpha=0.05,
                             min_effect=0.005)  # fmt: skip
    assert same is not None and moved is not None
    assert (same.name, same.test, same.drifted, moved.drifted) == ("prediction", "ks", False, True)


def test_prediction_drift_of_a_binary_classifier_reads_its_probability() -> None:
    rng = np.random.default_rng(15)
    data = make(2000, rng).assign(y="no")
    schema = infer_schema(data, "y")
    problem = Problem(task="binary", target="y", metric="accuracy", gate=None,
                      classes=("no", "yes"), positive_class="yes")  # fmt: skip
    p = rng.beta(2, 5, 2000)
    d = build_reference(data.drop(columns="y"), schema, problem,
                        holdout_y=pd.Series(np.where(rng.uniform(size=2000) < p, "yes", "no")),
                        holdout_predictions=np.where(p >= 0.5, "yes", "no"),
                        holdout_probabilities=pd.DataFrame({"no": 1 - p, "yes": p}))  # fmt: skip
    ref = Reference.from_dict(d)
    q = rng.beta(5, 2, 1000)
    window = pd.DataFrame({"no": 1 - q, "yes": q})
    labels = pd.Series(np.where(q >= 0.5, "yes", "no"))
    by_proba = prediction_drift(ref, labels, window, alpha=0.05, min_effect=0.005)
    by_label = prediction_drift(ref, labels, None, alpha=0.05, min_effect=0.005)
    assert by_proba is not None and (by_proba.test, by_proba.drifted) == ("ks", True)
    assert by_label is not None and (by_label.test, by_label.drifted) == ("chi2", True)
