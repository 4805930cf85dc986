"""The prediction log on SQLite (loopml.serving._predlog): modes, feedback, errors, restarts."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from loopml.errors import ConfigError
from loopml.serving._contract import Feedback, LoggedPrediction
from loopml.serving._predlog import LogStats, PredictionLog, PredictionLogError, to_json

T0 = 1_780_000_000.0  # a fixed time (2026), seconds since the epoch


def entry(i: int, version: str = "1", t: float | None = None) -> LoggedPrediction:
    return LoggedPrediction(
        request_id=f"req-{i}",
        time=T0 + i if t is None else t,
        model_version=version,
        features={"age": 30 + i, "plan": "pro"},
        prediction="yes" if i % 2 else "no",
        probabilities={"no": 0.25, "yes": 0.75},
        latency_ms=0.5 + i,
    )


def db_file(tmp_path: Path) -> Path:
    return tmp_path / ".loopml" / "predictions.db"


def stored_ids(tmp_path: Path) -> list[str]:
    """Request ids in the file, read with the sqlite3 module (not through the log)."""
    with sqlite3.connect(db_file(tmp_path)) as conn:
        rows = conn.execute("SELECT request_id FROM loopml_predictions ORDER BY time").fetchall()
    return [r[0] for r in rows]


def test_default_is_a_sqlite_file_in_the_workspace(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path) as plog:
        plog.record([entry(1)])
    assert db_file(tmp_path).is_file()
    assert stored_ids(tmp_path) == ["req-1"]


def test_async_close_writes_everything_queued(tmp_path: Path) -> None:
    # a batch that would wait a minute to fill: only close() can have written it
    plog = PredictionLog(base_dir=tmp_path, batch_size=10_000, flush_seconds=60)
    plog.record([entry(i) for i in range(250)])
    plog.close()
    assert len(stored_ids(tmp_path)) == 250
    assert plog.stats().written == 250
    assert plog.stats().queue_depth == 0


def test_a_row_keeps_every_field(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        plog.record([entry(3, version="7")])
        plog.feedback([Feedback("req-3", "no", T0 + 100)])
        (row,) = plog.read(T0, T0 + 10)
    assert row.request_id == "req-3"
    assert row.time == T0 + 3
    assert row.model_version == "7"
    assert row.features == {"age": 33, "plan": "pro"}
    assert row.prediction == "yes"
    assert row.probabilities == {"no": 0.25, "yes": 0.75}
    assert row.latency_ms == 3.5
    assert (row.label, row.label_time, row.has_label) == ("no", T0 + 100, True)


def test_sync_mode_has_written_before_record_returns(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        plog.record([])
        plog.record([entry(1), entry(2)])
        assert stored_ids(tmp_path) == ["req-1", "req-2"]
        assert plog.stats().written == 2


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    plog = PredictionLog(base_dir=tmp_path, batch_size=5, queue_size=20, flush_seconds=0.01)
    plog.record([entry(0)])
    plog.flush()
    blocker = sqlite3.connect(db_file(tmp_path), timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer now waits for the database
    try:
        plog.record([entry(i) for i in range(1, 101)])
        stats = plog.stats()
    finally:
        blocker.rollback()
        blocker.close()
    plog.close()
    # at most the queue and one batch were accepted; the rest was dropped, not waited for
    assert stats.dropped >= 100 - 20 - 5
    assert stats.queue_depth == 100 - stats.dropped
    assert len(stored_ids(tmp_path)) == 1 + 100 - stats.dropped
    assert plog.stats().written == 1 + 100 - stats.dropped


def test_concurrent_writers_in_threads_and_two_logs_on_one_file(tmp_path: Path) -> None:
    first = PredictionLog(base_dir=tmp_path, batch_size=7, flush_seconds=0.01)
    second = PredictionLog(base_dir=tmp_path, mode="sync")

    def send(plog: PredictionLog, worker: int) -> None:
        for i in range(50):
            plog.record([entry(worker * 1000 + i)])

    threads = [threading.Thread(target=send, args=(first, w)) for w in range(3)]
    threads += [threading.Thread(target=send, args=(second, w)) for w in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first.close()
    second.close()
    ids = stored_ids(tmp_path)
    assert len(ids) == len(set(ids)) == 250
    assert first.stats().written == 150
    assert second.stats().written == 100


def test_feedback_is_all_or_nothing_and_returns_unknown_ids(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        plog.record([entry(1), entry(2)])
        unknown = plog.feedback(
            [Feedback("req-1", "yes", T0), Feedback("nope", "no", T0), Feedback("x", 1, T0)]
        )
        assert unknown == ["nope", "x"]
        assert not any(r.has_label for r in plog.read(T0, T0 + 10))  # req-1 was not stored

        assert plog.feedback([Feedback("req-1", "yes", T0 + 20)]) == []
        assert plog.feedback([Feedback("req-1", "no", T0 + 30), Feedback("req-2", "no", T0)]) == []
        labels = {r.request_id: (r.label, r.label_time) for r in plog.read(T0, T0 + 10)}
    assert labels == {"req-1": ("no", T0 + 30), "req-2": ("no", T0)}  # the newer label won
    assert plog.feedback([]) == []


def test_feedback_finds_a_prediction_still_in_the_queue(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, batch_size=1000, flush_seconds=60) as plog:
        plog.record([entry(1)])
        assert plog.feedback([Feedback("req-1", "yes", T0)]) == []
        (row,) = plog.read(T0, T0 + 10)
    assert row.label == "yes"


def test_restart_on_an_existing_log_appends(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path) as plog:
        plog.record([entry(1), entry(2)])
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        assert plog.count() == 2
        plog.record([entry(3), entry(1, version="9")])  # a request id seen before keeps its row
        assert plog.feedback([Feedback("req-2", "no", T0)]) == []
        rows = plog.read(T0, T0 + 10)
    assert [(r.request_id, r.model_version) for r in rows] == [
        ("req-1", "1"),
        ("req-2", "1"),
        ("req-3", "1"),
    ]


def test_read_between_times_and_by_version(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        plog.record([entry(i, version="1" if i < 5 else "2") for i in range(10)])
        assert [r.request_id for r in plog.read(T0 + 3, T0 + 6)] == ["req-3", "req-4", "req-5"]
        assert [r.request_id for r in plog.read(T0 + 3, T0 + 7, model_version="2")] == [
            "req-5",
            "req-6",
        ]


def test_numpy_values_and_nan_are_stored_as_json(tmp_path: Path) -> None:
    odd = LoggedPrediction(
        "odd",
        T0,
        "1",
        {"n": np.int64(3), "x": float("nan"), "y": np.float64("inf"), "flag": np.bool_(True)},
        np.float64(2.5),
        None,
        1.0,
    )
    with PredictionLog(base_dir=tmp_path, mode="sync") as plog:
        plog.record([odd])
        (row,) = plog.read(T0, T0 + 1)
    assert row.features == {"n": 3, "x": None, "y": None, "flag": True}
    assert row.prediction == 2.5
    assert row.probabilities is None
    assert to_json({"a": [1.0, math.nan]}) == '{"a": [1.0, null]}'


def test_a_log_written_by_a_newer_loopml_is_refused(tmp_path: Path) -> None:
    PredictionLog(base_dir=tmp_path).close()
    with sqlite3.connect(db_file(tmp_path)) as conn:
        conn.execute("UPDATE loopml_log_meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(PredictionLogError, match=r"created by a newer loopml \(schema version 99"):
        PredictionLog(base_dir=tmp_path)


def test_a_foreign_meta_table_is_refused(tmp_path: Path) -> None:
    PredictionLog(base_dir=tmp_path).close()
    with sqlite3.connect(db_file(tmp_path)) as conn:
        conn.execute("UPDATE loopml_log_meta SET value = 'v2' WHERE name = 'schema_version'")
    with pytest.raises(PredictionLogError, match="schema_version 'v2', not a number"):
        PredictionLog(base_dir=tmp_path)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", r"URL 'not a url' is not a database URL\. Use e\.g\. sqlite:///"),
        ("sqlite://", "needs a SQLite file"),
        ("sqlite:///:memory:", "an in-memory database vanishes"),
        ("nosuchdb://host/db", r"supports SQLite and PostgreSQL, not nosuchdb"),
        (
            "postgresql+nodriver://host/db",
            r"no database driver for the prediction log postgresql\+nodriver://host/db",
        ),
    ],
)
def test_bad_urls_fail_at_start_up(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(PredictionLogError, match=message):
        PredictionLog(url, base_dir=tmp_path)


def test_a_directory_in_place_of_the_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    with pytest.raises(PredictionLogError, match=r"logs is a directory; name a file"):
        PredictionLog("sqlite:///logs", base_dir=tmp_path)


def test_an_unwritable_place_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(PredictionLogError, match=r"cannot create the directory .*file"):
        PredictionLog("sqlite:///file/predictions.db", base_dir=tmp_path)


def test_another_database_kind_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogError, match="supports SQLite and PostgreSQL, not mysql"):
        # pymysql is not needed: the dialect is refused before connecting
        PredictionLog(sa.URL.create("mysql+pymysql", host="127.0.0.1", database="x"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "later"}, "mode must be 'async' or 'sync', got 'later'"),
        ({"batch_size": 0}, "batch_size must be a positive whole number, got 0"),
        ({"queue_size": 2.5}, "queue_size must be a positive whole number, got 2.5"),
        ({"flush_seconds": -1}, "flush_seconds must be a positive number, got -1"),
    ],
)
def test_settings_are_checked(tmp_path: Path, settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PredictionLog(base_dir=tmp_path, **settings)  # type: ignore[arg-type]


def test_a_closed_log_refuses_entries(tmp_path: Path) -> None:
    for mode in ("async", "sync"):
        plog = PredictionLog(base_dir=tmp_path, mode=mode)  # type: ignore[arg-type]
        plog.close()
        plog.close()  # idempotent
        with pytest.raises(PredictionLogError, match="is closed"):
            plog.record([entry(1)])


def test_a_refused_write_raises_in_sync_mode_and_is_counted_in_async_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sync = PredictionLog(base_dir=tmp_path, mode="sync")
    asynchronous = PredictionLog(base_dir=tmp_path, flush_seconds=0.01)
    with sqlite3.connect(db_file(tmp_path)) as conn:
        conn.execute("DROP TABLE loopml_predictions")  # someone broke the database
    with pytest.raises(
        PredictionLogError,
        match=r"cannot write 1 prediction\(s\) to the prediction log at sqlite:///.*predictions"
        r"\.db: no such table: loopml_predictions",
    ):
        sync.record([entry(1)])
    assert sync.stats().written == 0

    asynchronous.record([entry(2), entry(3)])
    assert asynchronous.flush()  # the writer tries again, then gives the batch up
    assert asynchronous.stats() == LogStats(queue_depth=0, dropped=0, written=0, failed=2)
    assert "2 prediction(s) not logged" in caplog.text
    sync.close()
    asynchronous.close()
