"""Retraining's policy, its traffic tables and its promotion rule, without training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import RetrainingConfig, parse_config
from loopml.loop import (
    ChampionHealth,
    PairedTest,
    drift_alarm,
    labelled_traffic,
    promotion,
    should_retrain,
    training_frame,
)
from loopml.serving import LoggedRow

DAY = 86_400.0
HEALTHY = ChampionHealth("3", "roc_auc", 0.90, 0.89, 500, 2 * DAY)


def test_force_and_no_champion_always_trigger() -> None:
    policy = RetrainingConfig(on_drift=False, on_metric_drop=None)
    assert should_retrain(policy, HEALTHY, force=True) == (True, "forced (--force)")
    assert should_retrain(policy, ChampionHealth(None, "roc_auc")) == (True, "there is no champion")
    assert should_retrain(policy, HEALTHY) == (False, "no trigger fired: no trigger is configured")


def test_drift_triggers_only_when_asked() -> None:
    fired, reason = should_retrain(RetrainingConfig(), HEALTHY, drift_alarm=True)
    assert (fired, reason) == (True, "the latest monitoring window alarmed (drift or decay)")
    assert not should_retrain(RetrainingConfig(on_drift=False), HEALTHY, drift_alarm=True)[0]
    quiet = should_retrain(RetrainingConfig(), HEALTHY, drift_alarm=False)
    assert quiet == (
        False,
        "no trigger fired: no drift alarm; roc_auc 0.8900 on the latest 500 labelled rows is "
        "0.0100 worse than 0.9000 on its holdout, less than 0.02",
    )


def test_a_metric_drop_triggers_in_the_metrics_direction() -> None:
    policy = RetrainingConfig(on_drift=False)
    fired, reason = should_retrain(policy, ChampionHealth("3", "roc_auc", 0.90, 0.87, 400))
    assert fired and reason.endswith(
        "is 0.0300 worse than 0.9000 on its holdout (retraining.on_metric_drop: 0.02)"
    )
    # rmse: larger is worse, and measured relative to the holdout's (its units are the target's)
    fired, reason = should_retrain(policy, ChampionHealth("3", "rmse", 10.0, 10.5, 400))
    assert fired and "is 5.0% worse than 10.0000 on its holdout" in reason
    assert not should_retrain(policy, ChampionHealth("3", "rmse", 10.0, 10.1, 400))[0]  # 1%
    assert not should_retrain(policy, ChampionHealth("3", "rmse", 10.0, 9.0, 400))[0]
    # the same 0.15 above the holdout: 1.5% of an RMSE of 10, 15% of an RMSE of 1
    assert not should_retrain(policy, ChampionHealth("3", "rmse", 10.0, 10.15, 400))[0]
    assert should_retrain(policy, ChampionHealth("3", "rmse", 1.0, 1.15, 400))[0]
    # too few labelled rows to score the champion: the trigger cannot fire
    unscored = should_retrain(policy, ChampionHealth("3", "roc_auc", 0.9, None, 12))
    assert unscored == (
        False,
        "no trigger fired: too few labelled rows to score the champion (12)",
    )


def test_the_schedule_triggers_on_the_champions_age() -> None:
    policy = RetrainingConfig(on_drift=False, on_metric_drop=None, schedule="7d")
    old = ChampionHealth("3", "roc_auc", age_seconds=8 * DAY)
    assert should_retrain(policy, old) == (
        True,
        "the champion is 8.0 days old (retraining.schedule: 7d)",
    )
    young = ChampionHealth("3", "roc_auc", age_seconds=6 * 3600.0)
    assert should_retrain(policy, young) == (
        False,
        "no trigger fired: the champion is 6.0 hours old, younger than 7d",
    )


def test_drift_alarm_reads_the_champions_gauge_from_the_status_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    assert drift_alarm(path, "3") is None  # no monitoring run yet
    gauges = [
        {"name": "loopml_monitoring_alarm", "labels": {"model_version": "2"}, "value": 1.0},
        {"name": "loopml_monitoring_alarm", "labels": {"model_version": "3"}, "value": 0.0},
        {"name": "loopml_features_drifted", "labels": {"model_version": "3"}, "value": 4.0},
    ]
    path.write_text(json.dumps({"written": 0, "gauges": gauges}), encoding="utf-8")
    assert drift_alarm(path, "3") is False
    assert drift_alarm(path, "2") is True  # an older version's alarm is not the champion's
    assert drift_alarm(path, "4") is None
    path.write_text("{half", encoding="utf-8")
    assert drift_alarm(path, "3") is None


CONFIG = """\
name: t
problem: {task: binary, target: label}
data: {source: {type: csv, path: d.csv}, time_column: at, group_column: shop}
"""


def _row(rid: str, at: float, label: object = None, **features: object) -> LoggedRow:
    return LoggedRow(
        rid, at, "1", dict(features), "no", None, 1.0, label, None if label is None else at
    )


def test_labelled_traffic_splits_at_the_holdout_window() -> None:
    config = parse_config(CONFIG)
    now = 100 * DAY
    logged = [
        _row("a", now - 20 * DAY, "yes", x=1.0, email="h1"),
        _row("b", now - 10 * DAY, None, x=2.0),  # no label yet: not used
        _row("c", now - 3 * DAY, "no", x="3.5", email="h2"),
    ]
    traffic = labelled_traffic(logged, config, now=now, masked=["email"])
    assert traffic.training.to_dict("records") == [
        {"x": 1.0, "at": "1970-03-22 00:00:00", "shop": "logged:a", "label": "yes"}
    ]
    assert traffic.holdout.to_dict("records") == [
        {"x": "3.5", "at": "1970-04-08 00:00:00", "shop": "logged:c", "label": "no"}
    ]
    sources = pd.DataFrame(
        {"id": [7], "x": [0.5], "email": ["a@b.c"], "at": ["2024-01-01"], "label": ["no"]}
    )
    frame = training_frame(sources, traffic.holdout, "label")
    assert frame["x"].tolist() == [0.5, 3.5]  # a numeric source column reads "3.5"
    assert frame["id"].isna().tolist() == [False, True]  # never logged: missing
    assert frame["email"].isna().tolist() == [False, True]
    assert list(frame.columns) == list(sources.columns)
    assert training_frame(sources, traffic.holdout.iloc[:0], "label") is sources


def _test(difference: float, p_value: float) -> PairedTest:
    low, high = difference - 0.05, difference + 0.05
    return PairedTest(
        "roc_auc",
        0.8,
        0.8 + difference,
        difference,
        low,
        high,
        p_value,
        "paired bootstrap",
        0.05,
        300,
        1000,
    )


@pytest.mark.parametrize(
    ("promote_if", "test", "gate", "expected"),
    [
        ("significant", _test(0.1, 0.001), True, True),
        ("significant", _test(0.01, 0.3), True, False),
        ("significant", _test(0.1, 0.001), False, False),
        ("better", _test(0.01, 0.3), True, True),
        ("better", _test(-0.01, 0.3), True, False),
        ("never", _test(0.1, 0.001), True, False),
    ],
)
def test_the_promotion_rule(promote_if: str, test: PairedTest, gate: bool, expected: bool) -> None:
    policy = RetrainingConfig(promote_if=promote_if)
    promoted, reason = promotion(policy, test, gate=(gate, "roc_auc >= 0.6"), champion="1")
    assert promoted is expected
    if not gate:
        assert reason == "the challenger does not pass the gate (roc_auc >= 0.6)"


def test_without_a_comparable_champion_only_a_missing_one_promotes() -> None:
    policy = RetrainingConfig()
    assert promotion(policy, None, gate=(True, "g"), champion=None)[0]
    promoted, reason = promotion(policy, None, gate=(True, "g"), champion="4")
    assert not promoted and "promote by hand" in reason
    assert np.isfinite(_test(0.1, 0.001).to_dict()["p_value"])
