"""The project's training runs, a page at a time, read where MLflow keeps them.

On the default store, a local SQLite file, a page is two indexed queries on MLflow's own
tables (``runs``, ``latest_metrics``, ``params``, ``tags``, ``model_versions``) through the
standard library's ``sqlite3``, opened read-only: a page of 50 runs costs the same with 10 or
10,000 runs in the store, and MLflow is never imported. Any other tracking URI (a server,
PostgreSQL) is read through MLflow's client, page by page with its page tokens.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from loopml.ui._leaderboard import FAMILY_PARAM, RunQuery, mlflow_search, sqlite_clauses

#: The training report a run logs (``Registry.register``'s artifact ``report``).
REPORT_ARTIFACT = "report/report.html"
#: MLflow's stage of a deleted model version.
DELETED_VERSION = "Deleted_Internal"
#: Most points a metric-over-runs chart draws; more runs are summarised per bucket.
MAX_POINTS = 400
#: What changes when runs are added, deleted or log metrics (a metric series is kept till then).
_STATE = (
    "SELECT COUNT(*), MAX(start_time), MAX(end_time), (SELECT COUNT(*) FROM latest_metrics) "
    "FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'"
)
#: Whether any run of an experiment logged a metric of this name.
_LOGGED_BY = (
    "SELECT 1 FROM latest_metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
    "WHERE m.key = ? AND r.experiment_id = ? LIMIT 1"
)


@dataclass(frozen=True)
class RunRow:
    """One training run: who it is, when, and what it logged."""

    run_id: str
    name: str
    start: float  # seconds since the epoch
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    version: str | None = None  # the registered model version it produced

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "start": self.start,
            "status": self.status,
            "version": self.version,
            "metrics": self.metrics,
            "params": self.params,
            "tags": {k: v for k, v in self.tags.items() if not k.startswith("mlflow.")},
        }


@dataclass(frozen=True)
class RunPage:
    """Runs ``(page - 1) * per_page`` to ``page * per_page`` of ``total``, newest first."""

    runs: list[RunRow]
    page: int
    per_page: int
    total: int
    query: RunQuery = field(default_factory=RunQuery)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": self.total,
            "pages": self.pages,
            "query": self.query.to_dict(),
            "runs": [r.to_dict() for r in self.runs],
        }


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:////abs/path.db`` URI; None for any other URI."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or "?" in uri:
        return None
    path = Path(uri[len(prefix) :])
    return path if path.is_absolute() else None


class RunStore:
    """Read-only access to one experiment's runs and the model versions they produced.

    Parameters
    ----------
    uri
        The MLflow tracking URI (absolute, as :class:`~loopml.registry.Registry` holds it).
    experiment
        The experiment's name.
    model_name
        The registered model's name.
    """

    def __init__(self, uri: str, experiment: str, model_name: str):
        self.uri = uri
        self.experiment = experiment
        self.model_name = model_name
        self._client: Any = None
        #: the last metric series drawn, kept while the experiment's runs are as they were
        self._series: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        #: the model families of the runs, kept the same way
        self._families: tuple[tuple[Any, ...], list[str]] | None = None

    # ------------------------------------------------------------------ reads

    def page(self, page: int, per_page: int, query: RunQuery = RunQuery()) -> RunPage:
        """One page of the runs ``query`` asks for (by default all, newest first), sorted
        and filtered by the store; an empty page past the last one."""
        path = sqlite_file(self.uri)
        if path is None:
            return self._page_through_mlflow(page, per_page, query)
        with _connect(path) as con:
            exp = self._experiment_id(con)
            if exp is None:
                return RunPage([], page, per_page, 0, query)
            sql = sqlite_clauses(query, self.model_name)
            active = "r.experiment_id = ? AND r.lifecycle_stage = 'active'"
            # filtered: one pass over the filters, the page's rows carry the count of all
            # that match; unfiltered, the count and the page each read an index
            count = ", COUNT(*) OVER ()" if query.is_filtered else ", NULL"
            found = con.execute(
                f"SELECT r.run_uuid, r.name, r.start_time, r.status{count} "
                f"FROM runs r {sql.join} WHERE {active}{sql.where} ORDER BY {sql.order} "
                f"LIMIT ? OFFSET ?",
                (*sql.join_args, exp, *sql.where_args, per_page, (page - 1) * per_page),
            ).fetchall()
            total = found[0][4] if found and query.is_filtered else None
            if total is None:
                total = con.execute(
                    f"SELECT COUNT(*) FROM runs r WHERE {active}{sql.where}",
                    (exp, *sql.where_args),
                ).fetchone()[0]
            rows = [row[:4] for row in found]
            return RunPage(self._filled(con, rows), page, per_page, int(total), query)

    def report_html(self, run_id: str) -> bytes | None:
        """The training report the run logged as its artifact ``report/report.html`` (its
        leaderboard, every trial, under ``#leaderboard``); None when it has none."""
        path = sqlite_file(self.uri)
        if path is not None:
            with _connect(path) as con:
                row = con.execute(
                    "SELECT artifact_uri FROM runs WHERE run_uuid = ? AND lifecycle_stage = "
                    "'active'",
                    (run_id,),
                ).fetchone()
            if row is None:
                return None
            local = _local_directory(row[0])
            if local is not None:
                report = local / REPORT_ARTIFACT
                return report.read_bytes() if report.is_file() else None
        with tempfile.TemporaryDirectory() as tmp:
            try:
                found = self.client.download_artifacts(run_id, REPORT_ARTIFACT, tmp)
            except Exception:  # no such run or artifact: nothing to show
                return None
            return Path(found).read_bytes()

    def families(self) -> list[str]:
        """The model families the runs were trained with, sorted (the family filter)."""
        path = sqlite_file(self.uri)
        if path is None:
            logged = {r.params.get(FAMILY_PARAM) for r in self._page_through_mlflow(1, 200).runs}
            return sorted(f for f in logged if f)
        with _connect(path) as con:
            exp = self._experiment_id(con)
            state = (exp, *con.execute(_STATE, (exp,)).fetchone())
            if self._families is not None and self._families[0] == state:
                return self._families[1]
            families = [
                family
                for (family,) in con.execute(
                    "SELECT DISTINCT p.value FROM params p JOIN runs r ON r.run_uuid = p.run_uuid "
                    "WHERE p.key = ? AND r.experiment_id = ? AND r.lifecycle_stage = 'active' "
                    "ORDER BY p.value",
                    (FAMILY_PARAM, exp),
                )
            ]
        self._families = (state, families)
        return families

    def runs(self, run_ids: Sequence[str]) -> list[RunRow]:
        """The runs of ``run_ids`` in that order; unknown ids are left out."""
        path = sqlite_file(self.uri)
        if path is None:
            found = {r.run_id: r for r in self._runs_through_mlflow(run_ids)}
            return [found[i] for i in run_ids if i in found]
        with _connect(path) as con:
            marks = ",".join("?" * len(run_ids))
            rows = con.execute(
                f"SELECT run_uuid, name, start_time, status FROM runs "
                f"WHERE run_uuid IN ({marks}) AND lifecycle_stage = 'active'",
                tuple(run_ids),
            ).fetchall()
            found = {r.run_id: r for r in self._filled(con, rows)}
        return [found[i] for i in run_ids if i in found]

    def metric_series(self, key: str) -> list[dict[str, Any]]:
        """``key`` over the runs, oldest first, at most :data:`MAX_POINTS` points: beyond
        that, each point is a bucket of consecutive runs with their mean, lowest and
        highest value."""
        path = sqlite_file(self.uri)
        if path is None:
            return bucketed(self._series_through_mlflow(key), MAX_POINTS)
        with _connect(path) as con:
            exp = self._experiment_id(con)
            state = (key, exp, *con.execute(_STATE, (exp,)).fetchone())
            if self._series is not None and self._series[0] == state:
                return self._series[1]
            values = [
                (float(start) / 1000, float(value), run_id)
                for run_id, start, value in con.execute(
                    "SELECT r.run_uuid, r.start_time, m.value FROM runs r JOIN "
                    "latest_metrics m ON m.run_uuid = r.run_uuid WHERE r.experiment_id = ? "
                    "AND r.lifecycle_stage = 'active' AND m.key = ? AND m.is_nan = 0 "
                    "ORDER BY r.start_time",
                    (exp, key),
                )
            ]
        points = bucketed(values, MAX_POINTS)
        self._series = (state, points)
        return points

    def metric_keys(self) -> list[str]:
        """The metric names the runs logged, sorted."""
        path = sqlite_file(self.uri)
        if path is None:
            logged: set[str] = set()
            for run in self._page_through_mlflow(1, 200).runs:
                logged.update(run.metrics)
            return sorted(logged)
        with _connect(path) as con:
            exp = self._experiment_id(con)
            keys: list[str] = []
            key = ""
            # one index seek per name (a skip scan): DISTINCT would read every metric row
            while True:
                row = con.execute(
                    "SELECT key FROM latest_metrics WHERE key > ? ORDER BY key LIMIT 1", (key,)
                ).fetchone()
                if row is None:
                    return keys
                key = row[0]
                if con.execute(_LOGGED_BY, (key, exp)).fetchone() is not None:
                    keys.append(key)

    # ------------------------------------------------------------------ SQLite

    def _experiment_id(self, con: sqlite3.Connection) -> int | None:
        row = con.execute(
            "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
            (self.experiment,),
        ).fetchone()
        return None if row is None else int(row[0])

    def _filled(self, con: sqlite3.Connection, rows: list[Any]) -> list[RunRow]:
        """Runs ``rows`` (id, name, start, status) with their metrics, params, tags, version."""
        ids = tuple(r[0] for r in rows)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        metrics: dict[str, dict[str, float]] = {}
        for run_id, key, value, is_nan in con.execute(
            f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})",
            ids,
        ):
            metrics.setdefault(run_id, {})[key] = float("nan") if is_nan else float(value)
        params = _pairs(con, "params", marks, ids)
        tags = _pairs(con, "tags", marks, ids)
        versions = dict(
            con.execute(
                f"SELECT run_id, CAST(version AS TEXT) FROM model_versions WHERE name = ? "
                f"AND current_stage != ? AND run_id IN ({marks})",
                (self.model_name, DELETED_VERSION, *ids),
            ).fetchall()
        )
        return [
            RunRow(
                run_id=run_id,
                name=name or run_id[:8],
                start=float(start or 0) / 1000,
                status=status or "",
                metrics=metrics.get(run_id, {}),
                params=params.get(run_id, {}),
                tags=tags.get(run_id, {}),
                version=versions.get(run_id),
            )
            for run_id, name, start, status in rows
        ]

    # ------------------------------------------------------------------ MLflow's client

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def _mlflow_experiment(self) -> str | None:
        exp = self.client.get_experiment_by_name(self.experiment)
        return None if exp is None else str(exp.experiment_id)

    def _page_through_mlflow(
        self, page: int, per_page: int, query: RunQuery = RunQuery()
    ) -> RunPage:
        exp = self._mlflow_experiment()
        if exp is None:
            return RunPage([], page, per_page, 0, query)
        filter_string, order_by = mlflow_search(query, self._alias_run(query.alias))
        token, found, total = None, [], 0
        for number in range(1, page + 1):  # MLflow pages by token, so walk to the page asked
            batch = self.client.search_runs(
                [exp],
                filter_string=filter_string,
                max_results=per_page,
                page_token=token,
                order_by=order_by,
            )
            total += len(batch)
            if number == page:
                found = list(batch)
            token = batch.token
            if not token:
                break
        if token:  # more after this page: count them, one id-only page at a time
            total += self._count_after(exp, token, filter_string)
        return RunPage(self._rows(found), page, per_page, total, query)

    def _alias_run(self, alias: str | None) -> str | None:
        """The run of the version holding ``alias``; "" when none does."""
        if alias is None:
            return None
        try:
            return str(self.client.get_model_version_by_alias(self.model_name, alias).run_id)
        except Exception:  # no such alias (or model): no run matches
            return ""

    def _count_after(self, exp: str, token: str, filter_string: str = "") -> int:
        count = 0
        while token:
            batch = self.client.search_runs(
                [exp], filter_string=filter_string, max_results=1000, page_token=token
            )
            count += len(batch)
            token = batch.token
        return count

    def _runs_through_mlflow(self, run_ids: Sequence[str]) -> list[RunRow]:
        found = []
        for run_id in run_ids:
            try:
                found.append(self.client.get_run(run_id))
            except Exception:  # an unknown id is left out, as on SQLite
                continue
        return self._rows(found)

    def _series_through_mlflow(self, key: str) -> list[tuple[float, float, str]]:
        exp = self._mlflow_experiment()
        values: list[tuple[float, float, str]] = []
        token = None
        while exp is not None:
            batch = self.client.search_runs(
                [exp], max_results=1000, page_token=token, order_by=["start_time ASC"]
            )
            for run in batch:
                value = run.data.metrics.get(key)
                if value is not None and value == value:
                    values.append((run.info.start_time / 1000, float(value), run.info.run_id))
            token = batch.token
            if not token:
                break
        return values

    def _rows(self, runs: Sequence[Any]) -> list[RunRow]:
        versions = {}
        if runs:
            for mv in self.client.search_model_versions(f"name = '{self.model_name}'"):
                versions[mv.run_id] = str(mv.version)
        return [
            RunRow(
                run_id=r.info.run_id,
                name=r.info.run_name or r.info.run_id[:8],
                start=(r.info.start_time or 0) / 1000,
                status=r.info.status or "",
                metrics=dict(r.data.metrics),
                params=dict(r.data.params),
                tags=dict(r.data.tags),
                version=versions.get(r.info.run_id),
            )
            for r in runs
        ]


def bucketed(values: list[tuple[float, float, str]], limit: int) -> list[dict[str, Any]]:
    """``values`` (time, value, run id) as chart points; past ``limit``, consecutive runs
    share a point (mean, low, high, how many runs).

    Examples
    --------
    >>> [p["value"] for p in bucketed([(0, 1.0, "a"), (1, 3.0, "b"), (2, 5.0, "c")], 2)]
    [2.0, 5.0]
    """
    if len(values) <= limit:
        return [
            {"time": t, "value": v, "low": v, "high": v, "runs": 1, "run_id": r}
            for t, v, r in values
        ]
    size = -(-len(values) // limit)
    points = []
    for i in range(0, len(values), size):
        chunk = values[i : i + size]
        numbers = [v for _, v, _ in chunk]
        points.append(
            {
                "time": chunk[-1][0],
                "value": sum(numbers) / len(numbers),
                "low": min(numbers),
                "high": max(numbers),
                "runs": len(chunk),
                "run_id": chunk[-1][2],
            }
        )
    return points


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """The store, read-only; before anything was trained (no file yet), an empty database of
    the tables read, in memory: the dashboard never creates the store."""
    if path.is_file():
        with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as con:
            yield con
        return
    with closing(sqlite3.connect(":memory:")) as con:
        con.executescript(_EMPTY)
        yield con


#: The tables and columns read, empty (a project with nothing trained yet).
_EMPTY = """
CREATE TABLE experiments (experiment_id, name, lifecycle_stage);
CREATE TABLE runs (run_uuid, name, start_time, end_time, status, experiment_id, lifecycle_stage,
                   artifact_uri);
CREATE TABLE latest_metrics (run_uuid, key, value, is_nan);
CREATE TABLE params (run_uuid, key, value);
CREATE TABLE tags (run_uuid, key, value);
CREATE TABLE model_versions (name, version, run_id, current_stage);
CREATE TABLE registered_model_aliases (name, alias, version);
"""


def _local_directory(uri: str | None) -> Path | None:
    """The directory of a local ``file:`` artifact URI; None for any other (downloaded)."""
    parsed = urlparse(uri or "")
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parsed.path))
    return path if path.is_dir() else None


def _pairs(
    con: sqlite3.Connection, table: str, marks: str, ids: tuple[str, ...]
) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for run_id, key, value in con.execute(
        f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", ids
    ):
        found.setdefault(run_id, {})[key] = value
    return found
