"""The monitoring window store: windows computed once are reused from the workspace, and
recomputed exactly when the log changes under them (late labels, late predictions, erasure);
another version or reference never reuses them; a broken store is set aside, not fatal."""

from __future__ import annotations

import dataclasses
import logging
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.config import MonitoringConfig
from loopml.data import Problem, infer_schema, reference_statistics
from loopml.modeling import make_pipeline
from loopml.monitoring import (
    DriftReport,
    MonitorSpan,
    WindowStore,
    build_reference,
    monitor,
    window_from_dict,
)
from loopml.monitoring._contract import WindowFairness
from loopml.monitoring._window_store import KEEP_FINGERPRINTS, STORE_FORMAT
from loopml.registry import ModelBundle
from loopml.serving import Feedback, LoggedColumns, LoggedPrediction, PredictionLog

DAY = 86_400.0
START = 20_100 * DAY  # midnight UTC
DAYS = 4
ROWS = 250  # per day
NOW = START + 30 * DAY  # when the service stored the labels of the first days


class CountingLog(PredictionLog):
    """The real log, counting the window reads (each reads one window's rows)."""

    reads = 0

    def read_columns(self, *args: Any, **kwargs: Any) -> LoggedColumns:
        self.reads += 1
        return super().read_columns(*args, **kwargs)


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"x": rng.normal(0.0, 1.0, n).round(4), "c": rng.choice(["a", "b", "c"], n)}
    )
    frame["y"] = 3.0 * frame["x"] + (frame["c"] == "a") + rng.normal(0, 0.5, n)
    return frame


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    train, holdout = _rows(1500, 0), _rows(500, 1)
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


@pytest.fixture
def log_dir(tmp_path: Path, bundle: ModelBundle) -> Path:
    """DAYS days of predictions by version 1; every day labelled but the last."""
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        for day in range(DAYS):
            rows = _rows(ROWS, 10 + day)
            predicted = bundle.predict_frame(rows.drop(columns="y"))["prediction"]
            t0 = START + day * DAY
            records = rows[["x", "c"]].to_dict("records")
            plog.record(
                [
                    LoggedPrediction(f"{day}-{i}", t0 + i, "1", rec, float(p), None, 0.2)
                    for i, (rec, p) in enumerate(zip(records, predicted, strict=True))
                ]
            )
            if day < DAYS - 1:
                plog.feedback([Feedback(f"{day}-{i}", float(v), NOW) for i, v in enumerate(rows.y)])
    return tmp_path


def _run(log_dir: Path, model: ModelBundle, store: WindowStore, version: str = "1") -> Any:
    """``monitor`` over the DAYS days with ``store``: (report, window reads of the log)."""
    span = MonitorSpan(START, START + DAYS * DAY, DAY)
    config = MonitoringConfig.model_validate({"min_rows": 200})
    with CountingLog(base_dir=log_dir, mode="sync") as plog:
        report = monitor(
            model,
            plog,
            model_name="m",
            model_version=version,
            span=span,
            config=config,
            store=store,
            compare=False,
        )
        return report, plog.reads


def _store(log_dir: Path) -> WindowStore:
    return WindowStore(log_dir / ".loopml" / "state" / "windows.db")


def _dicts(report: DriftReport) -> list[dict[str, Any]]:
    return [w.to_dict() for w in report.windows]


def test_stored_windows_are_reused_without_reading_the_log(
    log_dir: Path, bundle: ModelBundle
) -> None:
    first, reads = _run(log_dir, bundle, _store(log_dir))
    assert reads == DAYS and [w.rows for w in first.windows] == [ROWS] * DAYS
    store = _store(log_dir)  # another process: only the file is shared
    again, reads = _run(log_dir, bundle, store)
    assert reads == 0 and (store.reused, store.computed) == (DAYS, 0)
    assert _dicts(again) == _dicts(first)


def test_a_late_label_recomputes_only_its_window(log_dir: Path, bundle: ModelBundle) -> None:
    first, _ = _run(log_dir, bundle, _store(log_dir))
    assert first.windows[-1].performance is None and first.windows[-1].labelled == 0
    last = DAYS - 1
    with PredictionLog(base_dir=log_dir, mode="sync") as plog:
        plog.feedback([Feedback(f"{last}-{i}", 0.0, NOW + 60) for i in range(ROWS)])
    store = _store(log_dir)
    after, reads = _run(log_dir, bundle, store)
    assert reads == 1 and (store.reused, store.computed) == (DAYS - 1, 1)
    window = after.windows[-1]
    assert window.labelled == ROWS and window.performance is not None
    assert window.performance.value is not None and window.performance.value > 1.0
    assert _dicts(after)[:-1] == _dicts(first)[:-1]


def test_a_label_written_with_an_old_time_recomputes_its_window(
    log_dir: Path, bundle: ModelBundle
) -> None:
    _run(log_dir, bundle, _store(log_dir))
    with PredictionLog(base_dir=log_dir, mode="sync") as plog:  # older than NOW: a backfill
        plog.feedback([Feedback(f"{DAYS - 1}-{i}", 0.0, START) for i in range(10)])
    store = _store(log_dir)
    after, reads = _run(log_dir, bundle, store)
    assert reads == 1 and (store.reused, store.computed) == (DAYS - 1, 1)
    assert after.windows[-1].labelled == 10


def test_late_predictions_and_an_erasure_recompute_their_windows(
    log_dir: Path, bundle: ModelBundle
) -> None:
    _run(log_dir, bundle, _store(log_dir))
    with PredictionLog(base_dir=log_dir, mode="sync") as plog:
        late = LoggedPrediction("late", START + DAY + 5, "1", {"x": 0.1, "c": "a"}, 1.0, None, 0.2)
        plog.record([late])  # written after the check, timed in the second window
    store = _store(log_dir)
    after, reads = _run(log_dir, bundle, store)
    assert reads == 1 and after.windows[1].rows == ROWS + 1
    with PredictionLog(base_dir=log_dir, mode="sync") as plog:
        plog.forget("x", [0.1])  # the right to erasure: the late row goes again
    store = _store(log_dir)
    after, reads = _run(log_dir, bundle, store)
    assert reads == 1 and after.windows[1].rows == ROWS


def test_another_version_or_reference_does_not_reuse_the_windows(
    log_dir: Path, bundle: ModelBundle
) -> None:
    _run(log_dir, bundle, _store(log_dir))
    store = _store(log_dir)
    other, reads = _run(log_dir, bundle, store, version="2")
    assert store.reused == 0 and reads == DAYS and [w.rows for w in other.windows] == [0] * 4
    retrained = dataclasses.replace(bundle, metrics={"rmse": bundle.metrics["rmse"] * 2})
    store = _store(log_dir)
    _, reads = _run(log_dir, retrained, store)
    assert store.reused == 0 and reads == DAYS
    store = _store(log_dir)  # the first model's windows are still there for it
    _, reads = _run(log_dir, bundle, store)
    assert (store.reused, reads) == (DAYS, 0)


def test_only_the_windows_of_the_last_used_settings_are_kept(
    log_dir: Path, bundle: ModelBundle
) -> None:
    """Each retrained reference (another fingerprint) stores its windows; once more than
    KEEP_FINGERPRINTS were used, the windows of the least recently used are deleted."""
    models = [
        dataclasses.replace(bundle, metrics={"rmse": bundle.metrics["rmse"] * (1 + i / 10)})
        for i in range(KEEP_FINGERPRINTS + 1)
    ]
    for model in models:
        _run(log_dir, model, _store(log_dir))
    with sqlite3.connect(_store(log_dir).path) as db:
        kept = db.execute("SELECT COUNT(DISTINCT fingerprint), COUNT(*) FROM windows").fetchone()
        marks = db.execute("SELECT COUNT(*) FROM marks").fetchone()[0]
    db.close()
    assert kept == (KEEP_FINGERPRINTS, KEEP_FINGERPRINTS * DAYS) and marks == KEEP_FINGERPRINTS
    store = _store(log_dir)  # the newest are reused, the first was deleted
    _, reads = _run(log_dir, models[-1], store)
    assert (store.reused, reads) == (DAYS, 0)
    store = _store(log_dir)
    _, reads = _run(log_dir, models[0], store)
    assert (store.reused, reads) == (0, DAYS)


def test_a_corrupt_store_is_set_aside_with_a_warning(
    log_dir: Path, bundle: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(log_dir)
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"not a database at all, " * 100)
    with caplog.at_level(logging.WARNING, logger="loopml.monitoring._window_store"):
        report, reads = _run(log_dir, bundle, store)
    assert reads == DAYS and len(report.windows) == DAYS
    assert "unreadable" in caplog.text and "windows.db.broken" in caplog.text
    assert store.path.with_name("windows.db.broken").is_file()
    store = _store(log_dir)  # the new store works
    _, reads = _run(log_dir, bundle, store)
    assert (store.reused, reads) == (DAYS, 0)


def test_a_store_of_another_format_is_dropped_with_a_warning(
    log_dir: Path, bundle: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    _run(log_dir, bundle, _store(log_dir))
    with sqlite3.connect(_store(log_dir).path) as db:
        db.execute("UPDATE meta SET value = '0' WHERE name = 'format'")
    db.close()
    store = _store(log_dir)
    with caplog.at_level(logging.WARNING, logger="loopml.monitoring._window_store"):
        _, reads = _run(log_dir, bundle, store)
    assert f"has format 0, not {STORE_FORMAT}" in caplog.text
    assert reads == DAYS and store.reused == 0


def test_an_unreadable_stored_window_is_computed_again(
    log_dir: Path, bundle: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    _run(log_dir, bundle, _store(log_dir))
    with sqlite3.connect(_store(log_dir).path) as db:
        db.execute("UPDATE windows SET result = '{\"start\": 1}' WHERE start = ?", (START,))
    db.close()
    store = _store(log_dir)
    with caplog.at_level(logging.WARNING, logger="loopml.monitoring._window_store"):
        report, reads = _run(log_dir, bundle, store)
    assert "is unreadable" in caplog.text
    assert reads == 1 and report.windows[0].rows == ROWS


def test_a_window_round_trips_through_its_dict(log_dir: Path, bundle: ModelBundle) -> None:
    report, _ = _run(log_dir, bundle, _store(log_dir))
    window = report.windows[0]
    assert window_from_dict(window.to_dict()) == window
    fair = dataclasses.replace(
        window, fairness=WindowFairness(10, 5, {"dp": math.nan, "eo": 0.5}, {"eo": {"a": "b"}})
    )
    back = window_from_dict(fair.to_dict())
    assert back.fairness is not None and math.isnan(back.fairness.values["dp"])
    assert back.fairness.values["eo"] == 0.5 and back.to_dict() == fair.to_dict()
