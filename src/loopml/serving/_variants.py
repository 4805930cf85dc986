"""The online comparison of champion and challenger (``serving.challenger``).

``ab``: each request is answered by one model, the challenger for a share ``fraction`` of
them. The split is a hash, so it is the same in every worker and after a restart: of the
value of ``sticky_column`` in the request's first instance when it has one (an entity always
meets the same model; a request mixing entities goes by its first), else of the request id.

``shadow``: the champion answers; after the answer is sent, the challenger predicts the same
instances in a thread of its own (:class:`ShadowRunner`) and its predictions are logged
with variant ``shadow`` under the request ids suffixed ``#shadow`` (see
``_predlog_store.shadow_id``), where they read the same labels.

Without a model behind the ``challenger`` alias (or when it names the champion's version)
the champion answers alone; the alias is followed like the champion's.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from loopml.serving._contract import LoggedPrediction, Predictions
from loopml.serving._holder import LoadedModel, ModelHolder
from loopml.serving._predlog_store import SHADOW_VARIANT, shadow_id

if TYPE_CHECKING:
    from loopml.serving._routes_common import ServiceState

log = logging.getLogger(__name__)

Mode = Literal["ab", "shadow"]
_SCALE = float(2**64)


def split_point(key: str) -> float:
    """Where ``key`` falls in [0, 1): a hash, the same in every process.

    Examples
    --------
    >>> split_point("customer-7") == split_point("customer-7")
    True
    >>> 0.0 <= split_point("") < 1.0
    True
    """
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def _key_text(value: Any) -> str:
    """A sticky value as text, so that 7, 7.0 and "7" are one entity."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ChallengerRoute:
    """The challenger's model (followed by its own :class:`ModelHolder`) and the split.

    Parameters
    ----------
    holder
        Holds what the ``challenger`` alias names; ``optional``, so it may hold nothing.
    mode
        ``ab`` or ``shadow``.
    fraction
        A/B: the share of requests the challenger answers.
    sticky_column
        A/B: the input column whose value picks the variant (None: the request id does).
    """

    def __init__(
        self,
        holder: ModelHolder,
        mode: Mode,
        fraction: float = 0.1,
        sticky_column: str | None = None,
    ):
        self.holder = holder
        self.mode = mode
        self.fraction = fraction
        self.sticky_column = sticky_column

    def against(self, champion: LoadedModel) -> LoadedModel | None:
        """The challenger to compare with ``champion``; None when there is none, or when it
        is the champion's own version (a promotion just made it so)."""
        model = self.holder.current
        if model is None or model.version == champion.version:
            return None
        return model

    def picks_challenger(self, records: Sequence[dict[str, Any]], request_id: str) -> bool:
        """A/B: does the challenger answer this request?"""
        key = request_id
        if self.sticky_column is not None and records:
            value = records[0].get(self.sticky_column)
            if value is not None:
                key = _key_text(value)
        return split_point(key) < self.fraction

    def describe(self, champion: LoadedModel) -> dict[str, Any]:
        """What ``GET /v1/model`` says about the comparison."""
        model = self.holder.current
        other = self.against(champion)
        if other is not None:
            status = "comparing"
        elif model is None:
            status = (
                f"no model has the alias {self.holder.ref!r}: the champion answers alone. "
                f"Train one (`loopml retrain`) or set it (`loopml models promote V --alias "
                f"{self.holder.ref}`)."
            )
        else:
            status = f"the {self.holder.ref} is the champion's version: the champion answers alone"
        return {
            "mode": self.mode,
            "fraction": self.fraction if self.mode == "ab" else None,
            "sticky_column": self.sticky_column if self.mode == "ab" else None,
            "version": other.version if other is not None else None,
            "status": status,
        }


def log_entries(
    model: LoadedModel,
    records: Sequence[dict[str, Any]],
    answer: Predictions,
    ids: Sequence[str],
    arrived: float,
    latency_ms: float,
    variant: str,
) -> list[LoggedPrediction]:
    """The prediction log's rows of one answered request."""
    names = [c.name for c in model.features]
    none: list[Any] = [None] * len(ids)
    probabilities: list[Any] = list(answer.probabilities) if answer.probabilities else none
    keys = model.entity_keys  # the id columns, for `loopml forget`
    return [
        LoggedPrediction(
            request_id=rid,
            time=arrived,
            model_version=model.version,
            features={**{name: record.get(name) for name in names}, **keys(record)},
            prediction=prediction,
            probabilities=proba,
            latency_ms=latency_ms,
            variant=variant,
        )
        for rid, record, prediction, proba in zip(
            ids, records, answer.predictions, probabilities, strict=True
        )
    ]


class ShadowRunner:
    """Runs the shadow predictions in one thread of their own, off the request path.

    A request only queues its shadow work, after its answer is sent; so neither the answer
    nor the next request on the same connection waits for the challenger. The thread runs at
    the lowest priority (nice 19 on Linux), so the processor goes to the champion's requests
    first and the shadow uses what they leave; when the queue is full (the service is
    saturated) the shadow work is dropped and counted, never waited for.
    """

    def __init__(self, queue_size: int = 1000):
        self._queue: queue.Queue[ShadowTask | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loopml-shadow", daemon=True)
            self._thread.start()

    def submit(self, task: ShadowTask) -> bool:
        """Queue ``task``; False (not queued) when the queue is full."""
        try:
            self._queue.put_nowait(task)
        except queue.Full:
            return False
        return True

    def drain(self) -> None:
        """Wait until everything queued so far has run."""
        self._queue.join()

    def stop(self, timeout: float = 30.0) -> None:
        """Run what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        _lowest_priority()
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                task.run()
            except Exception:  # a shadow must never end the thread
                log.exception("shadow prediction failed")
            finally:
                self._queue.task_done()


def _lowest_priority() -> None:
    """Let the operating system run this thread only when the worker's others wait (Linux
    schedules threads by their own nice value; elsewhere this does nothing)."""
    # no setpriority (not Linux), or not allowed: the thread keeps the default priority
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class ShadowTask:
    """The challenger's prediction of a request the champion answered, logged with variant
    ``shadow``. Called after the answer was sent (a Starlette background task), it only
    queues itself on the :class:`ShadowRunner`, whose thread calls :meth:`run`. A challenger
    that cannot read or predict the request is logged and counted, never seen by the client.
    """

    def __init__(
        self,
        state: ServiceState,
        model: LoadedModel,
        records: list[dict[str, Any]],
        ids: list[str],
        arrived: float,
    ):
        self.args = (state, model, records, ids, arrived)

    async def __call__(self) -> None:
        state = self.args[0]
        if state.shadow is None:
            self.run()
        elif not state.shadow.submit(self):
            state.metrics.shadow_failures.inc()

    def run(self) -> None:
        state, model, records, ids, arrived = self.args
        started = time.perf_counter()
        try:
            batch = model.reader.read(records)
            answer = model.predictor.predict(batch.rows, batch.n)
        except Exception as exc:  # the client has its answer; the shadow only reports
            log.warning(
                "shadow: challenger version %s could not predict request %s: %s",
                model.version,
                ids[0] if ids else "?",
                exc,
            )
            state.metrics.shadow_failures.inc()
            return
        latency_ms = (time.perf_counter() - started) * 1000.0
        state.metrics.predictions.labels(model.version, SHADOW_VARIANT).inc(batch.n)
        if state.sink is not None:
            shadow_ids = [shadow_id(rid) for rid in ids]
            state.sink.record(
                log_entries(model, records, answer, shadow_ids, arrived, latency_ms, SHADOW_VARIANT)
            )
