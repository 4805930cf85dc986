"""Read a registered model straight from MLflow's SQLite tables, without importing MLflow.

Importing MLflow and opening its store (a schema check through Alembic) takes seconds, more
than everything else ``loopml models list`` or ``loopml score`` does (issue 8: a CLI that starts
at once). For the registry's reads on the default store, a local SQLite file, this module asks
the same tables the same questions MLflow's ``SqlAlchemyStore`` asks, through the standard
library's ``sqlite3``: versions (deleted ones left out), aliases, version tags, the run's latest
metrics, parameters and tags, and where a version's files are.

It answers only when it can answer exactly as MLflow would; otherwise :meth:`StoreReader.open`
returns None, or a read raises :class:`Unsupported`, and the caller asks MLflow's client:

- the URI is not a plain ``sqlite:///`` path to an existing file;
- the database's Alembic revision is not the installed MLflow's head (MLflow would refuse to
  open it) or not one whose tables this module was checked against (:data:`VERIFIED_REVISIONS`),
  or a table or column it reads is missing;
- MLflow would behave differently for reasons of its own: workspaces enabled, or rows outside the
  default workspace (MLflow refuses to start), no default experiment (MLflow would create it),
  a model name MLflow rejects, or a model that is also a prompt (MLflow hides it).

Writes (register, aliases, tags, deletion) always go through MLflow's client.
"""

from __future__ import annotations

import os
import posixpath
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

#: Alembic revisions of MLflow's schema whose tables and columns this module was checked
#: against (by tests/unit/registry/test_store_reader.py, which compares every read with
#: MLflow's client). A newer MLflow adds a revision; until it is added here, MLflow reads.
VERIFIED_REVISIONS = frozenset({"dc11669786a5"})  # MLflow 3.17

#: The columns read, per table; a database without one of them is not the schema expected.
COLUMNS: dict[str, tuple[str, ...]] = {
    "alembic_version": ("version_num",),
    "experiments": ("experiment_id", "workspace"),
    "registered_models": ("workspace", "name"),
    "registered_model_tags": ("workspace", "name", "key", "value"),
    "registered_model_aliases": ("workspace", "name", "alias", "version"),
    "model_versions": (
        "workspace",
        "name",
        "version",
        "creation_time",
        "last_updated_time",
        "current_stage",
        "source",
        "storage_location",
        "run_id",
    ),
    "model_version_tags": ("workspace", "name", "version", "key", "value"),
    "webhooks": ("workspace",),
    "runs": ("run_uuid",),
    "latest_metrics": ("run_uuid", "key", "value", "is_nan"),
    "params": ("run_uuid", "key", "value"),
    "tags": ("run_uuid", "key", "value"),
}

WORKSPACE = "default"  # MLflow's DEFAULT_WORKSPACE_NAME: the only one without workspaces
DELETED = "Deleted_Internal"  # MLflow's STAGE_DELETED_INTERNAL: a deleted version's stage
PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow hides registered models that are prompts
MAX_RESULTS = 10_000  # MlflowClient.search_model_versions' default max_results


class Unsupported(Exception):
    """This read cannot be answered exactly as MLflow would; ask MLflow's client."""


@dataclass(frozen=True)
class StoredVersion:
    """A model version as MLflow's client returns it (the fields loopml uses)."""

    version: str
    run_id: str | None
    creation_timestamp: int | None
    tags: dict[str, str | None] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    download_uri: str | None = None  # storage location, else source (MLflow's download URI)


@dataclass(frozen=True)
class StoredRun:
    """A run's latest metrics, parameters and tags, as in MLflow's ``Run.data``."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str | None] = field(default_factory=dict)


class StoreReader:
    """Read-only view of one registered model in an MLflow SQLite store.

    Build it with :meth:`open`, which checks that this store can be read exactly as MLflow
    reads it. Every read opens the file read-only for its own short transaction, so it sees
    what MLflow's client committed before.

    Examples
    --------
    >>> StoreReader.open("postgresql://db/mlflow", "churn") is None  # not a local file
    True
    """

    def __init__(self, path: Path, model_name: str):
        self.path = path
        self.model_name = model_name

    @classmethod
    def open(cls, uri: str, model_name: str) -> StoreReader | None:
        """A reader for ``model_name`` in the store at ``uri``; None where MLflow must read."""
        path = sqlite_path(uri)
        if path is None or not path.is_file() or _workspaces_enabled():
            return None
        if not _plain_model_name(model_name):
            return None
        head = installed_head()
        if head is None or head not in VERIFIED_REVISIONS:
            return None
        reader = cls(path, model_name)
        try:
            with reader._connect() as con:
                if not reader._looks_like(con, head):
                    return None
        except (sqlite3.Error, Unsupported):
            return None
        return reader

    # ------------------------------------------------------------------ reads

    def versions(self) -> list[StoredVersion]:
        """The model's versions that are not deleted, as ``search_model_versions`` lists them,
        with their aliases (from the registered model)."""
        with self._connect() as con:
            self._check_not_prompt(con)
            rows = con.execute(
                "SELECT version, run_id, creation_time, storage_location, source "
                "FROM model_versions WHERE workspace = ? AND name = ? AND current_stage != ? "
                "ORDER BY last_updated_time DESC, name ASC, version DESC LIMIT ?",
                (WORKSPACE, self.model_name, DELETED, MAX_RESULTS),
            ).fetchall()
            if not rows:
                return []
            if not self._model_exists(con):
                raise Unsupported("versions without their registered model")
            tags = self._version_tags(con)
            aliases = self._aliases(con)
            return [self._version(row, tags, aliases) for row in rows]

    def version(self, version: str | int) -> StoredVersion | None:
        """One version (not deleted) with its tags and aliases; None where MLflow's
        ``get_model_version`` finds none."""
        number = int(version)
        with self._connect() as con:
            self._check_not_prompt(con)
            if not self._model_exists(con):
                return None
            return self._one(con, number)

    def alias(self, alias: str) -> StoredVersion | None:
        """The version ``alias`` points at; None where ``get_model_version_by_alias`` fails."""
        with self._connect() as con:
            self._check_not_prompt(con)
            if not self._model_exists(con):
                return None
            row = con.execute(
                "SELECT version FROM registered_model_aliases "
                "WHERE workspace = ? AND name = ? AND alias = ?",
                (WORKSPACE, self.model_name, alias),
            ).fetchone()
            return None if row is None else self._one(con, int(row[0]))

    def model_tags(self, prefix: str) -> dict[str, str | None]:
        """The registered model's tags whose key starts with ``prefix``; none when there is
        no such model (MLflow's ``get_registered_model`` would fail)."""
        with self._connect() as con:
            self._check_not_prompt(con)
            if not self._model_exists(con):
                return {}
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return dict(
                con.execute(
                    "SELECT key, value FROM registered_model_tags WHERE workspace = ? "
                    "AND name = ? AND key LIKE ? ESCAPE '\\'",
                    (WORKSPACE, self.model_name, escaped + "%"),
                )
            )

    def run(self, run_id: str) -> StoredRun | None:
        """The run's latest metrics, parameters and tags; None if there is no such run."""
        with self._connect() as con:
            if con.execute("SELECT 1 FROM runs WHERE run_uuid = ?", (run_id,)).fetchone() is None:
                return None
            metrics = {
                key: float("nan") if is_nan else value
                for key, value, is_nan in con.execute(
                    "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", (run_id,)
                )
            }
            params = dict(
                con.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))
            )
            tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
        return StoredRun(metrics=metrics, params=params, tags=tags)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        uri = f"file:{quote(str(self.path))}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as con:
            try:
                yield con
            except sqlite3.Error as exc:  # locked, corrupt, changed under us: MLflow decides
                raise Unsupported(f"reading {self.path} failed: {exc}") from exc

    def _looks_like(self, con: sqlite3.Connection, head: str) -> bool:
        """The schema MLflow's head revision has, holding nothing MLflow would act on first."""
        for table, wanted in COLUMNS.items():
            have = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
            if not have.issuperset(wanted):
                return False
        revisions = [row[0] for row in con.execute("SELECT version_num FROM alembic_version")]
        if revisions != [head]:
            return False  # MLflow would refuse an out-of-date schema; let it say so
        for table in ("experiments", "registered_models", "webhooks"):
            outside = con.execute(
                f"SELECT 1 FROM {table} WHERE workspace IS NOT NULL AND workspace != ? LIMIT 1",
                (WORKSPACE,),
            ).fetchone()
            if outside is not None:
                return False  # MLflow refuses to start without workspaces enabled
        # MLflow creates the default experiment when it is missing: a write, so MLflow's job
        default = con.execute("SELECT 1 FROM experiments WHERE experiment_id = 0").fetchone()
        return default is not None

    def _check_not_prompt(self, con: sqlite3.Connection) -> None:
        for table in ("registered_model_tags", "model_version_tags"):
            found = con.execute(
                f"SELECT 1 FROM {table} WHERE workspace = ? AND name = ? AND key = ? LIMIT 1",
                (WORKSPACE, self.model_name, PROMPT_TAG),
            ).fetchone()
            if found is not None:
                raise Unsupported(f"{self.model_name!r} is tagged as a prompt")

    def _model_exists(self, con: sqlite3.Connection) -> bool:
        return (
            con.execute(
                "SELECT 1 FROM registered_models WHERE workspace = ? AND name = ?",
                (WORKSPACE, self.model_name),
            ).fetchone()
            is not None
        )

    def _one(self, con: sqlite3.Connection, number: int) -> StoredVersion | None:
        row = con.execute(
            "SELECT version, run_id, creation_time, storage_location, source "
            "FROM model_versions WHERE workspace = ? AND name = ? AND version = ? "
            "AND current_stage != ?",
            (WORKSPACE, self.model_name, number, DELETED),
        ).fetchone()
        if row is None:
            return None
        return self._version(row, self._version_tags(con, number), self._aliases(con))

    def _version_tags(
        self, con: sqlite3.Connection, number: int | None = None
    ) -> dict[int, dict[str, str | None]]:
        sql = "SELECT version, key, value FROM model_version_tags WHERE workspace = ? AND name = ?"
        args: tuple[object, ...] = (WORKSPACE, self.model_name)
        if number is not None:
            sql, args = sql + " AND version = ?", (*args, number)
        found: dict[int, dict[str, str | None]] = {}
        for version, key, value in con.execute(sql, args):
            found.setdefault(int(version), {})[key] = value
        return found

    def _aliases(self, con: sqlite3.Connection) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for alias, version in con.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?",
            (WORKSPACE, self.model_name),
        ):
            found.setdefault(int(version), []).append(alias)
        return found

    @staticmethod
    def _version(
        row: Any, tags: dict[int, dict[str, str | None]], aliases: dict[int, list[str]]
    ) -> StoredVersion:
        version, run_id, created, storage, source = row
        number = int(version)
        return StoredVersion(
            version=str(number),
            run_id=run_id,
            creation_timestamp=created,
            tags=tags.get(number, {}),
            aliases=tuple(sorted(aliases.get(number, []))),
            download_uri=storage or source,
        )


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:////abs/path.db`` URI; None for anything else (a server, an
    in-memory database, a relative path, a URI with options)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or "?" in uri or "#" in uri:
        return None
    path = uri[len(prefix) :]
    return Path(path) if path.startswith("/") else None


def local_directory(uri: str | None) -> Path | None:
    """The local directory a ``file:`` URI (or an absolute path) names; None for anything else
    (``models:/``, ``runs:/``, a cloud bucket, a server)."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        if os.name == "nt":  # file:///C:/dir -> C:\\dir
            from urllib.request import url2pathname

            path = Path(url2pathname(parsed.path))
        else:  # urllib.request (HTTP, SSL, email) is not worth loading for an unquote
            path = Path(unquote(parsed.path))
    elif not parsed.scheme and uri.startswith("/"):
        path = Path(uri)
    else:
        return None
    return path if path.is_dir() else None


@lru_cache(maxsize=1)
def installed_head() -> str | None:
    """The head Alembic revision of the installed MLflow's migrations, read from its files
    (as MLflow's own schema check does, without importing it); None if it cannot be told."""
    spec = find_spec("mlflow")  # a top-level package: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    versions = Path(next(iter(spec.submodule_search_locations))) / "store/db_migrations/versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revision = re.search(r"^revision\s*=\s*['\"](\w+)['\"]", text, re.MULTILINE)
        down = re.search(r"^down_revision\s*=\s*(.+)$", text, re.MULTILINE)
        if revision is None:
            continue
        if down is None:
            return None  # a script this parser does not understand
        revisions.add(revision.group(1))
        parents.update(re.findall(r"['\"](\w+)['\"]", down.group(1)))
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 else None


def _workspaces_enabled() -> bool:
    value = os.environ.get("MLFLOW_ENABLE_WORKSPACES")
    return value is not None and value.strip().lower() not in ("false", "0")


def _plain_model_name(name: str) -> bool:
    """A name MLflow accepts and quotes in a search filter as it is: letters, digits, ``_``,
    ``.``, ``-`` and inner spaces, and not a relative path such as ``..``."""
    if not re.fullmatch(r"[\w.\-]+(?: [\w.\-]+)*", name):
        return False
    norm = posixpath.normpath(name)
    return norm == name and norm != "." and not norm.startswith("..")
