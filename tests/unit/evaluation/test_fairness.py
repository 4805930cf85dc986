"""Group fairness on the holdout: by-group measures (Fairlearn's MetricFrame), their bootstrap
intervals, the disparities a gate checks, and the group the report names."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from loopml.config import Gate
from loopml.data import Problem
from loopml.errors import DataError
from loopml.evaluation import check_gate
from loopml.evaluation._fairness import FairnessReport, FairnessSettings, fairness_report
from loopml.evaluation._fairness_measures import AucMeasure, MeanMeasure

BINARY = Problem(
    task="binary",
    target="y",
    metric="roc_auc",
    gate=None,
    classes=("no", "yes"),
    positive_class="yes",
)


def _scored(n: int = 3_000, gap: float = 0.3, seed: int = 0) -> tuple:
    """Holdout-like rows: group ``b`` is selected far more often than ``a`` (``gap``)."""
    rng = np.random.default_rng(seed)
    sensitive = pd.DataFrame(
        {
            "sex": rng.choice(["a", "b"], n),
            "band": rng.choice(["young", "old", "rare"], n, p=[0.5, 0.49, 0.01]),
        }
    )
    y = np.where(rng.random(n) < 0.4, "yes", "no")
    score = np.clip(
        0.35 * (y == "yes") + rng.random(n) * 0.6 + gap * (sensitive["sex"] == "b"), 0, 1
    )
    pred = np.where(score > 0.5, "yes", "no")
    proba = np.column_stack([1 - score, score])
    return sensitive, y, pred, proba


def test_groups_are_compared_and_the_worst_grouping_is_named() -> None:
    sensitive, y, pred, proba = _scored()
    settings = FairnessSettings(("sex", "band"), min_group_size=100, n_bootstrap=100)
    report = fairness_report(sensitive, y, pred, proba, BINARY, settings)

    by_sex = {g.group: g for g in report.groups if g.grouping == "sex"}
    for group, stats in by_sex.items():
        mine = (sensitive["sex"] == group).to_numpy()
        assert stats.rows == mine.sum()
        assert stats.values["selection_rate"] == pytest.approx((pred[mine] == "yes").mean())
        truth = y[mine] == "yes"
        assert stats.values["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, proba[mine, 1]))
        assert stats.values["true_positive_rate"] == pytest.approx(
            (pred[mine][truth] == "yes").mean()
        )
        for measure, value in stats.values.items():
            assert stats.low[measure] <= value <= stats.high[measure]

    rare = [g for g in report.groups if g.grouping == "band" and g.group == "rare"]
    assert rare[0].rows < 100 and rare[0].values == {}  # listed, not compared
    assert {g.grouping for g in report.groups} == {"sex", "band", "sex × band"}

    values = report.values()
    worst = report.worst("selection_rate_ratio")
    assert worst is not None and worst.lowest.startswith("a") and worst.highest.startswith("b")
    assert values["selection_rate_ratio"] == min(
        d.ratio for d in report.disparities if d.measure == "selection_rate"
    )
    assert values["selection_rate_ratio"] < 0.7
    low, high = worst.ratio_interval
    assert low <= worst.ratio <= high
    assert any("lowest a" in line for line in report.lines())


def test_a_fairness_clause_fails_the_gate_and_a_fair_model_passes_it() -> None:
    gate = Gate.parse("roc_auc >= 0.6 and selection_rate_ratio >= 0.8")
    settings = FairnessSettings(("sex",), n_bootstrap=0)
    for gap, passes in ((0.3, False), (0.0, True)):
        sensitive, y, pred, proba = _scored(gap=gap)
        report = fairness_report(sensitive, y, pred, proba, BINARY, settings)
        values = {"roc_auc": skm.roc_auc_score(y == "yes", proba[:, 1]), **report.values()}
        result = check_gate(gate, values)
        assert result.passed is passes
        assert [ok for _, _, ok in result.clauses] == [True, passes]
        assert "selection_rate_ratio >= 0.8" in result.describe()


def test_the_report_survives_json() -> None:
    sensitive, y, pred, proba = _scored(n=600)
    report = fairness_report(
        sensitive, y, pred, proba, BINARY, FairnessSettings(("sex",), n_bootstrap=20)
    )
    again = FairnessReport.from_dict(report.to_dict())
    assert again.values() == pytest.approx(report.values())
    assert [g.group for g in again.groups] == [g.group for g in report.groups]


def test_regression_compares_errors() -> None:
    rng = np.random.default_rng(1)
    group = rng.choice(["north", "south"], 800)
    y = rng.normal(size=800)
    pred = y + rng.normal(scale=np.where(group == "south", 2.0, 0.5))
    problem = Problem(task="regression", target="y", metric="rmse", gate=None)
    settings = FairnessSettings(("region",), n_bootstrap=50)
    report = fairness_report(pd.DataFrame({"region": group}), y, pred, None, problem, settings)
    assert report.measures() == ["rmse", "mae"]
    rmse = report.worst("rmse_ratio")
    assert rmse is not None and (rmse.lowest, rmse.highest) == ("north", "south")
    south = group == "south"
    assert report.value("region", "south", "rmse") == pytest.approx(
        math.sqrt(np.mean((pred[south] - y[south]) ** 2))
    )


def test_weighted_auc_and_means_match_their_definitions() -> None:
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 5, 300) / 4  # ties
    positive = rng.random(300) < 0.3
    rows = np.arange(300)
    auc = AucMeasure(scores, positive)
    assert auc(positive, rows) == pytest.approx(skm.roc_auc_score(positive, scores))
    weights = rng.poisson(1.0, size=(3, 300)).astype(float)
    for w, got in zip(weights, auc.boot(weights, rows), strict=True):
        assert got == pytest.approx(skm.roc_auc_score(positive, scores, sample_weight=w))
    mean = MeanMeasure(scores, among=positive, root=True)
    assert mean(positive, rows) == pytest.approx(math.sqrt(scores[positive].mean()))


def test_a_sensitive_column_missing_from_the_rows_is_a_data_error() -> None:
    sensitive, y, pred, proba = _scored(n=100)
    with pytest.raises(DataError, match=r"sensitive column\(s\) 'race'.*problem.sensitive_columns"):
        fairness_report(sensitive, y, pred, proba, BINARY, FairnessSettings(("race",)))
