"""Anomaly detection with planted anomalies: the detectors find them with and without labels,
the threshold follows the contamination or the labels, and new rows are scored."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from loopml.modeling._anomaly import AUTO_Z, AnomalyModel, search_anomalies

ROLES = {"a": "numeric", "b": "numeric", "c": "numeric", "kind": "categorical"}


def _planted(
    rows: int = 1_000, share: float = 0.03, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Correlated normal rows, and a share of them moved off the correlation (each value
    alone stays ordinary: only their combination is odd)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "a": a,
            "b": a * 0.9 + rng.normal(scale=0.3, size=rows),
            "c": rng.normal(size=rows),
            "kind": rng.choice(["x", "y"], rows),
        }
    )
    odd = np.zeros(rows, dtype=bool)
    odd[rng.choice(rows, int(share * rows), replace=False)] = True
    frame.loc[odd, "b"] = -frame.loc[odd, "a"] * 0.9 + rng.normal(scale=0.3, size=odd.sum())
    frame.loc[odd, "c"] += rng.choice([-5.0, 5.0], odd.sum())
    return frame, odd


def test_without_labels_the_combined_score_finds_the_planted_rows() -> None:
    frame, odd = _planted()
    result = search_anomalies(frame, ROLES)
    assert result.detector == "combined" and result.threshold == AUTO_Z
    assert average_precision_score(odd, result.scores) > 0.9
    flagged = result.flags
    assert odd[flagged].mean() > 0.8 and flagged[odd].mean() > 0.8
    top = result.most_anomalous(int(odd.sum()))
    assert odd[top].mean() > 0.8
    assert "no labels" in result.reason


def test_with_labels_the_best_detector_is_chosen_on_held_out_rows() -> None:
    frame, odd = _planted(seed=1)
    labels = np.where(odd, "fraud", "ok")
    result = search_anomalies(frame, ROLES, labels=labels, positive="fraud")
    assert set(result.evaluation) == {
        "isolation_forest", "local_outlier_factor", "robust_distance", "combined",
    }  # fmt: skip
    best = result.evaluation[result.detector]
    assert best["pr_auc"] == max(e["pr_auc"] for e in result.evaluation.values())
    assert best["pr_auc"] > 0.8 and best["precision"] > 0.5
    assert result.threshold_rule == "the best F1 on held-out labelled rows"
    assert f"{best['pr_auc']:.3f}" in result.reason


def test_contamination_sets_the_share_flagged_and_new_rows_are_scored() -> None:
    frame, _ = _planted(seed=2)
    result = search_anomalies(frame, ROLES, contamination=0.05)
    assert result.flags.mean() == pytest.approx(0.05, abs=0.002)
    new, odd = _planted(rows=200, share=0.05, seed=3)
    model: AnomalyModel = result.model
    assert model.predict(new)[odd].mean() > 0.7
    assert model.predict(new)[~odd].mean() < 0.1


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"contamination": 0.9}, "contamination must be a share"),
        ({"labels": np.zeros(1_000), "positive": 1}, "no known anomaly"),
    ],
)
def test_mistakes_are_named(kwargs: dict, says: str) -> None:
    frame, _ = _planted()
    with pytest.raises(ValueError, match=says):
        search_anomalies(frame, ROLES, **kwargs)
    with pytest.raises(ValueError, match="at least 20 rows"):
        search_anomalies(frame.iloc[:5], ROLES)
