"""Retraining reads each logged request once: the shadow predictions of an online comparison
repeat requests the champion's rows already hold (loopml.loop._traffic.read_traffic)."""

from __future__ import annotations

from pathlib import Path

from loopml.config import parse_config
from loopml.loop import read_traffic
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

CONFIG = """
name: churn
problem: {target: y}
data: {source: {type: csv, path: d.csv}}
serving: {prediction_log: {url: "sqlite:///log.db"}}
"""


def test_shadow_rows_are_not_read_twice_for_training(tmp_path: Path) -> None:
    with PredictionLog("sqlite:///log.db", base_dir=tmp_path, mode="sync") as plog:
        plog.record(
            [
                LoggedPrediction("r1", 10.0, "1", {"x": 1.0}, "yes", None, 1.0),
                LoggedPrediction("r1#shadow", 10.0, "2", {"x": 1.0}, "no", None, 1.0, "shadow"),
                LoggedPrediction("r2", 11.0, "2", {"x": 2.0}, "no", None, 1.0, "challenger"),
            ]
        )
        plog.feedback([Feedback("r1", "yes", 20.0), Feedback("r2", "no", 20.0)])
    rows = read_traffic(parse_config(CONFIG), tmp_path, 0.0, 100.0)
    assert [(r.request_id, r.variant, r.label) for r in rows] == [
        ("r1", "champion", "yes"),
        ("r2", "challenger", "no"),
    ]
