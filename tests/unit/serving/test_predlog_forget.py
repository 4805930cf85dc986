"""Erasure and variants in the prediction log on SQLite: ``PredictionLog.forget``, the
``variant`` column and the upgrade of a log written with schema version 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from loopml.serving._contract import Feedback, LoggedPrediction
from loopml.serving._predlog import PredictionLog
from loopml.serving._predlog_store import SCHEMA_VERSION, as_time, match_texts

T0 = 1_780_000_000.0


def entry(rid: str, features: dict[str, Any], variant: str = "champion") -> LoggedPrediction:
    return LoggedPrediction(rid, T0, "1", features, "yes", None, 1.0, variant)


def db_file(tmp_path: Path) -> Path:
    return tmp_path / ".loopml" / "predictions.db"


def table(tmp_path: Path, name: str) -> list[tuple[Any, ...]]:
    """A table's rows ordered by request id, read with sqlite3 (not through the log)."""
    with sqlite3.connect(db_file(tmp_path)) as conn:
        return conn.execute(f"SELECT * FROM {name} ORDER BY request_id").fetchall()


@pytest.fixture()
def plog(tmp_path: Path) -> Any:
    """A log of five predictions, three labelled: customer 7 three times, in three forms."""
    with PredictionLog(base_dir=tmp_path, mode="sync") as log:
        log.record(
            [
                entry("a", {"customer": 7, "email": "d1", "plan": "pro"}),
                entry("b", {"customer": "7", "email": "d1", "plan": "pro"}),
                entry("c", {"customer": 7.0, "email": "d2", "plan": "7"}),
                entry("d", {"customer": 70, "email": "d3", "plan": "pro"}),
                entry("e", {"customer": "007", "email": "d4", "plan": None}),
            ]
        )
        log.feedback([Feedback(r, "no", T0 + 5) for r in ("a", "c", "d")])
        yield log


def test_forget_deletes_the_predictions_and_their_labels(plog: PredictionLog) -> None:
    result = plog.forget("customer", ["7"])
    assert (result.predictions, result.labels, result.dry_run) == (3, 2, False)
    assert sorted(result.request_ids) == ["a", "b", "c"]
    rows = plog.read(T0, T0 + 1)
    assert [(r.request_id, r.label) for r in rows] == [("d", "no"), ("e", None)]


def test_nothing_else_is_touched(plog: PredictionLog, tmp_path: Path) -> None:
    before = {name: table(tmp_path, name) for name in ("loopml_predictions", "loopml_feedback")}
    plog.forget("email", ["d2"])
    after = {name: table(tmp_path, name) for name in ("loopml_predictions", "loopml_feedback")}
    assert after["loopml_predictions"] == [r for r in before["loopml_predictions"] if r[0] != "c"]
    assert after["loopml_feedback"] == [r for r in before["loopml_feedback"] if r[0] != "c"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7], ["a", "b", "c"]),  # a number given matches the number and its text
        (["7.0"], ["a", "b", "c"]),
        ([" 7 "], ["a", "b", "c"]),  # trimmed, as the privacy policy trims before hashing
        (["007"], ["e"]),  # leading zeros: an id that matches only as text
        (["70", "007"], ["d", "e"]),
        (["8"], []),
    ],
)
def test_numbers_and_text_match_alike(
    plog: PredictionLog, values: list[Any], expected: list[str]
) -> None:
    result = plog.forget("customer", values, dry_run=True)
    assert sorted(result.request_ids) == expected


def test_only_the_named_column_is_matched(plog: PredictionLog) -> None:
    # "7" is also a plan (request c), but only the plan column is searched
    assert plog.forget("plan", ["7"], dry_run=True).request_ids == ("c",)
    assert plog.forget("nowhere", ["7"]).predictions == 0
    assert plog.count() == 5


def test_a_dry_run_counts_and_deletes_nothing(plog: PredictionLog) -> None:
    result = plog.forget("customer", [7], dry_run=True)
    assert (result.predictions, result.labels, result.dry_run) == (3, 2, True)
    assert plog.count() == 5
    assert len([r for r in plog.read(T0, T0 + 1) if r.has_label]) == 3


def test_queued_predictions_are_found(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, batch_size=1000, flush_seconds=60) as log:
        log.record([entry("q", {"customer": 7})])
        assert log.forget("customer", ["7"]).predictions == 1
        assert log.count() == 0


def test_match_texts() -> None:
    assert match_texts(["7"]) == ["7", "7.0"]
    assert match_texts([7.5, " ab ", None, True]) == ["7.5", " ab ", "ab"]
    assert match_texts(["1e3"]) == ["1e3", "1000", "1000.0"]
    assert match_texts(["007", "-0.25"]) == ["007", "-0.25"]


def test_logged_columns(plog: PredictionLog) -> None:
    assert plog.columns() == ["customer", "email", "plan"]


# ---------------------------------------------------------------------- variants


def test_variant_is_logged_read_and_filtered(tmp_path: Path) -> None:
    with PredictionLog(base_dir=tmp_path, mode="sync") as log:
        log.record(
            [
                entry("a", {"x": 1}),
                entry("b", {"x": 2}, variant="challenger"),
                entry("c", {"x": 3}, variant="shadow"),
            ]
        )
        rows = log.read(T0, T0 + 1)
        assert [(r.request_id, r.variant) for r in rows] == [
            ("a", "champion"),
            ("b", "challenger"),
            ("c", "shadow"),
        ]
        assert [r.request_id for r in log.read(T0, T0 + 1, variant="champion")] == ["a"]
        assert [r.request_id for r in log.read(T0, T0 + 1, variant="shadow")] == ["c"]


def test_a_prediction_without_variant_is_the_champions(tmp_path: Path) -> None:
    assert LoggedPrediction("r", T0, "1", {}, 1, None, 1.0).variant == "champion"
    PredictionLog(base_dir=tmp_path).close()
    with sqlite3.connect(db_file(tmp_path)) as conn:  # a writer that does not know the column
        conn.execute(
            "INSERT INTO loopml_predictions (request_id, time, model_version, features) "
            "VALUES ('old', '2026-05-28 20:26:40.000000', '1', '{}')"
        )
        conn.execute(
            "INSERT INTO loopml_predictions (request_id, time, model_version, features, "
            "variant) VALUES ('null', '2026-05-28 20:26:40.000000', '1', '{}', NULL)"
        )
    with PredictionLog(base_dir=tmp_path) as log:
        rows = log.read(T0 - 10**8, T0 + 10**8, variant="champion")
    assert [(r.request_id, r.variant) for r in rows] == [("null", "champion"), ("old", "champion")]


def _version_1_log(path: Path) -> None:
    """A log as loopml wrote it with schema version 1: no variant column."""
    engine = sa.create_engine(f"sqlite:///{path}")
    old = sa.MetaData()
    sa.Table(
        "loopml_predictions",
        old,
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("prediction", sa.JSON),
        sa.Column("probabilities", sa.JSON),
        sa.Column("latency_ms", sa.Float),
        sa.Index("ix_loopml_predictions_time", "time"),
        sa.Index("ix_loopml_predictions_version_time", "model_version", "time"),
    )
    sa.Table(
        "loopml_feedback",
        old,
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("label", sa.JSON),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_loopml_feedback_time", "time"),
    )
    meta = sa.Table(
        "loopml_log_meta",
        old,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    old.create_all(engine)
    predictions = old.tables["loopml_predictions"]
    with engine.begin() as conn:
        conn.execute(meta.insert().values(name="schema_version", value="1"))
        conn.execute(
            predictions.insert(),
            [
                {"request_id": f"old-{i}", "time": as_time(T0 + i),
                 "model_version": "1", "features": {"customer": i}, "prediction": "no",
                 "probabilities": None, "latency_ms": 1.0}
                for i in range(3)
            ],
        )  # fmt: skip
        conn.execute(
            old.tables["loopml_feedback"]
            .insert()
            .values(request_id="old-1", label="yes", time=as_time(T0 + 9))
        )
    engine.dispose()


def test_a_version_1_log_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    db_file(tmp_path).parent.mkdir()
    _version_1_log(db_file(tmp_path))
    with PredictionLog(base_dir=tmp_path, mode="sync") as log:
        log.record([entry("new", {"customer": 9}, variant="shadow")])
        rows = log.read(T0, T0 + 10)
        assert [(r.request_id, r.variant, r.label) for r in rows] == [
            ("new", "shadow", None),
            ("old-0", "champion", None),
            ("old-1", "champion", "yes"),
            ("old-2", "champion", None),
        ]
        assert log.forget("customer", ["1"]).labels == 1
    with sqlite3.connect(db_file(tmp_path)) as conn:
        version = conn.execute("SELECT value FROM loopml_log_meta").fetchall()
        columns = [r[1] for r in conn.execute("PRAGMA table_info(loopml_predictions)")]
    assert version == [(str(SCHEMA_VERSION),)]
    assert SCHEMA_VERSION == 2
    assert columns[-1] == "variant"
    PredictionLog(base_dir=tmp_path).close()  # opening it again changes nothing
