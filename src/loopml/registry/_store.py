"""The tracking store under the registry: opening it safely, showing its URI, locking it.

- :func:`shown_uri` and :func:`scrub`: a PostgreSQL URI may carry a password; no message,
  log line or error shows it.
- :func:`open_client`: MLflow creates (or migrates) its tables on the first open of a
  database; two trainings starting at once both try, and one fails on the other's half-made
  table. Opening holds the store's lock, and a loser that still fails opens again.
- :func:`exclusive`: publishing a version (reading the aliases, moving one, tagging the
  versions involved) is one critical section across processes, so two trainings registering at
  once cannot interleave their alias moves: a PostgreSQL advisory lock on PostgreSQL, a file
  lock next to a SQLite store, nothing for a tracking server (MLflow's server has no locks).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

from loopml.errors import RegistryError

log = logging.getLogger(__name__)

#: how often, and after how long, opening an empty store is tried again
_OPEN_ATTEMPTS = 6
_OPEN_PAUSE = 0.5
#: the longest a publication waits for another one to finish
LOCK_TIMEOUT = 120.0


def shown_uri(uri: str) -> str:
    """``uri`` with its password replaced by ``***``.

    Examples
    --------
    >>> shown_uri("postgresql://ml:s%40cret@db:5432/mlflow")
    'postgresql://ml:***@db:5432/mlflow'
    >>> shown_uri("sqlite:////srv/mlflow.db")
    'sqlite:////srv/mlflow.db'
    """
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def scrub(text: str, uri: str) -> str:
    """``text`` without the password of ``uri``, in any spelling it may appear in."""
    password = urlsplit(uri).password
    if not password:
        return text
    text = text.replace(uri, shown_uri(uri))
    plain = unquote(password)
    for secret in sorted({password, plain, quote(plain, safe=""), quote_plus(plain)}, key=len)[
        ::-1
    ]:
        text = text.replace(secret, "***")
    return text


def open_client(uri: str) -> Any:
    """MLflow's client on ``uri`` (tracking and registry), its tables made if need be."""
    from mlflow import MlflowClient

    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            # one process at a time creates or migrates MLflow's tables
            with exclusive(uri, "mlflow-store"):
                return MlflowClient(tracking_uri=uri, registry_uri=uri)
        except Exception as exc:
            if attempt + 1 < _OPEN_ATTEMPTS and _is_creation_race(exc):
                log.debug("another process is creating the tables of %s; waiting", shown_uri(uri))
                time.sleep(_OPEN_PAUSE * (attempt + 1))
                continue
            raise RegistryError(
                f"cannot open the MLflow store {shown_uri(uri)} (tracking.uri): "
                f"{scrub(_one_line(exc), uri)}. Check that the database server is running and "
                "that the URI names the right host, port, user and database."
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _is_creation_race(exc: BaseException) -> bool:
    text = str(exc)
    return any(
        sign in text
        for sign in (
            "already exists",
            "UniqueViolation",
            "DuplicateTable",
            "database is locked",
            "Online migration",
        )
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).split("\n[SQL:")[0].split("\n(Background on this error")[0]
    return " ".join(text.split()).rstrip(".")


@contextlib.contextmanager
def exclusive(uri: str, name: str) -> Iterator[None]:
    """Hold the store-wide lock named ``name`` (one per registered model) while inside.

    Locks of different names are independent; one name is not re-entrant (a nested take of
    the same name waits for itself), so open the client before taking a model's lock.
    """
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        with _file_lock(path.with_name(f"{path.name}.{_key(name) & 0xFFFFFFFF:08x}.lock")):
            yield
    elif uri.startswith(("postgresql:", "postgresql+", "postgres:")):
        with _advisory_lock(uri, name):
            yield
    else:
        yield


def _key(name: str) -> int:
    """A signed 64-bit number for ``name`` (PostgreSQL's advisory lock keys are bigint)."""
    digest = hashlib.sha256(f"loopml:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: SQLite serialises the writes themselves
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(_busy(str(path))) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _advisory_lock(uri: str, name: str) -> Iterator[None]:
    import sqlalchemy as sa

    key = _key(name)
    try:
        engine = sa.create_engine(uri, poolclass=sa.pool.NullPool)
        conn = engine.connect()
    except Exception as exc:
        raise RegistryError(
            f"cannot open the MLflow store {shown_uri(uri)} (tracking.uri) to lock it: "
            f"{scrub(_one_line(exc), uri)}"
        ) from exc
    try:
        conn.execute(sa.text(f"SET lock_timeout = '{int(LOCK_TIMEOUT * 1000)}ms'"))
        try:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        except sa.exc.OperationalError as exc:
            raise RegistryError(_busy(shown_uri(uri))) from exc
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()
    finally:
        conn.close()
        engine.dispose()


def _busy(where: str) -> str:
    return (
        f"another loopml process has been publishing a model in {where} for more than "
        f"{LOCK_TIMEOUT:.0f} s; nothing was changed. Try again once it is done."
    )
