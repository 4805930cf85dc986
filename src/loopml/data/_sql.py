"""SQL sources through SQLAlchemy: a table or a parameterised query into a :class:`DataSet`.

Credentials never come from the project file: ``url`` holds no password, ``username_env`` and
``password_env`` (or ``url_env`` for the whole URL) name environment variables, read from the
``env`` mapping the caller passes. No message shows a password.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from loopml.config import SqlSource
from loopml.data._sources import fingerprint
from loopml.errors import DataError
from loopml.types import DataSet

log = logging.getLogger(__name__)


def load_sql(
    source: SqlSource,
    base_dir: Path,
    *,
    env: Mapping[str, str],
    key: str = "data.source",
    newer_than: tuple[str, Any] | None = None,
) -> DataSet:
    """Read ``source.table`` or run ``source.query`` (with bound ``params``).

    ``newer_than=(column, value)`` adds ``WHERE column > :value`` around the table or query,
    so only new rows leave the database. Relative SQLite paths resolve against ``base_dir``.
    """
    url = database_url(source, base_dir, env=env, key=key)
    secrets = _secrets(url)
    shown = url.render_as_string(hide_password=True)
    what = f"table {source.table!r}" if source.table is not None else "the query"
    engine = _engine(url, source.timeout_seconds, shown, key)
    try:
        try:
            conn = engine.connect()
        except sa_exc.SQLAlchemyError as exc:
            raise DataError(
                _scrub(
                    f"cannot connect to {shown} ({key}) to read {what}: {_reason(exc)}. "
                    f"{_connect_hint(source, key)}",
                    secrets,
                )
            ) from exc
        with conn:
            statement, params = _statement(source, conn, newer_than, shown, key)
            try:
                result = conn.execute(statement, params)
                columns = list(result.keys())
                rows = result.fetchall()
            except sa_exc.SQLAlchemyError as exc:
                raise DataError(
                    _scrub(_query_failed(source, exc, shown, key, newer_than), secrets)
                ) from exc
    finally:
        engine.dispose()
    frame = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
    origin = f"sql:{_plain(url)} " + (
        f"table={source.table}" if source.table is not None else f"query={_one_line(source.query)}"
    )
    log.info("loaded %d rows x %d columns from %s", len(frame), frame.shape[1], origin)
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


def database_url(
    source: SqlSource, base_dir: Path, *, env: Mapping[str, str], key: str = "data.source"
) -> URL:
    """The SQLAlchemy URL with credentials from ``env``; SQLite paths made absolute."""
    if source.url_env is not None:
        raw = _env(env, source.url_env, f"{key}.url_env", "the database URL")
        where = f"the URL in environment variable {source.url_env} ({key}.url_env)"
    else:
        raw = source.url or ""
        where = f"{key}.url"
    try:
        url = make_url(raw)
    except sa_exc.ArgumentError as exc:
        shown = where if source.url_env else f"{key}.url {raw!r}"
        raise DataError(
            f"{shown} is not a database URL: expected e.g. "
            "postgresql://host:5432/dbname or sqlite:///data/app.db."
        ) from exc
    if source.username_env is not None:
        url = url.set(
            username=_env(env, source.username_env, f"{key}.username_env", "the user name")
        )
    if source.password_env is not None:
        url = url.set(
            password=_env(env, source.password_env, f"{key}.password_env", "the password")
        )
    if url.drivername == "postgresql" and _has_psycopg3_only():
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3, from loopml[postgres]
    if url.get_backend_name() == "sqlite":
        url = _sqlite_path(url, base_dir, where)
    return url


def _has_psycopg3_only() -> bool:
    find = importlib.util.find_spec
    return find("psycopg2") is None and find("psycopg") is not None


def _env(env: Mapping[str, str], name: str, config_key: str, what: str) -> str:
    value = env.get(name)
    if value is None or value == "":
        state = "is empty" if value == "" else "is not set"
        raise DataError(
            f"environment variable {name} {state}; {config_key} names it to hold {what}. "
            f"Set it before running (export {name}=...), or fix {config_key}."
        )
    return value


def _sqlite_path(url: URL, base_dir: Path, where: str) -> URL:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return url
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        # SQLite would quietly create an empty database and then miss every table
        hint = "it is a directory" if path.is_dir() else "no such file"
        raise DataError(
            f"SQLite database {path} not found ({hint}); {where} points at it. Fix the path "
            "(relative paths start at the project directory: sqlite:///data/app.db)."
        )
    return url.set(database=str(path))


def _engine(url: URL, timeout: float, shown: str, key: str) -> sa.Engine:
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = timeout
    elif backend in ("postgresql", "mysql", "mariadb"):
        connect_args["connect_timeout"] = max(1, math.ceil(timeout))
    try:
        return sa.create_engine(url, connect_args=connect_args, poolclass=NullPool)
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        extra = " (pip install 'loopml[postgres]')" if backend == "postgresql" else ""
        raise DataError(
            f"no database driver for {shown} ({key}.url): {exc}. Install the driver for "
            f"{backend}{extra}, or name one in the URL, e.g. postgresql+psycopg://..."
        ) from exc


def _statement(
    source: SqlSource,
    conn: sa.Connection,
    newer_than: tuple[str, Any] | None,
    shown: str,
    key: str,
) -> tuple[Any, dict[str, Any]]:
    """The SELECT to run and its bound parameters."""
    if source.table is not None:
        schema, _, name = source.table.rpartition(".")
        _check_table(conn, name, schema or None, shown, key)
        statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
        if newer_than is not None:
            column, value = newer_than
            statement = statement.where(
                sa.column(column)
                > sa.bindparam("loopml_since", _bindable(value), type_=sa.types.NullType())
            )
        return statement, {}
    params = dict(source.params)
    query = re.sub(r"[\s;]+$", "", source.query or "")
    if newer_than is not None:
        column, value = newer_than
        quoted = conn.dialect.identifier_preparer.quote(column)
        query = f"SELECT * FROM ({query}) AS loopml_source WHERE {quoted} > :loopml_since"
        params["loopml_since"] = _bindable(value)
    return sa.text(query), params


def _check_table(conn: sa.Connection, name: str, schema: str | None, shown: str, key: str) -> None:
    inspector = sa.inspect(conn)
    if inspector.has_table(name, schema=schema):
        return
    try:
        names = sorted(inspector.get_table_names(schema=schema))
        names += sorted(inspector.get_view_names(schema=schema))
    except sa_exc.SQLAlchemyError:  # pragma: no cover - listing is only a hint
        names = []
    if name in names:
        return
    listing = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") if names else "none"
    where = f"schema {schema!r} of " if schema else ""
    raise DataError(
        f"table {name!r} not found in {where}{shown} ({key}.table). Tables there: {listing}. "
        f"Fix {key}.table, or write the table first."
    )


def _bindable(value: Any) -> Any:
    """A watermark as a value database drivers bind (datetime, not pandas Timestamp)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value


def _query_failed(
    source: SqlSource,
    exc: sa_exc.SQLAlchemyError,
    shown: str,
    key: str,
    newer_than: tuple[str, Any] | None,
) -> str:
    reason = _reason(exc)
    incremental = ""
    if newer_than is not None:
        incremental = (
            f" The rows are filtered on data.incremental.column {newer_than[0]!r}, which must be "
            f"a column of {key}."
        )
    if source.table is not None:
        return (
            f"reading table {source.table!r} from {shown} failed ({key}.table): {reason}."
            f"{incremental} Check the table and your rights to read it."
        )
    params = f" with params {sorted(source.params)}" if source.params else ""
    return (
        f"the query{params} failed on {shown} ({key}.query): {reason}.{incremental}\n"
        f"query: {_one_line(source.query, 500)}\n"
        f"Fix {key}.query; bind values as :name with {key}.params."
    )


def _reason(exc: sa_exc.SQLAlchemyError) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and links."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    text = text.split("\n(Background on this error")[0].split("\n[SQL:")[0]
    return " ".join(text.split()).rstrip(".")


def _connect_hint(source: SqlSource, key: str) -> str:
    names = [n for n in (source.username_env, source.password_env) if n]
    creds = (
        f" and that the credentials in {' and '.join(names)} are right" if names else ""
    ) or f" and that {key}.url names the right host, port, user and database"
    return f"Check that the database server is running and reachable{creds}."


def _secrets(url: URL) -> list[str]:
    password = url.password
    if not password:
        return []
    text = str(password)
    return [text, quote_plus(text), quote(text, safe="")]


def _scrub(message: str, secrets: list[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            message = message.replace(secret, "***")
    return message


def _plain(url: URL) -> str:
    """The URL without user name and password, for the data set's origin."""
    plain = URL.create(
        url.drivername, host=url.host, port=url.port, database=url.database, query=url.query
    )
    return plain.render_as_string(hide_password=True)


def _one_line(text: str | None, limit: int = 200) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
