"""Monitoring windows computed once: each window's result kept in the workspace
(``.loopml/state/windows.db``), so ``loopml monitor`` and the dashboard's timeline compute only
the windows they have never computed, and the windows whose data changed since.

A stored window is keyed by model name, version, window length, start, and a fingerprint of
everything else its result depends on (the reference stored in the bundle, its holdout metrics,
problem and config, and the monitoring settings: alpha, min_effect, effects, min_rows,
max_metric_drop). A new version, a retrained model or other settings never reuse another's.

**When a stored window is stale.** Every window is stored, closed or not, with the number of
rows it read; next to the windows of a key the store keeps the log's *state* when they were
last checked (:meth:`PredictionLog.state`: the version's prediction count and last time, the
label count and last label time; indexed aggregates). On the next use:

* the state is unchanged: every stored window is current (no read of the log);
* the version's predictions changed (new traffic, the open window growing, an erasure): each
  stored window's rows are counted again (one indexed range count each) and a window whose
  count differs is recomputed;
* labels arrived: the labels stored since the last check are joined to their predictions
  (:meth:`PredictionLog.labelled_since`, through the label time index: cost proportional to
  the new labels) and the windows holding those predictions are recomputed. Labels carry the
  time they were stored (the service stamps it), so a newer label for a request also counts;
  when the label count grew by more than the labels stamped after the last check (labels
  written with older times through the Python API), each stored window's labelled rows are
  counted again (an indexed count joined to the labels: no JSON read) and a window whose
  count differs is recomputed. (Not caught: in one interval between two checks, a label
  written with an older time *and* as many labels replaced with newer ones; or a label
  replaced by another with an older time.)

So a late label never leaves a stale performance, without waiting for a label horizon that
loopml does not know. The store is a cache: a file that is not a SQLite database of this
format is set aside (``windows.db.broken``) with a warning and started anew.

**What the store keeps.** Every stored window of a model version and window length is kept
for the :data:`KEEP_FINGERPRINTS` fingerprints last used with them (monitoring settings
switched back and forth are reused); the windows of older fingerprints, which only those
settings and that reference would read again, are deleted when another is used.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import logging
import math
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.monitoring._contract import (
    FeatureDrift,
    Performance,
    QualityDrift,
    WindowFairness,
    WindowReport,
)

if TYPE_CHECKING:
    from loopml.config import MonitoringConfig
    from loopml.registry import ModelBundle
    from loopml.serving import PredictionLog

log = logging.getLogger(__name__)

#: Where the store lives in the workspace (``.loopml/``).
WINDOW_STORE = Path("state") / "windows.db"

#: The layout of the store and of a stored window; another value: the store is started anew.
STORE_FORMAT = 2

#: Fingerprints whose windows are kept per model version and window length: the last used.
KEEP_FINGERPRINTS = 3

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS windows (model TEXT NOT NULL, version TEXT NOT NULL, "
    "fingerprint TEXT NOT NULL, length REAL NOT NULL, start REAL NOT NULL, "
    "end_ REAL NOT NULL, rows INTEGER NOT NULL, labelled INTEGER NOT NULL, "
    "result TEXT NOT NULL, "
    "PRIMARY KEY (model, version, fingerprint, length, start))",
    "CREATE TABLE IF NOT EXISTS marks (model TEXT NOT NULL, version TEXT NOT NULL, "
    "fingerprint TEXT NOT NULL, length REAL NOT NULL, state TEXT NOT NULL, used REAL NOT NULL, "
    "PRIMARY KEY (model, version, fingerprint, length))",
)


@dataclass(frozen=True)
class WindowKey:
    """Which windows: a model version's, ``length`` seconds long, under one fingerprint."""

    model: str
    version: str
    fingerprint: str
    length: float

    @property
    def row(self) -> tuple[str, str, str, float]:
        return (self.model, self.version, self.fingerprint, self.length)


def settings_fingerprint(bundle: ModelBundle, config: MonitoringConfig) -> str:
    """A hash of what a window's result depends on besides its rows: the bundle's monitoring
    reference, holdout metrics, problem, config and data, and the monitoring settings."""
    payload = {
        "format": STORE_FORMAT,
        "reference": (bundle.reference or {}).get("monitoring"),
        "metrics": bundle.metrics,
        "problem": repr(bundle.problem),
        "config": bundle.config,
        "data": bundle.data_fingerprint,
        "columns": [c.name for c in bundle.schema.feature_columns],
        "settings": config.model_dump(
            include={
                "alpha",
                "min_effect",
                "numeric_effect",
                "categorical_effect",
                "min_rows",
                "max_metric_drop",
            }
        ),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class WindowStore:
    """The stored window results of a workspace (see the module docstring).

    ``reused`` and ``computed`` count the windows :meth:`current` answered from the store and
    the windows :meth:`save` stored since the store was opened.

    Parameters
    ----------
    path
        The SQLite file (created with its folder on first use).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.reused = 0
        self.computed = 0

    def __repr__(self) -> str:
        return f"WindowStore({str(self.path)!r})"

    # ------------------------------------------------------------------ the database

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction (committed on success), to a store of this
        format; a file that is not one is set aside with a warning and started anew."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only: not corrupt
                raise
            broken = self.path.with_name(self.path.name + ".broken")
            log.warning(
                "the monitoring window store %s is unreadable (%s): set aside as %s; the "
                "windows are computed again.",
                self.path,
                exc,
                broken,
            )
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.path.replace(broken)
            db = self._open()
        try:
            with db:  # commits, or rolls back on an exception
                yield db
        finally:
            db.close()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            db.execute(_SCHEMA[0])
            found = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if found is None or found[0] != str(STORE_FORMAT):
                if found is not None:
                    log.warning(
                        "the monitoring window store %s has format %s, not %s: its windows "
                        "are dropped and computed again.",
                        self.path,
                        found[0],
                        STORE_FORMAT,
                    )
                db.execute("DROP TABLE IF EXISTS windows")
                db.execute("DROP TABLE IF EXISTS marks")
                db.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (str(STORE_FORMAT),))
            for statement in _SCHEMA[1:]:
                db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        db.isolation_level = "DEFERRED"
        return db

    # ------------------------------------------------------------------ reading and writing

    def current(
        self, plog: PredictionLog, key: WindowKey, bounds: Sequence[tuple[float, float]]
    ) -> dict[float, WindowReport]:
        """The stored windows among ``bounds`` (by start) that are still current; first drops
        every stored window of ``key`` the log changed under (see the module docstring)."""
        state = plog.state(key.version)
        try:
            with self._connect() as db:
                stored = {
                    start: (end, rows, labelled)
                    for start, end, rows, labelled in db.execute(
                        "SELECT start, end_, rows, labelled FROM windows WHERE model = ? "
                        "AND version = ? AND fingerprint = ? AND length = ?",
                        key.row,
                    )
                }
                found = db.execute(
                    "SELECT state FROM marks WHERE model = ? AND version = ? "
                    "AND fingerprint = ? AND length = ?",
                    key.row,
                ).fetchone()
                mark = json.loads(found[0]) if found is not None else None
                stale = _stale(plog, key, stored, mark, state)
                db.executemany(
                    "DELETE FROM windows WHERE model = ? AND version = ? AND fingerprint = ? "
                    "AND length = ? AND start = ?",
                    [(*key.row, start) for start in stale],
                )
                db.execute(
                    "INSERT OR REPLACE INTO marks VALUES (?, ?, ?, ?, ?, ?)",
                    (*key.row, json.dumps(state), time.time()),
                )
                _prune(db, key)
                wanted = [s for s, _ in bounds if s in stored and s not in stale]
                return self._load(db, key, wanted)
        except sqlite3.Error as exc:
            log.warning(
                "the monitoring window store %s cannot be read (%s); every window is computed.",
                self.path,
                exc,
            )
            return {}

    def _load(
        self, db: sqlite3.Connection, key: WindowKey, starts: Sequence[float]
    ) -> dict[float, WindowReport]:
        out = {}
        query = (
            "SELECT result FROM windows WHERE model = ? AND version = ? AND fingerprint = ? "
            "AND length = ? AND start = ?"
        )
        for start in starts:
            (text,) = db.execute(query, (*key.row, start)).fetchone()
            try:
                out[start] = window_from_dict(json.loads(text))
            except (ValueError, TypeError, KeyError) as exc:
                log.warning(
                    "a stored monitoring window of version %s (start %s) is unreadable (%s); "
                    "it is computed again.",
                    key.version,
                    start,
                    exc,
                )
        self.reused += len(out)
        return out

    def save(self, key: WindowKey, windows: Sequence[WindowReport]) -> None:
        """Store ``windows`` of ``key`` (all in one transaction); a failure to write is
        logged, not raised: the windows were computed, only their reuse is lost."""
        if not windows:
            return
        rows = [
            (*key.row, w.start, w.end, w.rows, w.labelled, json.dumps(_plain(w.to_dict())))
            for w in windows
        ]
        try:
            with self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            log.warning(
                "the monitoring window store %s cannot be written (%s); the windows are "
                "computed again next time.",
                self.path,
                exc,
            )
            return
        self.computed += len(windows)


def _prune(db: sqlite3.Connection, key: WindowKey) -> None:
    """Delete the windows and marks of ``key``'s model version and length but of the
    :data:`KEEP_FINGERPRINTS` fingerprints last used."""
    where = "model = ? AND version = ? AND length = ?"
    scope = (key.model, key.version, key.length)
    old = [
        fingerprint
        for (fingerprint,) in db.execute(
            f"SELECT fingerprint FROM marks WHERE {where} ORDER BY used DESC LIMIT -1 OFFSET ?",
            (*scope, KEEP_FINGERPRINTS),
        )
    ]
    for table in ("windows", "marks"):
        db.executemany(
            f"DELETE FROM {table} WHERE {where} AND fingerprint = ?",
            [(*scope, fingerprint) for fingerprint in old],
        )
    if old:
        log.info("dropped the stored windows of %d older monitoring settings", len(old))


def _stale(
    plog: PredictionLog,
    key: WindowKey,
    stored: dict[float, tuple[float, int, int]],
    mark: dict[str, Any] | None,
    state: dict[str, Any],
) -> set[float]:
    """The starts of the ``stored`` windows (start: end, rows, labelled) whose rows or labels
    changed since ``mark``."""
    if not stored or mark == state:
        return set()
    if mark is None:  # windows without a checked state: nothing vouches for them
        return set(stored)
    starts = sorted(stored)
    bounds = [(s, stored[s][0]) for s in starts]
    stale: set[float] = set()
    if (state["predictions"], state["last_prediction"]) != (
        mark["predictions"],
        mark["last_prediction"],
    ):
        counts = plog.count_between(key.version, bounds)
        stale |= {s for s, n in zip(starts, counts, strict=True) if n != stored[s][1]}
    if (state["labels"], state["last_label"]) != (mark["labels"], mark["last_label"]):
        times, since = plog.labelled_since(key.version, mark["last_label"])
        for t in times:
            i = bisect.bisect_right(starts, t) - 1
            if i >= 0 and t < stored[starts[i]][0]:
                stale.add(starts[i])
        if state["labels"] - mark["labels"] > since:  # labels stored with older times
            counts = plog.count_between(key.version, bounds, labelled=True)
            stale |= {s for s, n in zip(starts, counts, strict=True) if n != stored[s][2]}
    return stale


def _plain(value: Any) -> Any:
    """``value`` with non-finite floats as {"float": "nan"} (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"float"}:
            return float(value["float"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def window_from_dict(data: dict[str, Any]) -> WindowReport:
    """The :class:`WindowReport` whose :meth:`~WindowReport.to_dict` gave ``data``."""
    data = _unplain(data)
    drift = data["prediction_drift"]
    fairness = data.get("fairness")
    if fairness is not None:
        values = {k: (math.nan if v is None else v) for k, v in fairness["values"].items()}
        fairness = WindowFairness(
            fairness["rows"], fairness["labelled"], values, fairness["groups"]
        )
    return WindowReport(
        start=data["start"],
        end=data["end"],
        rows=data["rows"],
        labelled=data["labelled"],
        features=[FeatureDrift(**f) for f in data["features"]],
        prediction_drift=FeatureDrift(**drift) if drift is not None else None,
        data_quality=[QualityDrift(**q) for q in data["data_quality"]],
        performance=_performance(data["performance"]),
        estimated_performance=_performance(data["estimated_performance"]),
        alarms=list(data["alarms"]),
        fairness=fairness,
    )


def _performance(data: dict[str, Any] | None) -> Performance | None:
    return Performance(**data) if data is not None else None
