"""SQL sources against a real PostgreSQL server (started by tests/services/conftest.py)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from loopml.config import DataConfig, SqlSource
from loopml.data import collect
from loopml.errors import DataError

if TYPE_CHECKING:
    from tests.services.conftest import PostgresServer

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def customers(postgres: PostgresServer) -> Iterator[PostgresServer]:
    """A customers table owned by the test user."""
    with postgres.admin_connect() as conn:
        conn.execute(f"SET ROLE {postgres.user}")
        conn.execute(
            "CREATE TABLE customers (customer_id integer PRIMARY KEY, plan text, "
            "spend numeric(10, 2), signup_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO customers VALUES "
            "(1, 'basic', 10.50, '2024-01-01T00:00Z'), (2, 'pro', 99.00, '2024-02-01T00:00Z'), "
            "(3, 'pro', 120.00, '2024-03-01T00:00Z'), (4, 'basic', 5.00, '2024-04-01T00:00Z')"
        )
    yield postgres
    with postgres.admin_connect() as conn:
        conn.execute("DROP TABLE customers")


def env_for(server: PostgresServer, password: str | None = None) -> dict[str, str]:
    return {"SHOP_DB_USER": server.user, "SHOP_DB_PASSWORD": password or server.password}


def source(server: PostgresServer, **fields: object) -> SqlSource:
    return SqlSource.model_validate(
        {
            "type": "sql",
            "url": server.url,
            "username_env": "SHOP_DB_USER",
            "password_env": "SHOP_DB_PASSWORD",
            **fields,
        }
    )


def test_load_a_table_with_credentials_from_env(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig(source=source(customers, table="customers"))
    assert customers.password not in customers.url

    data = collect(cfg, tmp_path, env=env_for(customers))

    assert data.frame["customer_id"].tolist() == [1, 2, 3, 4]
    assert data.frame["plan"].tolist() == ["basic", "pro", "pro", "basic"]
    assert data.frame["spend"].tolist() == [10.5, 99.0, 120.0, 5.0]
    assert data.frame["signup_at"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert data.origin == (
        f"sql:postgresql+psycopg://{customers.host}:{customers.port}/loopml_test table=customers"
    )


def test_schema_qualified_table(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig(source=source(customers, table="public.customers"))
    assert len(collect(cfg, tmp_path, env=env_for(customers)).frame) == 4


def test_query_with_parameters(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig(
        source=source(
            customers,
            query="SELECT customer_id, spend FROM customers "
            "WHERE plan = :plan AND spend > :low ORDER BY customer_id",
            params={"plan": "pro", "low": 100},
        )
    )
    data = collect(cfg, tmp_path, env=env_for(customers))
    assert data.frame.to_dict("list") == {"customer_id": [3], "spend": [120.0]}


def test_whole_url_from_env(customers: PostgresServer, tmp_path: Path) -> None:
    from urllib.parse import quote

    secret_url = (
        f"postgresql://{customers.user}:{quote(customers.password, safe='')}"
        f"@{customers.host}:{customers.port}/{customers.database}"
    )
    cfg = DataConfig(source=SqlSource(type="sql", url_env="SHOP_DB_URL", table="customers"))
    data = collect(cfg, tmp_path, env={"SHOP_DB_URL": secret_url})
    assert len(data.frame) == 4
    assert customers.password not in data.origin
    assert quote(customers.password, safe="") not in data.origin


def test_incremental_filter_in_the_database(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig.model_validate(
        {
            "source": source(customers, table="customers").model_dump(),
            "incremental": {"column": "signup_at"},
        }
    )
    first = collect(
        cfg, tmp_path, env=env_for(customers), since=pd.Timestamp("2024-02-15", tz="UTC")
    )
    assert first.frame["customer_id"].tolist() == [3, 4]
    assert first.watermark == pd.Timestamp("2024-04-01", tz="UTC")

    again = collect(cfg, tmp_path, env=env_for(customers), since=first.watermark.isoformat())
    assert len(again.frame) == 0
    assert again.watermark == first.watermark.isoformat()


def test_wrong_password(customers: PostgresServer, tmp_path: Path) -> None:
    wrong = "not-the-password-" + customers.password[::-1]
    cfg = DataConfig(source=source(customers, table="customers"))
    expected = (
        f"cannot connect to postgresql+psycopg://{customers.user}:***@{customers.host}:"
        f"{customers.port}/loopml_test (data.source) to read table 'customers': "
    )
    with pytest.raises(
        DataError, match=f"^{re.escape(expected)}.*password authentication failed"
    ) as info:
        collect(cfg, tmp_path, env=env_for(customers, password=wrong))
    message = str(info.value)
    assert wrong not in message
    assert customers.password not in message
    assert "credentials in SHOP_DB_USER and SHOP_DB_PASSWORD" in message


def test_refused_connection(customers: PostgresServer, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    cfg = DataConfig(
        source=SqlSource(
            type="sql",
            url=f"postgresql://127.0.0.1:{closed}/loopml_test",
            username_env="SHOP_DB_USER",
            password_env="SHOP_DB_PASSWORD",
            table="customers",
            timeout_seconds=3,
        )
    )
    expected = f"cannot connect to postgresql+psycopg://{customers.user}:***@127.0.0.1:{closed}/"
    with pytest.raises(
        DataError,
        match=f"^{re.escape(expected)}.*Connection refused.*Check that the database server",
    ) as info:
        collect(cfg, tmp_path, env=env_for(customers))
    assert customers.password not in str(info.value)


def test_unknown_table(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig(source=source(customers, table="custmers"))
    with pytest.raises(
        DataError, match=r"^table 'custmers' not found in .*Tables there: customers\."
    ):
        collect(cfg, tmp_path, env=env_for(customers))


def test_bad_query(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig(source=source(customers, query="SELEC * FROM customers"))
    with pytest.raises(
        DataError,
        match=r"^the query failed on .*\(data\.source\.query\): syntax error at or near \"SELEC\"",
    ) as info:
        collect(cfg, tmp_path, env=env_for(customers))
    assert customers.password not in str(info.value)


def test_missing_password_variable(customers: PostgresServer, tmp_path: Path) -> None:
    cfg = DataConfig(source=source(customers, table="customers"))
    with pytest.raises(
        DataError,
        match=r"^environment variable SHOP_DB_PASSWORD is not set; data\.source\.password_env",
    ):
        collect(cfg, tmp_path, env={"SHOP_DB_USER": customers.user})
