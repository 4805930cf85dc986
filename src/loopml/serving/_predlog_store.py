"""The prediction log's database: its tables, opening it, and reading it back.

Three tables, created on first use in any SQLAlchemy database (SQLite and PostgreSQL are
tested):

- ``loopml_predictions``: one row per predicted instance; ``request_id`` is the primary key,
  ``time`` (UTC) and ``model_version`` are indexed for the monitoring queries; ``variant``
  names who answered (``champion``, or ``challenger``/``shadow`` in an online comparison).
- ``loopml_feedback``: the late label of a prediction, one per request id (a newer label
  replaces an older one). A shadow prediction is logged under its request's id plus
  :data:`SHADOW_SUFFIX` (the id is the primary key) and reads the label of the request's id,
  so one label counts for both variants.
- ``loopml_log_meta``: the schema version, so an older loopml refuses a log that a newer one
  laid out differently instead of misreading it.

Schema versions: 1 had no ``variant`` column; 2 adds it (opening a version-1 log adds the
column, its rows read as ``champion``, and records version 2).
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL, make_url

from loopml.errors import LoopmlError

log = logging.getLogger(__name__)

#: The layout this loopml writes; a log with a higher number was made by a newer loopml.
SCHEMA_VERSION = 2
#: Who answered a prediction when no one says otherwise.
DEFAULT_VARIANT = "champion"
#: The default log: a SQLite file in the workspace, apart from the MLflow database.
DEFAULT_URL = "sqlite:///.loopml/predictions.db"
#: request ids are looked up in chunks of this many (SQLite allows 32766 bound parameters)
_CHUNK = 500
#: Longest request id stored: the service takes ids of up to 128 characters from
#: ``X-Request-ID`` and suffixes ``-<index>`` per instance.
MAX_ID_LENGTH = 200
#: A shadow prediction's request id: the champion's, plus this (see :func:`shadow_id`).
SHADOW_SUFFIX = "#shadow"
SHADOW_VARIANT = "shadow"


def shadow_id(request_id: str) -> str:
    """The id a shadow prediction of ``request_id`` is logged under."""
    return request_id + SHADOW_SUFFIX


class PredictionLogError(LoopmlError, RuntimeError):
    """The prediction log cannot be opened, or refused a write."""


metadata = sa.MetaData()
_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

predictions = sa.Table(
    "loopml_predictions",
    metadata,
    sa.Column("request_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("features", _json, nullable=False),
    sa.Column("prediction", _json),
    sa.Column("probabilities", _json),
    sa.Column("latency_ms", sa.Float),
    # schema version 2; added to version-1 logs with this default, see _upgrade
    sa.Column("variant", sa.String(20), nullable=True, server_default=DEFAULT_VARIANT),
    sa.Index("ix_loopml_predictions_time", "time"),
    sa.Index("ix_loopml_predictions_version_time", "model_version", "time"),
)

feedback = sa.Table(
    "loopml_feedback",
    metadata,
    sa.Column("request_id", sa.String(MAX_ID_LENGTH), primary_key=True),
    sa.Column("label", _json),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_loopml_feedback_time", "time"),
)

meta = sa.Table(
    "loopml_log_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


@dataclass(frozen=True)
class LoggedRow:
    """A logged prediction with its label, as :func:`read_between` returns it."""

    request_id: str
    time: float
    model_version: str
    features: dict[str, Any]
    prediction: Any
    probabilities: dict[str, float] | None
    latency_ms: float | None
    label: Any = None
    label_time: float | None = None
    variant: str = DEFAULT_VARIANT

    @property
    def has_label(self) -> bool:
        return self.label_time is not None

    @property
    def label_id(self) -> str:
        """The request id the label is stored under: a shadow row's is its champion's."""
        if self.variant == SHADOW_VARIANT and self.request_id.endswith(SHADOW_SUFFIX):
            return self.request_id[: -len(SHADOW_SUFFIX)]
        return self.request_id


# ---------------------------------------------------------------------- opening


def parse_url(url: str | URL, base_dir: Path) -> URL:
    """The SQLAlchemy URL of the log; a relative SQLite path starts at ``base_dir``."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except sa_exc.ArgumentError as exc:
            raise PredictionLogError(
                f"the prediction log URL {url!r} is not a database URL. Use e.g. "
                f"{DEFAULT_URL} (the default) or postgresql://host:5432/database."
            ) from exc
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise PredictionLogError(
            f"the prediction log supports SQLite and PostgreSQL, not {url.get_backend_name()} "
            f"({shown(url)}); use one of those."
        )
    if url.drivername == "postgresql" and _has_psycopg3_only():
        url = url.set(drivername="postgresql+psycopg")  # psycopg 3, from loopml[postgres]
    if url.get_backend_name() == "sqlite":
        url = _sqlite_file(url, base_dir)
    return url


def _has_psycopg3_only() -> bool:
    find = importlib.util.find_spec
    return find("psycopg2") is None and find("psycopg") is not None


def _sqlite_file(url: URL, base_dir: Path) -> URL:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise PredictionLogError(
            f"the prediction log needs a SQLite file, got {shown(url)!r}: an in-memory "
            f"database vanishes with the process. Use e.g. {DEFAULT_URL}."
        )
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        raise PredictionLogError(
            f"the prediction log {path} is a directory; name a file, e.g. {path / 'predictions.db'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PredictionLogError(
            f"cannot create the directory {path.parent} of the prediction log: {exc}. "
            "Fix the path or the permissions."
        ) from exc
    return url.set(database=str(path))


def shown(url: URL) -> str:
    """The URL as messages show it: never the password."""
    return url.render_as_string(hide_password=True)


def create_engine(
    url: URL, *, json_serializer: Callable[[Any], str], timeout: float = 10.0
) -> sa.Engine:
    """An engine for the log; SQLite in WAL mode so readers never wait for the writer."""
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args = {"timeout": 30.0, "check_same_thread": False}
    elif backend in ("postgresql", "mysql", "mariadb"):
        connect_args = {"connect_timeout": max(1, int(timeout))}
    try:
        engine = sa.create_engine(
            url,
            connect_args=connect_args,
            pool_pre_ping=True,
            json_serializer=json_serializer,
        )
    except (sa_exc.NoSuchModuleError, ImportError) as exc:
        extra = " (pip install 'loopml[postgres]')" if backend == "postgresql" else ""
        raise PredictionLogError(
            f"no database driver for the prediction log {shown(url)}: {exc}. Install the "
            f"driver for {backend}{extra}, or name one in the URL, e.g. postgresql+psycopg://..."
        ) from exc
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: a committed batch survives a killed process; readers do not block the writer
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def prepare(engine: sa.Engine) -> None:
    """Connect, refuse a log laid out by a newer loopml, create what is missing."""
    url = engine.url
    for attempt in range(3):
        try:
            _prepare_once(engine)
            return
        except sa_exc.SQLAlchemyError as exc:
            # two workers starting at once both create the tables: the later one retries
            text = str(exc)
            racing = (
                isinstance(exc, sa_exc.IntegrityError)
                or "already exists" in text
                or "duplicate column" in text  # two workers upgrading one SQLite log
            )
            if racing and attempt < 2:
                continue
            raise PredictionLogError(
                f"cannot open the prediction log at {shown(url)}: {reason(exc)}. Check that the "
                "database server is running and reachable, and that the URL names the right "
                "host, port, user and database (and the user may create tables there)."
            ) from exc


def _prepare_once(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        found = _stored_version(conn)
        if found is not None and found > SCHEMA_VERSION:
            raise PredictionLogError(
                f"the prediction log at {shown(engine.url)} was created by a newer loopml "
                f"(schema version {found}; this loopml knows up to {SCHEMA_VERSION}). Upgrade "
                "loopml, or point the service at another prediction log."
            )
        metadata.create_all(conn, checkfirst=True)
        _upgrade(conn)
        if found is None:
            conn.execute(meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
        elif found < SCHEMA_VERSION:
            conn.execute(
                meta.update()
                .where(meta.c.name == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )
            log.info(
                "prediction log at %s upgraded from schema version %d to %d",
                shown(engine.url),
                found,
                SCHEMA_VERSION,
            )


def _upgrade(conn: sa.Connection) -> None:
    """Add what older layouts lack: version 2's ``variant`` column (rows read as champion)."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns(predictions.name)}
    if "variant" in columns:
        return
    name = conn.dialect.identifier_preparer.quote(predictions.name)
    exists = " IF NOT EXISTS" if conn.dialect.name == "postgresql" else ""
    conn.execute(
        sa.text(
            f"ALTER TABLE {name} ADD COLUMN{exists} variant VARCHAR(20) DEFAULT '{DEFAULT_VARIANT}'"
        )
    )


def _stored_version(conn: sa.Connection) -> int | None:
    if not sa.inspect(conn).has_table(meta.name):
        return None
    value = conn.execute(
        sa.select(meta.c.value).where(meta.c.name == "schema_version")
    ).scalar_one_or_none()
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise PredictionLogError(
            f"the prediction log's {meta.name} table holds schema_version {value!r}, not a "
            "number; it was not written by loopml. Point the service at another database."
        ) from None


def reason(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and links."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    text = text.split("\n(Background on this error")[0].split("\n[SQL:")[0]
    return " ".join(text.split()).rstrip(".")


# ---------------------------------------------------------------------- writing and reading


def as_time(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def as_seconds(value: dt.datetime) -> float:
    """Seconds since the epoch; SQLite gives back the UTC time without its zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def known_ids(conn: sa.Connection, ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` the log holds a prediction for."""
    found: set[str] = set()
    for part in chunks(ids):
        rows = conn.execute(
            sa.select(predictions.c.request_id).where(predictions.c.request_id.in_(part))
        )
        found.update(str(r[0]) for r in rows)
    return found


def insert_ignoring_duplicates(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert predictions; a request id already logged keeps its first row."""
    conn.execute(_dialect_insert(conn, predictions).on_conflict_do_nothing(), rows)


def upsert_labels(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Store labels; a request id labelled before gets the new label and time."""
    statement = _dialect_insert(conn, feedback)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[feedback.c.request_id],
            set_={"label": statement.excluded.label, "time": statement.excluded.time},
        ),
        rows,
    )


def _dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise PredictionLogError(
        f"the prediction log supports SQLite and PostgreSQL, not {name}; use one of those."
    )


def read_between(
    conn: sa.Connection,
    start: float,
    end: float,
    model_version: str | None = None,
    variant: str | None = None,
) -> list[LoggedRow]:
    """Predictions with ``start <= time < end`` (seconds since the epoch), oldest first,
    each with its label where one arrived; only ``model_version``'s and ``variant``'s when
    given."""
    query = (
        sa.select(predictions, feedback.c.label, feedback.c.time.label("label_time"))
        .select_from(predictions.outerjoin(feedback, feedback.c.request_id == _label_key()))
        .where(predictions.c.time >= as_time(start), predictions.c.time < as_time(end))
        .order_by(predictions.c.time, predictions.c.request_id)
    )
    if model_version is not None:
        query = query.where(predictions.c.model_version == model_version)
    if variant is not None:
        query = query.where(_variant_is(variant))
    return [
        LoggedRow(
            request_id=row.request_id,
            time=as_seconds(row.time),
            model_version=row.model_version,
            features=row.features,
            prediction=row.prediction,
            probabilities=row.probabilities,
            latency_ms=row.latency_ms,
            label=row.label,
            label_time=None if row.label_time is None else as_seconds(row.label_time),
            variant=row.variant or DEFAULT_VARIANT,
        )
        for row in conn.execute(query)
    ]


def _label_key() -> sa.ColumnElement[Any]:
    """The request id a row's label is stored under: its own, or for a shadow row its own
    without :data:`SHADOW_SUFFIX` (an expression of the prediction's columns, so the join
    still looks the label up by the feedback table's primary key)."""
    rid = predictions.c.request_id
    base = sa.func.substr(rid, 1, sa.func.length(rid) - len(SHADOW_SUFFIX))
    is_shadow = sa.and_(
        predictions.c.variant == SHADOW_VARIANT, rid.endswith(SHADOW_SUFFIX, autoescape=True)
    )
    return sa.case((is_shadow, base), else_=rid)


def _variant_is(variant: str) -> sa.ColumnElement[bool]:
    if variant == DEFAULT_VARIANT:  # a row written without a variant is the champion's
        return sa.or_(predictions.c.variant == variant, predictions.c.variant.is_(None))
    return predictions.c.variant == variant


# ---------------------------------------------------------------------- erasure

#: A number as text: what may also be logged as a JSON number (no leading zeros: "007" is an
#: id that only matches as text).
_NUMBER = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$")


def match_texts(values: Sequence[Any]) -> list[str]:
    """The texts a logged value may show for ``values``: each as given and trimmed, and a
    number also in its integer and decimal forms (``7``, ``"7"`` and ``7.0`` match alike)."""
    texts: dict[str, None] = {}
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        text = str(value.item() if hasattr(value, "item") else value)
        for form in (text, text.strip()):
            if form:
                texts[form] = None
        if _NUMBER.match(text.strip()):
            number = decimal.Decimal(text.strip())
            if number == number.to_integral_value():
                whole = int(number)
                texts[str(whole)] = None
                texts[f"{whole}.0"] = None
            else:
                texts[repr(float(number))] = None
    return list(texts)


def matching_ids(conn: sa.Connection, column: str, texts: Sequence[str]) -> list[str]:
    """Request ids of the predictions whose ``features[column]`` reads as one of ``texts``.

    ``->>`` on PostgreSQL's JSONB, ``JSON_EXTRACT`` on SQLite, both read as text, so a JSON
    number matches its text forms (see :func:`match_texts`)."""
    if not texts:
        return []
    value = predictions.c.features[column].as_string()
    found: list[str] = []
    for part in chunks(list(texts)):
        query = sa.select(predictions.c.request_id).where(value.in_(part))
        found.extend(str(r[0]) for r in conn.execute(query))
    return list(dict.fromkeys(found))


def count_labels(conn: sa.Connection, ids: Sequence[str]) -> int:
    """How many of ``ids`` have a label."""
    total = 0
    for part in chunks(ids):
        query = sa.select(sa.func.count()).where(feedback.c.request_id.in_(part))
        total += int(conn.execute(query).scalar_one())
    return total


def delete_ids(conn: sa.Connection, ids: Sequence[str]) -> tuple[int, int]:
    """Delete the predictions ``ids`` and their labels; the numbers of each deleted."""
    n_predictions = n_labels = 0
    for part in chunks(ids):
        n_labels += conn.execute(feedback.delete().where(feedback.c.request_id.in_(part))).rowcount
        n_predictions += conn.execute(
            predictions.delete().where(predictions.c.request_id.in_(part))
        ).rowcount
    return n_predictions, n_labels


def logged_columns(conn: sa.Connection) -> list[str]:
    """The feature names any logged prediction holds (a scan of the log), sorted."""
    if conn.dialect.name == "postgresql":
        query = sa.text("SELECT DISTINCT jsonb_object_keys(features) FROM loopml_predictions")
    else:
        query = sa.text("SELECT DISTINCT j.key FROM loopml_predictions, json_each(features) AS j")
    return sorted(str(r[0]) for r in conn.execute(query))
