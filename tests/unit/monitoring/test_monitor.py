"""``monitor()`` and ``monitor_log()``: windows of a real prediction log (SQLite) tested against
a regression model's stored reference; decay of errors and scores; the user's mistakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import MonitoringConfig
from loopml.data import Problem, infer_schema, reference_statistics
from loopml.errors import ConfigError, DataError
from loopml.modeling import make_pipeline
from loopml.monitoring import MonitorSpan, build_reference, monitor, monitor_log
from loopml.monitoring._contract import Performance
from loopml.monitoring._monitor import decay_of, reference_of
from loopml.registry import ModelBundle
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

DAY = 86_400.0
START = 20_000 * DAY  # midnight UTC


def _rows(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"x": rng.normal(shift, 1.0, n).round(4), "c": rng.choice(["a", "b", "c"], n)}
    )
    frame["y"] = 3.0 * frame["x"] + (frame["c"] == "a") + rng.normal(0, 0.5, n)
    return frame


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    train, holdout = _rows(3000, 0), _rows(1000, 1)
    schema = infer_schema(train, "y")
    problem = Problem(task="regression", target="y", metric="rmse", gate=None)
    X = train.drop(columns="y")
    pipeline = make_pipeline(schema.roles(), "linear", "regression", None, 0, 1).fit(X, train.y)
    model = ModelBundle(pipeline, schema, problem, reference=reference_statistics(X, schema))
    predicted = model.predict_frame(holdout.drop(columns="y"))["prediction"]
    model.metrics["rmse"] = float(np.sqrt(np.mean((predicted - holdout.y) ** 2)))
    model.reference["monitoring"] = build_reference(
        X, schema, problem, holdout_y=holdout.y, holdout_predictions=predicted
    )
    return model


def _log(path: Path, model: ModelBundle, days: list[pd.DataFrame], *, noise: float) -> None:
    """Each frame one day of predictions by version 1, its labels ``noise`` further off."""
    rng = np.random.default_rng(7)
    with PredictionLog(base_dir=path, mode="sync") as plog:
        for day, rows in enumerate(days):
            predicted = model.predict_frame(rows.drop(columns="y"))["prediction"]
            t0 = START + day * DAY
            plog.record(
                [
                    LoggedPrediction(f"{day}-{i}", t0 + i, "1", rec, float(p), None, 0.2)
                    for i, (rec, p) in enumerate(
                        zip(rows[["x", "c"]].to_dict("records"), predicted, strict=True)
                    )
                ]
            )
            labels = rows.y + rng.normal(0, noise, len(rows))
            plog.feedback(
                [Feedback(f"{day}-{i}", float(v), t0 + DAY) for i, v in enumerate(labels)]
            )


def _config(**changes: object) -> MonitoringConfig:
    return MonitoringConfig.model_validate({"min_rows": 200, **changes})


def test_windows_of_a_real_log_find_the_shift_and_the_decay(
    tmp_path: Path, bundle: ModelBundle
) -> None:
    days = [_rows(800, 10), _rows(800, 11), _rows(800, 12, shift=0.6), _rows(100, 13)]
    _log(tmp_path, bundle, days, noise=2.0)
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        span = MonitorSpan(START, START + 4 * DAY, DAY)
        report = monitor(
            bundle, plog, model_name="m", model_version="1", span=span, config=_config()
        )
    first, _, shifted, small = report.windows
    assert [w.rows for w in report.windows] == [800, 800, 800, 100]
    assert [f.name for f in shifted.features if f.drifted] == ["x"]
    assert not any(f.drifted for f in first.features)
    # labels 2.0 noisier: RMSE far above the holdout's, whole interval above it
    assert first.performance is not None and first.performance.metric == "rmse"
    assert any("rmse" in alarm and "on late labels" in alarm for alarm in first.alarms)
    assert first.estimated_performance is None  # no CBPE for regression
    # too few rows: listed, not tested
    assert small.features == [] and small.performance is None and not small.drifted


def test_the_same_traffic_raises_nothing(tmp_path: Path, bundle: ModelBundle) -> None:
    _log(tmp_path, bundle, [_rows(800, 20), _rows(800, 21)], noise=0.0)
    report = monitor_log(
        bundle,
        "sqlite:///.loopml/predictions.db",
        base_dir=tmp_path,
        model_name="m",
        model_version="1",
        config=_config(),
        since="1970-01-01",
        until=str(pd.Timestamp(START + 2 * DAY, unit="s").date()),
    )
    assert len(report.windows) == 2 and not report.drifted


def test_relative_decay_for_errors_and_the_interval_rule() -> None:
    worse = Performance("rmse", 10.5, 10.2, 10.8, 500, "labels")
    assert decay_of(worse, {"rmse": 10.0}, 0.02).startswith("rmse 10.5 against 10")
    assert decay_of(worse, {"rmse": 10.0}, 0.06) == ""  # 5% worse, 6% allowed
    straddles = Performance("rmse", 10.5, 9.9, 11.1, 500, "labels")
    assert decay_of(straddles, {"rmse": 10.0}, 0.02) == ""
    assert decay_of(Performance("rmse", None, None, None, 3, "labels"), {"rmse": 1.0}, 0) == ""
    assert decay_of(worse, {}, 0.02) == ""  # no holdout score to compare with


def test_a_model_without_a_reference_and_a_missing_log_say_what_to_do(
    tmp_path: Path, bundle: ModelBundle
) -> None:
    old = ModelBundle(bundle.pipeline, bundle.schema, bundle.problem, reference={})
    with pytest.raises(DataError, match="retrain it"):
        reference_of(old, "4")
    with pytest.raises(DataError, match="nothing has been served yet"):
        monitor_log(
            bundle,
            "sqlite:///.loopml/predictions.db",
            base_dir=tmp_path,
            model_name="m",
            model_version="1",
            config=_config(),
        )


def test_until_before_since_is_refused(tmp_path: Path, bundle: ModelBundle) -> None:
    _log(tmp_path, bundle, [_rows(50, 30)], noise=0.0)
    with pytest.raises(ConfigError, match="is not after --since"):
        monitor_log(
            bundle,
            "sqlite:///.loopml/predictions.db",
            base_dir=tmp_path,
            model_name="m",
            model_version="1",
            config=_config(),
            since="2030-01-02",
            until="2030-01-01",
        )


def test_too_many_windows_is_refused(tmp_path: Path, bundle: ModelBundle) -> None:
    _log(tmp_path, bundle, [_rows(50, 31)], noise=0.0)
    minute = _config(window="60s")
    with pytest.raises(ConfigError, match="Give a longer --window"):
        monitor_log(
            bundle,
            "sqlite:///.loopml/predictions.db",
            base_dir=tmp_path,
            model_name="m",
            model_version="1",
            config=minute,
            until="2100-01-01",
        )
