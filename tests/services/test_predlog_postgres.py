"""The prediction log on a real PostgreSQL server (started by tests/services/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import sqlalchemy as sa

from loopml.serving._contract import Feedback, LoggedPrediction
from loopml.serving._predlog import PredictionLog, PredictionLogError
from loopml.serving._predlog_store import SCHEMA_VERSION

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
        conn.execute("UPDATE loopml_log_meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(PredictionLogError, match=r"created by a newer loopml \(schema version 99;"):
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


# ---------------------------------------------------------------------- erasure and variants


def customer(rid: str, features: dict[str, Any], variant: str = "champion") -> LoggedPrediction:
    return LoggedPrediction(rid, T0, "1", features, "yes", None, 1.0, variant)


def rows_of(pg: PostgresServer, table: str) -> list[tuple[Any, ...]]:
    """A table's rows by request id, read with psycopg (not through the log)."""
    with pg.admin_connect() as conn:
        return list(conn.execute(f"SELECT * FROM {table} ORDER BY request_id").fetchall())


@pytest.fixture()
def customers(pg: PostgresServer) -> Iterator[PredictionLog]:
    """Five predictions in JSONB, three labelled: customer 7 three times, in three forms."""
    with PredictionLog(url_of(pg), mode="sync") as plog:
        plog.record(
            [
                customer("a", {"customer": 7, "email": "d1", "plan": "pro"}),
                customer("b", {"customer": "7", "email": "d1", "plan": "pro"}),
                customer("c", {"customer": 7.0, "email": "d2", "plan": "7"}),
                customer("d", {"customer": 70, "email": "d3", "plan": "pro"}),
                customer("e", {"customer": "007", "email": "d4", "plan": None}),
            ]
        )
        plog.feedback([Feedback(r, "no", T0 + 5) for r in ("a", "c", "d")])
        yield plog


def test_forget_deletes_an_entity_and_its_labels_in_jsonb(
    customers: PredictionLog, pg: PostgresServer
) -> None:
    before = {t: rows_of(pg, t) for t in ("loopml_predictions", "loopml_feedback")}
    result = customers.forget("customer", ["7"])
    assert (result.predictions, result.labels, result.dry_run) == (3, 2, False)
    assert sorted(result.request_ids) == ["a", "b", "c"]
    after = {t: rows_of(pg, t) for t in ("loopml_predictions", "loopml_feedback")}
    for table in after:  # nothing else touched
        assert after[table] == [r for r in before[table] if r[0] not in ("a", "b", "c")]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([7], ["a", "b", "c"]),  # JSONB keeps 7 and 7.0 apart; both match, and "7"
        (["7.0"], ["a", "b", "c"]),
        (["007"], ["e"]),
        (["70", "007"], ["d", "e"]),
        (["8"], []),
    ],
)
def test_numbers_and_text_match_alike_in_jsonb(
    customers: PredictionLog, values: list[Any], expected: list[str]
) -> None:
    assert sorted(customers.forget("customer", values, dry_run=True).request_ids) == expected


def test_a_dry_run_on_postgresql_deletes_nothing(customers: PredictionLog) -> None:
    result = customers.forget("customer", [7], dry_run=True)
    assert (result.predictions, result.labels, result.dry_run) == (3, 2, True)
    assert customers.count() == 5
    assert customers.forget("plan", ["7"], dry_run=True).request_ids == ("c",)


def test_hashed_values_are_matched_by_their_digest(pg: PostgresServer) -> None:
    from loopml.data import privacy_replay

    replay = privacy_replay({"email": "hash"}, "SALT", {"SALT": "s3cret"})
    assert replay is not None
    emails = pd.DataFrame({"email": ["ann@example.com", "bo@example.com"]})
    digests = list(replay(emails)["email"])
    with PredictionLog(url_of(pg), mode="sync") as plog:
        plog.record([customer(f"r{i}", {"email": d}) for i, d in enumerate(digests)])
        given = replay(pd.DataFrame({"email": [" ann@example.com"]}))["email"]  # trimmed too
        assert plog.forget("email", list(given)).request_ids == ("r0",)
        assert plog.count() == 1


def test_variants_are_logged_and_filtered_on_postgresql(pg: PostgresServer) -> None:
    with PredictionLog(url_of(pg), mode="sync") as plog:
        plog.record(
            [
                customer("a", {"x": 1}),
                customer("b", {"x": 2}, variant="challenger"),
                customer("c", {"x": 3}, variant="shadow"),
            ]
        )
        rows = plog.read(T0, T0 + 1)
        assert [(r.request_id, r.variant) for r in rows] == [
            ("a", "champion"),
            ("b", "challenger"),
            ("c", "shadow"),
        ]
        assert [r.request_id for r in plog.read(T0, T0 + 1, variant="challenger")] == ["b"]


def test_a_version_1_log_on_postgresql_is_upgraded(pg: PostgresServer) -> None:
    with pg.admin_connect() as conn:  # the tables as schema version 1 laid them out
        conn.execute(
            "CREATE TABLE loopml_predictions (request_id VARCHAR(200) PRIMARY KEY, "
            "time TIMESTAMP WITH TIME ZONE NOT NULL, model_version VARCHAR(64) NOT NULL, "
            "features JSONB NOT NULL, prediction JSONB, probabilities JSONB, latency_ms FLOAT)"
        )
        conn.execute(
            "CREATE TABLE loopml_feedback (request_id VARCHAR(200) PRIMARY KEY, label JSONB, "
            "time TIMESTAMP WITH TIME ZONE NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE loopml_log_meta (name VARCHAR(64) PRIMARY KEY, "
            "value VARCHAR(200) NOT NULL)"
        )
        conn.execute("INSERT INTO loopml_log_meta VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO loopml_predictions VALUES ('old', to_timestamp(%s), '1', "
            "'{\"customer\": 7}', '\"no\"', NULL, 1.0)",
            (T0,),
        )
        conn.execute(
            "INSERT INTO loopml_feedback VALUES ('old', '\"yes\"', to_timestamp(%s))", (T0,)
        )
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {pg.user}")
        conn.execute(
            f"ALTER TABLE loopml_predictions OWNER TO {pg.user}; "
            f"ALTER TABLE loopml_feedback OWNER TO {pg.user}; "
            f"ALTER TABLE loopml_log_meta OWNER TO {pg.user}"
        )
    with PredictionLog(url_of(pg), mode="sync") as plog:
        plog.record([customer("new", {"customer": 8}, variant="shadow")])
        assert [(r.request_id, r.variant, r.label) for r in plog.read(T0, T0 + 1)] == [
            ("new", "shadow", None),
            ("old", "champion", "yes"),
        ]
        assert plog.forget("customer", [7]).labels == 1
    PredictionLog(url_of(pg), mode="sync").close()  # opening it again changes nothing
    with pg.admin_connect() as conn:
        version = conn.execute("SELECT value FROM loopml_log_meta").fetchall()
    assert version == [(str(SCHEMA_VERSION),)]


def test_forget_entity_hashes_raw_values_as_the_policy_did(pg: PostgresServer) -> None:
    from loopml.data import privacy_replay
    from loopml.serving import ErasurePolicy, forget_entity

    env = {"SALT": "s3cret"}
    policy = ErasurePolicy({"email": "hash", "phone": "drop"}, "SALT", ("email", "x"), ("x",))
    replay = privacy_replay(policy.privacy, "SALT", env)
    assert replay is not None
    logged = replay(pd.DataFrame({"email": ["ann@example.com", "bo@example.com"], "x": [1, 2]}))
    with PredictionLog(url_of(pg), mode="sync") as plog:
        plog.record([customer(f"r{i}", row) for i, row in enumerate(logged.to_dict("records"))])
        plog.feedback([Feedback("r0", "yes", T0 + 1)])
        result = forget_entity(plog, "email", ["ann@example.com"], policy, env=env)
        assert (result.predictions, result.labels, result.matched) == (1, 1, "hashed")
        dropped = forget_entity(plog, "phone", ["+44 20 7946 0000"], policy, env=env)
        assert (dropped.predictions, dropped.matched) == (0, "dropped")
        assert [r.request_id for r in plog.read(T0, T0 + 1)] == ["r1"]


def test_a_shadow_row_reads_its_requests_label_on_postgresql(pg: PostgresServer) -> None:
    with PredictionLog(url_of(pg), mode="sync") as plog:
        plog.record(
            [
                customer("s1", {"x": 1}),
                customer("s1#shadow", {"x": 1}, variant="shadow"),
                customer("s2#shadow", {"x": 2}, variant="shadow"),
            ]
        )
        assert plog.feedback([Feedback("s1", "yes", T0 + 5)]) == []
        rows = {r.request_id: r for r in plog.read(T0, T0 + 1)}
        assert rows["s1"].label == rows["s1#shadow"].label == "yes"
        assert rows["s1#shadow"].label_id == "s1"
        assert not rows["s2#shadow"].has_label
