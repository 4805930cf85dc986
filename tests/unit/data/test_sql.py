"""loopml.data._sql: SQL sources on a SQLite file, credentials from the env mapping."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import _needs as needs
from loopml.config import DataConfig, Incremental, SqlSource
from loopml.data import collect
from loopml.data._sql import database_url, load_sql
from loopml.errors import DataError

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4],
        "plan": ["basic", "pro", "pro", "basic"],
        "spend": [10.5, 99.0, 120.0, 5.0],
        "signup_at": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01"],
    }
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "app.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        CUSTOMERS.to_sql("customers", conn, index=False)
    return path


def sql(**fields: object) -> SqlSource:
    return SqlSource.model_validate({"type": "sql", **fields})


def test_table(tmp_path: Path, db: Path) -> None:
    data = load_sql(sql(url="sqlite:///data/app.db", table="customers"), tmp_path, env={})

    pd.testing.assert_frame_equal(data.frame, CUSTOMERS)
    assert data.origin == f"sql:sqlite:///{db} table=customers"


def test_query_with_bound_params(tmp_path: Path, db: Path) -> None:
    source = sql(
        url=f"sqlite:///{db}",
        query="select customer_id, spend from customers where plan = :plan and spend > :low",
        params={"plan": "pro", "low": 100},
    )
    data = load_sql(source, tmp_path / "elsewhere", env={})
    assert data.frame.to_dict("list") == {"customer_id": [3], "spend": [120.0]}
    assert data.origin.startswith(f"sql:sqlite:///{db} query=select customer_id")


def test_params_are_bound_not_pasted(tmp_path: Path, db: Path) -> None:
    source = sql(
        url="sqlite:///data/app.db",
        query="select * from customers where plan = :plan",
        params={"plan": "x' or '1'='1"},
    )
    data = load_sql(source, tmp_path, env={})
    assert len(data.frame) == 0


def test_url_from_env(tmp_path: Path, db: Path) -> None:
    source = sql(url_env="APP_DB", table="customers")
    data = load_sql(source, tmp_path, env={"APP_DB": f"sqlite:///{db}"})
    assert len(data.frame) == 4


def test_credentials_from_env_are_set_on_the_url(tmp_path: Path) -> None:
    source = sql(
        url="postgresql://db.example:5432/shop",
        username_env="DB_USER",
        password_env="DB_PASS",
        table="t",
    )
    url = database_url(source, tmp_path, env={"DB_USER": "ann", "DB_PASS": "s3cr:et@/x"})
    assert (url.username, url.password, url.host, url.database) == (
        "ann",
        "s3cr:et@/x",
        "db.example",
        "shop",
    )
    assert url.drivername in ("postgresql", "postgresql+psycopg")
    assert "s3cr" not in url.render_as_string(hide_password=True)


# --------------------------------------------------------------------------------------------
# errors


def test_bad_query(tmp_path: Path, db: Path) -> None:
    source = sql(url="sqlite:///data/app.db", query="selec * from customers")
    expected = f"the query failed on sqlite:///{db} (data.source.query): "
    with pytest.raises(DataError, match=f"^{re.escape(expected)}.*syntax error") as info:
        load_sql(source, tmp_path, env={})
    assert "query: selec * from customers\nFix data.source.query" in str(info.value)


def test_missing_table_lists_the_tables(tmp_path: Path, db: Path) -> None:
    source = sql(url="sqlite:///data/app.db", table="custmers")
    expected = (
        f"table 'custmers' not found in sqlite:///{db} (data.source.table). "
        "Tables there: customers. Fix data.source.table, or write the table first."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_sql(source, tmp_path, env={})


def test_query_on_a_missing_table(tmp_path: Path, db: Path) -> None:
    source = sql(url="sqlite:///data/app.db", query="select * from nope")
    with pytest.raises(DataError, match=r"\(data\.source\.query\): no such table: nope\."):
        load_sql(source, tmp_path, env={})


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    source = sql(url="sqlite:///data/missing.db", table="t")
    expected = (
        f"SQLite database {tmp_path / 'data' / 'missing.db'} not found (no such file); "
        "data.source.url points at it."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}"):
        load_sql(source, tmp_path, env={})
    assert not (tmp_path / "data" / "missing.db").exists()


@pytest.mark.parametrize(
    ("fields", "variable", "config_key"),
    [
        ({"url_env": "APP_DB"}, "APP_DB", "data.source.url_env"),
        (
            {"url": "sqlite:///x.db", "username_env": "DB_USER"},
            "DB_USER",
            "data.source.username_env",
        ),
        (
            {"url": "sqlite:///x.db", "password_env": "DB_PASS"},
            "DB_PASS",
            "data.source.password_env",
        ),
    ],
)
def test_missing_env_var_names_it_and_the_key(
    tmp_path: Path, fields: dict[str, str], variable: str, config_key: str
) -> None:
    source = sql(table="customers", **fields)
    expected = f"environment variable {variable} is not set; {config_key} names it"
    with pytest.raises(DataError, match=f"^{re.escape(expected)}.*export {variable}="):
        load_sql(source, tmp_path, env={"OTHER": "1"})


def test_empty_env_var(tmp_path: Path) -> None:
    source = sql(url_env="APP_DB", table="customers")
    with pytest.raises(DataError, match=r"^environment variable APP_DB is empty; data\.source"):
        load_sql(source, tmp_path, env={"APP_DB": ""})


def test_invalid_url_from_env_is_not_echoed(tmp_path: Path) -> None:
    source = sql(url_env="APP_DB", table="customers")
    with pytest.raises(DataError, match=r"^the URL in environment variable APP_DB") as info:
        load_sql(source, tmp_path, env={"APP_DB": "not a url hunter2"})
    assert "hunter2" not in str(info.value)


def test_missing_driver(tmp_path: Path) -> None:
    source = sql(url="nosuchdb://host/db", table="t")
    with pytest.raises(DataError, match=r"^no database driver for nosuchdb://host/db"):
        load_sql(source, tmp_path, env={})


def test_collect_with_a_join_source_names_its_key(tmp_path: Path, db: Path) -> None:
    cfg = DataConfig.model_validate(
        {
            "source": {"type": "sql", "url": "sqlite:///data/app.db", "table": "customers"},
            "joins": [
                {"source": {"type": "sql", "url_env": "NOPE", "table": "x"}, "on": ["customer_id"]}
            ],
        }
    )
    with pytest.raises(DataError, match=r"data\.joins\[0\]\.source\.url_env names it"):
        collect(cfg, tmp_path, env={})


def test_collect_reads_env_only_from_the_argument(
    tmp_path: Path, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_DB", f"sqlite:///{db}")
    cfg = DataConfig(source=sql(url_env="APP_DB", table="customers"))
    with pytest.raises(DataError, match=r"^environment variable APP_DB is not set"):
        collect(cfg, tmp_path)
    assert len(collect(cfg, tmp_path, env={"APP_DB": f"sqlite:///{db}"}).frame) == 4


def test_empty_result_without_incremental_is_an_error(tmp_path: Path, db: Path) -> None:
    cfg = DataConfig(
        source=sql(url="sqlite:///data/app.db", query="select * from customers where 0")
    )
    with pytest.raises(DataError, match=r"query=select \* from customers where 0 returned no rows"):
        collect(cfg, tmp_path)


# --------------------------------------------------------------------------------------------
# incremental push-down


@pytest.mark.parametrize(
    "fields",
    [
        {"table": "customers"},
        {"query": "select * from customers where spend > :low;", "params": {"low": 1}},
    ],
    ids=["table", "query"],
)
def test_incremental_filter_runs_in_the_database(
    tmp_path: Path, db: Path, fields: dict[str, object]
) -> None:
    cfg = DataConfig(
        source=sql(url="sqlite:///data/app.db", **fields),
        incremental=Incremental(column="signup_at"),
    )

    data = collect(cfg, tmp_path, since="2024-02-01")

    assert data.frame["customer_id"].tolist() == [3, 4]
    assert data.watermark == "2024-04-01"
    assert data.origin.endswith(" where signup_at > 2024-02-01")


def test_incremental_push_down_binds_the_watermark(tmp_path: Path, db: Path) -> None:
    cfg = DataConfig(
        source=sql(url="sqlite:///data/app.db", table="customers"),
        incremental=Incremental(column="signup_at"),
    )
    # an injection attempt compares as a plain string: every date sorts after "'"
    data = collect(cfg, tmp_path, since="' or 1=1 --")
    assert len(data.frame) == 4


def test_incremental_with_nothing_new_keeps_the_watermark(tmp_path: Path, db: Path) -> None:
    cfg = DataConfig(
        source=sql(url="sqlite:///data/app.db", table="customers"),
        incremental=Incremental(column="signup_at"),
    )
    data = collect(cfg, tmp_path, since="2024-04-01")
    assert len(data.frame) == 0
    assert list(data.frame.columns) == list(CUSTOMERS.columns)
    assert data.watermark == "2024-04-01"


def test_incremental_unknown_column_in_the_database(tmp_path: Path, db: Path) -> None:
    cfg = DataConfig(
        source=sql(url="sqlite:///data/app.db", table="customers"),
        incremental=Incremental(column="updated_at"),
    )
    with pytest.raises(
        DataError,
        match=r"no such column: updated_at\. The rows are filtered on data\.incremental\.column",
    ):
        collect(cfg, tmp_path, since="2024-01-01")


def test_refused_connection_hides_the_password(tmp_path: Path) -> None:
    needs.module("psycopg")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    source = sql(
        url=f"postgresql://127.0.0.1:{closed}/shop",
        username_env="DB_USER",
        password_env="DB_PASS",
        table="customers",
        timeout_seconds=2,
    )
    expected = (
        f"cannot connect to postgresql+psycopg://ann:***@127.0.0.1:{closed}/shop (data.source) "
        "to read table 'customers': "
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}.*refused") as info:
        load_sql(source, tmp_path, env={"DB_USER": "ann", "DB_PASS": "hunter2"})
    message = str(info.value)
    assert message.endswith(
        "Check that the database server is running and reachable and that the credentials in "
        "DB_USER and DB_PASS are right."
    )
    assert "hunter2" not in message


def test_load_source_is_public(tmp_path: Path, db: Path) -> None:
    from loopml.data import load_source

    data = load_source(sql(url="sqlite:///data/app.db", table="customers"), tmp_path)
    assert data.n_rows == 4
    assert data.watermark is None
