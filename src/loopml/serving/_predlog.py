"""The prediction log: every prediction the service makes, and the labels that come later.

:class:`PredictionLog` is the service's :class:`~loopml.serving._contract.PredictionSink`. It
writes through SQLAlchemy to a SQLite file in the workspace by default
(``.loopml/predictions.db``, apart from the MLflow database) or to PostgreSQL by URL.

Two modes:

- ``async`` (the default): :meth:`PredictionLog.record` puts the entries on a bounded queue and
  returns at once; a writer thread writes them in batches of up to ``batch_size``, at the
  latest ``flush_seconds`` after the first entry of a batch arrived. When the queue is full the
  entries are dropped and counted, never waited for: the request path does not block on the
  database. :meth:`PredictionLog.close` writes everything queued. A process killed hard
  (SIGKILL, out of memory) loses at most what was accepted and not yet written: the queue and
  the batch being written, ``queue_size + batch_size`` predictions.
- ``sync``: :meth:`PredictionLog.record` returns once the entries are committed; nothing
  acknowledged is lost, and a failed write raises :class:`PredictionLogError`.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from loopml.errors import ConfigError
from loopml.serving._contract import Feedback, LoggedPrediction
from loopml.serving._predlog_store import (
    DEFAULT_URL,
    DEFAULT_VARIANT,
    LoggedRow,
    PredictionLogError,
    as_seconds,
    as_time,
    count_labels,
    create_engine,
    delete_ids,
    insert_ignoring_duplicates,
    known_ids,
    logged_columns,
    match_texts,
    matching_ids,
    parse_url,
    predictions,
    prepare,
    read_between,
    reason,
    shown,
    upsert_labels,
)

if TYPE_CHECKING:
    from loopml.serving._predlog_columns import LoggedColumns

log = logging.getLogger(__name__)

Mode = Literal["async", "sync"]
#: seconds the writer waits before retrying a batch the database refused (connection lost)
_RETRY_DELAYS = (0.2, 1.0, 3.0)


@dataclass(frozen=True)
class LogStats:
    """The log's counters, for the service's metrics (since the log was opened)."""

    queue_depth: int  # accepted, not yet written (or failed)
    dropped: int  # not accepted: the queue was full
    written: int  # committed to the database
    failed: int  # accepted, then refused by the database after retries


@dataclass(frozen=True)
class ForgetResult:
    """What :meth:`PredictionLog.forget` deleted (or, in a dry run, would delete)."""

    column: str
    predictions: int  # predictions deleted
    labels: int  # their labels deleted
    request_ids: tuple[str, ...] = ()  # the predictions' request ids
    dry_run: bool = False  # nothing was deleted; the counts say what would be
    matched: str = "as given"  # how the value was matched: "as given", "hashed", "dropped"
    note: str = ""  # a remark for the user, e.g. why the log cannot hold the column

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "predictions": self.predictions,
            "labels": self.labels,
            "request_ids": list(self.request_ids),
            "dry_run": self.dry_run,
            "matched": self.matched,
            "note": self.note,
        }


class PredictionLog:
    """Logs predictions and late labels to a database (see the module docstring).

    Parameters
    ----------
    url
        SQLAlchemy URL of the log (credentials included, e.g. built with
        ``sqlalchemy.URL.create``); a relative SQLite path starts at ``base_dir``.
    base_dir
        The project directory.
    mode
        ``async``: queue and write in batches off the request path; ``sync``: write before
        :meth:`record` returns.
    batch_size, queue_size, flush_seconds
        Async mode: the most entries per write, the most entries waiting (more are dropped),
        and the longest an entry waits for its batch to fill.

    Raises
    ------
    PredictionLogError
        The database cannot be reached, or it holds a log written by a newer loopml.

    Examples
    --------
    >>> import tempfile
    >>> from loopml.serving._contract import Feedback, LoggedPrediction
    >>> with tempfile.TemporaryDirectory() as tmp, PredictionLog(base_dir=tmp) as plog:
    ...     plog.record([LoggedPrediction("r1", 0.0, "3", {"age": 41}, "yes", None, 1.5)])
    ...     plog.feedback([Feedback("r1", "no", 60.0), Feedback("r9", "yes", 60.0)])
    ['r9']
    """

    def __init__(
        self,
        url: str | URL = DEFAULT_URL,
        *,
        base_dir: str | Path = ".",
        mode: Mode = "async",
        batch_size: int = 500,
        queue_size: int = 10_000,
        flush_seconds: float = 1.0,
    ) -> None:
        _check_settings(mode, batch_size, queue_size, flush_seconds)
        self.mode: Mode = mode
        self.batch_size = batch_size
        self.queue_size = queue_size
        self.flush_seconds = flush_seconds
        self.url = parse_url(url, Path(base_dir))
        self._engine = create_engine(self.url, json_serializer=to_json)
        try:
            prepare(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._accepted = self._dropped = self._written = self._failed = 0
        self._closed = False
        self._stop = threading.Event()
        self._hurry = threading.Event()  # flush() waits: write without waiting for a full batch
        self._queue: queue.Queue[LoggedPrediction] = queue.Queue(maxsize=queue_size)
        self._writer: threading.Thread | None = None
        if mode == "async":
            self._writer = threading.Thread(
                target=self._run, name="loopml-prediction-log", daemon=True
            )
            self._writer.start()
        atexit.register(self.close)

    def __repr__(self) -> str:
        return f"PredictionLog({shown(self.url)!r}, mode={self.mode!r})"

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the sink

    def record(self, entries: Sequence[LoggedPrediction]) -> None:
        """Queue (async) or write (sync) ``entries``; in async mode a full queue drops them."""
        if not entries:
            self._check_open()
            return
        if self.mode == "sync":
            self._check_open()
            self._write([_row(e) for e in entries])
            with self._lock:
                self._written += len(entries)
            return
        with self._lock:
            if self._closed:
                raise PredictionLogError(f"{self!r} is closed; no more predictions are logged.")
            for entry in entries:
                try:
                    self._queue.put_nowait(entry)
                except queue.Full:
                    self._dropped += 1
                else:
                    self._accepted += 1

    def feedback(self, labels: Sequence[Feedback]) -> list[str]:
        """Store late labels (a newer label for a request id replaces the older one).

        All or nothing: when a request id has no logged prediction, nothing is stored and the
        unknown ids are returned (in the order given); an empty list means all were stored.
        """
        if not labels:
            return []
        rows = {f.request_id: {"request_id": f.request_id, "label": f.label} for f in labels}
        for f in labels:  # the last label given for an id wins
            rows[f.request_id]["time"] = as_time(f.time)
        unknown = self._store_labels(list(rows.values()))
        if unknown and self._writer is not None:
            self.flush()  # the prediction may still be queued: a label can overtake it
            unknown = self._store_labels(list(rows.values()))
        return unknown

    def close(self, timeout: float | None = None) -> None:
        """Write everything queued, stop the writer and release the database. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout)
        self._engine.dispose()

    # ------------------------------------------------------------------ counters and reads

    def stats(self) -> LogStats:
        with self._lock:
            return LogStats(
                queue_depth=self._accepted - self._written - self._failed
                if self.mode == "async"
                else 0,
                dropped=self._dropped,
                written=self._written,
                failed=self._failed,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until what was accepted before this call is written; False on timeout."""
        if self._writer is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._accepted
            self._hurry.set()
            try:
                while self._written + self._failed < target and self._writer.is_alive():
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._done.wait(0.5 if left is None else min(left, 0.5))
            finally:
                self._hurry.clear()
        return True

    def read(
        self,
        start: float,
        end: float,
        model_version: str | None = None,
        variant: str | None = None,
    ) -> list[LoggedRow]:
        """The predictions logged with ``start <= time < end`` (seconds since the epoch, UTC),
        oldest first, each with its label where one arrived; only those of ``model_version``
        and of ``variant`` (``champion``, ``challenger``, ``shadow``) when given."""
        self._check_open()
        with self._engine.connect() as conn:
            return read_between(conn, start, end, model_version, variant)

    def read_columns(
        self,
        start: float,
        end: float,
        model_version: str | None = None,
        variant: str | None = None,
    ) -> LoggedColumns:
        """:meth:`read` as columns, about five times faster on large windows (monitoring)."""
        from loopml.serving._predlog_columns import read_columns

        self._check_open()
        with self._engine.connect() as conn:
            return read_columns(conn, start, end, model_version, variant)

    def span(self, model_version: str | None = None) -> tuple[float, float] | None:
        """The times of the first and the last logged prediction (of ``model_version``), or
        None when there is none."""
        self._check_open()
        # one aggregate per query: SQLite reads a lone min or max off the index, both by a scan
        first_q = sa.select(sa.func.min(predictions.c.time))
        last_q = sa.select(sa.func.max(predictions.c.time))
        if model_version is not None:
            first_q = first_q.where(predictions.c.model_version == model_version)
            last_q = last_q.where(predictions.c.model_version == model_version)
        with self._engine.connect() as conn:
            first = conn.execute(first_q).scalar_one()
            last = conn.execute(last_q).scalar_one()
        if first is None or last is None:
            return None
        return as_seconds(first), as_seconds(last)

    def state(self, model_version: str) -> dict[str, Any]:
        """Counts and last times of ``model_version``'s predictions and of the labels: what
        changes when anything a monitoring window reads is written (indexed aggregates)."""
        from loopml.serving._predlog_columns import log_state

        self._check_open()
        with self._engine.connect() as conn:
            return log_state(conn, model_version)

    def labelled_since(self, model_version: str, after: float | None) -> tuple[Any, int]:
        """The times of ``model_version``'s predictions labelled after ``after`` (None: ever),
        and how many labels of any version were stored since (cost: the new labels)."""
        from loopml.serving._predlog_columns import labelled_since

        self._check_open()
        with self._engine.connect() as conn:
            return labelled_since(conn, model_version, after)

    def count_between(
        self,
        model_version: str,
        bounds: Sequence[tuple[float, float]],
        *,
        labelled: bool = False,
    ) -> list[int]:
        """How many predictions of ``model_version`` each ``[start, end)`` holds (with
        ``labelled``: how many of them have their label)."""
        from loopml.serving._predlog_columns import count_between

        self._check_open()
        with self._engine.connect() as conn:
            return count_between(conn, model_version, bounds, labelled=labelled)

    def count(self) -> int:
        """How many predictions the log holds."""
        self._check_open()
        with self._engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(predictions)
            return int(conn.execute(query).scalar_one())

    def columns(self) -> list[str]:
        """The feature names the logged predictions hold (a scan of the whole log), sorted."""
        self._check_open()
        with self._engine.connect() as conn:
            return logged_columns(conn)

    def forget(self, column: str, values: Sequence[Any], *, dry_run: bool = False) -> ForgetResult:
        """Delete the predictions whose feature ``column`` holds one of ``values``, and their
        labels, in one transaction (the right to erasure).

        A value matches the logged value as text, and a number in its integer and decimal
        forms too (``7``, ``"7"`` and ``7.0`` alike). Predictions still queued are written
        first, so they are found too; predictions logged after the call are not touched.
        Hashing a value the privacy policy hashes is the caller's part
        (:meth:`loopml.Project.forget` does it).

        Parameters
        ----------
        column
            A feature name as the log holds it.
        values
            The values to erase.
        dry_run
            Count what would be deleted; delete nothing.

        Raises
        ------
        PredictionLogError
            The database refused; nothing was deleted.

        Examples
        --------
        >>> import tempfile
        >>> from loopml.serving._contract import LoggedPrediction
        >>> with tempfile.TemporaryDirectory() as tmp, PredictionLog(base_dir=tmp) as plog:
        ...     plog.record([LoggedPrediction("r1", 0.0, "3", {"id": 7}, "yes", None, 1.5)])
        ...     plog.forget("id", ["7"]).predictions
        1
        """
        self._check_open()
        self.flush()
        texts = match_texts(values)
        try:
            with self._engine.begin() as conn:
                ids = matching_ids(conn, column, texts)
                if dry_run:
                    n_predictions, n_labels = len(ids), count_labels(conn, ids)
                else:
                    n_predictions, n_labels = delete_ids(conn, ids)
        except sa_exc.SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot delete the predictions with {column} in the prediction log at "
                f"{shown(self.url)}: {reason(exc)}. Nothing was deleted; run it again."
            ) from exc
        if not dry_run:
            log.info(
                "forgot %d prediction(s) and %d label(s) with %s in %s",
                n_predictions,
                n_labels,
                column,
                shown(self.url),
            )
        return ForgetResult(column, n_predictions, n_labels, tuple(ids), dry_run)

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise PredictionLogError(f"{self!r} is closed.")

    def _store_labels(self, rows: list[dict[str, Any]]) -> list[str]:
        self._check_open()
        try:
            with self._engine.begin() as conn:
                found = known_ids(conn, [r["request_id"] for r in rows])
                unknown = [r["request_id"] for r in rows if r["request_id"] not in found]
                if not unknown:
                    upsert_labels(conn, rows)
                return unknown
        except sa_exc.SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot store {len(rows)} label(s) in the prediction log at {shown(self.url)}: "
                f"{reason(exc)}. Nothing was stored; send them again."
            ) from exc

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self._engine.begin() as conn:
                insert_ignoring_duplicates(conn, rows)
        except sa_exc.SQLAlchemyError as exc:
            raise PredictionLogError(
                f"cannot write {len(rows)} prediction(s) to the prediction log at "
                f"{shown(self.url)}: {reason(exc)}"
            ) from exc

    def _run(self) -> None:
        """The writer thread: batches until stopped and the queue is empty."""
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            written = self._write_with_retries([_row(e) for e in batch])
            with self._lock:
                self._written += written
                self._failed += len(batch) - written
                self._done.notify_all()

    def _next_batch(self) -> list[LoggedPrediction] | None:
        first = None
        while first is None:
            if self._stop.is_set() and self._queue.empty():
                return None
            first = _take(self._queue, 0.1)
        batch = [first]
        deadline = time.monotonic() + self.flush_seconds
        while len(batch) < self.batch_size:
            hurry = self._stop.is_set() or self._hurry.is_set()
            entry = _take(self._queue, 0.0 if hurry else min(deadline - time.monotonic(), 0.1))
            if entry is not None:
                batch.append(entry)
            elif hurry or time.monotonic() >= deadline:
                break
        return batch

    def _write_with_retries(self, rows: list[dict[str, Any]]) -> int:
        """Write a batch; retry while the database is unreachable. Rows written."""
        for delay in (*_RETRY_DELAYS, None):
            try:
                self._write(rows)
                return len(rows)
            except PredictionLogError as exc:
                if delay is None or self._stop.is_set():
                    log.error("%s; %d prediction(s) not logged", exc, len(rows))
                    return 0
                log.warning("%s; retrying in %.1f s", exc, delay)
                time.sleep(delay)
        return 0  # pragma: no cover - the loop returns


def _take(q: queue.Queue[LoggedPrediction], wait: float) -> LoggedPrediction | None:
    try:
        return q.get(timeout=wait) if wait > 0 else q.get_nowait()
    except queue.Empty:
        return None


def _row(entry: LoggedPrediction) -> dict[str, Any]:
    return {
        "request_id": entry.request_id,
        "time": as_time(entry.time),
        "model_version": str(entry.model_version),
        "features": dict(entry.features),
        "prediction": entry.prediction,
        "probabilities": None if entry.probabilities is None else dict(entry.probabilities),
        "latency_ms": float(entry.latency_ms),
        "variant": entry.variant or DEFAULT_VARIANT,
    }


def to_json(value: Any) -> str:
    """JSON for a column: numpy scalars as numbers, NaN and infinities as null (PostgreSQL's
    JSON has no NaN), anything else unknown as its text."""
    try:
        return json.dumps(value, allow_nan=False, default=_plain)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False, default=_plain)


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _finite(item())
    isoformat = getattr(value, "isoformat", None)  # datetimes, dates, pandas timestamps
    if callable(isoformat):
        return isoformat()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _check_settings(mode: str, batch_size: int, queue_size: int, flush_seconds: float) -> None:
    problems = []
    if mode not in ("async", "sync"):
        problems.append(f"mode must be 'async' or 'sync', got {mode!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        problems.append(f"batch_size must be a positive whole number, got {batch_size!r}")
    if not (isinstance(queue_size, int) and queue_size >= 1):
        problems.append(f"queue_size must be a positive whole number, got {queue_size!r}")
    if not (isinstance(flush_seconds, int | float) and 0 < flush_seconds < math.inf):
        problems.append(f"flush_seconds must be a positive number, got {flush_seconds!r}")
    if problems:
        raise ConfigError("prediction log: " + "; ".join(problems))


__all__ = ["ForgetResult", "LogStats", "PredictionLog", "PredictionLogError", "to_json"]
