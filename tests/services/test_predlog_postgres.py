"""The prediction log on a real PostgreSQL server (started by tests/services/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from loopml.serving._contract import Feedback, LoggedPrediction
from loopml.serving._predlog import PredictionLog, PredictionLogError

if TYPE_CHECKING:
    from tests.services.conftest import PostgresServer

pytestmark = pytest.mark.services

T0 = 1_780_000_000.0


def url_of(server: PostgresServer, password: str | None = None) -> sa.URL:
    return sa.URL.create(
        "postgresql",  # the log picks psycopg 3 where psycopg2 is absent
        username=server.user,
        password=server.password if password is None else password,
        host=server.host,
        port=server.port,
        database=server.database,
    )


@pytest.fixture()
def pg(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """The server, with the log's tables dropped after each test."""
    yield postgres
    with postgres.admin_connect() as conn:
        for table in ("loopml_predictions", "loopml_feedback", "loopml_log_meta"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def entry(i: int, version: str = "1") -> LoggedPrediction:
    return LoggedPrediction(
        f"req-{i}", T0 + i, version, {"age": i, "plan": "pro", "x": float("nan")}, i % 2,
        {"0": 0.4, "1": 0.6}, 0.25,
    )  # fmt: skip


def test_predictions_and_labels_round_trip(pg: PostgresServer, tmp_path: Path) -> None:
    with PredictionLog(url_of(pg), base_dir=tmp_path, flush_seconds=0.05) as plog:
        plog.record([entry(i) for i in range(20)])
        assert plog.feedback([Feedback("req-3", 1, T0 + 50), Feedback("req-4", 0, T0)]) == []
        assert plog.feedback([Feedback("req-3", 0, T0 + 60), Feedback("gone", 1, T0)]) == ["gone"]
        rows = plog.read(T0 + 2, T0 + 5)
    assert [r.request_id for r in rows] == ["req-2", "req-3", "req-4"]
    assert rows[1].features == {"age": 3, "plan": "pro", "x": None}  # JSONB has no NaN
    assert rows[1].probabilities == {"0": 0.4, "1": 0.6}
    assert rows[1].time == T0 + 3
    assert [(r.label, r.label_time) for r in rows] == [(None, None), (1, T0 + 50), (0, T0)]
    assert not (tmp_path / ".loopml").exists()  # nothing written to the workspace


def test_the_tables_have_the_indexes_monitoring_needs(pg: PostgresServer) -> None:
    PredictionLog(url_of(pg), mode="sync").close()
    with pg.admin_connect() as conn:
        found = {
            row[0]
            for row in conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'loopml_predictions'"
            )
        }
    assert any('("time")' in d or "(time)" in d for d in found)
    assert any('model_version, "time"' in d or "model_version, time" in d for d in found)


def test_concurrent_writers_and_two_logs(pg: PostgresServer) -> None:
    logs = [
        PredictionLog(url_of(pg), batch_size=16, flush_seconds=0.02),
        PredictionLog(url_of(pg), mode="sync"),
    ]

    def send(plog: PredictionLog, worker: int) -> None:
        for i in range(60):
            plog.record([entry(worker * 1000 + i)])

    threads = [threading.Thread(target=send, args=(logs[w % 2], w)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for plog in logs:
        plog.close()
    with PredictionLog(url_of(pg), mode="sync") as plog:  # restart on the existing log
        assert plog.count() == 360
        plog.record([entry(5), entry(9999)])  # req-5 was logged by worker 0: kept once
        assert plog.count() == 361
    assert [plog.stats().written for plog in logs] == [180, 180]


def test_two_logs_starting_at_once_create_the_tables_once(pg: PostgresServer) -> None:
    opened: list[PredictionLog] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(PredictionLog(url_of(pg), mode="sync"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for plog in opened:
        plog.close()
    assert errors == []
    assert len(opened) == 4


def test_a_log_written_by_a_newer_loopml_is_refused(pg: PostgresServer) -> None:
    PredictionLog(url_of(pg), mode="sync").close()
    with pg.admin_connect() as conn:
        conn.execute("UPDATE loopml_log_meta SET value = '2' WHERE name = 'schema_version'")
    with pytest.raises(PredictionLogError, match=r"created by a newer loopml \(schema version 2;"):
        PredictionLog(url_of(pg))


def test_a_wrong_password_fails_at_start_up_without_showing_it(pg: PostgresServer) -> None:
    wrong = "not-the:password@/x"
    with pytest.raises(PredictionLogError) as caught:
        PredictionLog(url_of(pg, password=wrong))
    message = str(caught.value)
    assert "cannot open the prediction log at postgresql+psycopg://loopml_user:***@" in message
    assert "password authentication failed" in message
    assert wrong not in message and pg.password not in message


def test_an_unreachable_server_fails_at_start_up(pg: PostgresServer) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = url_of(pg).set(port=port)
    with pytest.raises(PredictionLogError, match=r"Check that the database server is running"):
        PredictionLog(url)
