"""The v1 REST routes: predict, feedback, model, admin reload, health and metrics.

``/v1/predict`` is the request path: the body is read as bytes, parsed by orjson and handed
to the model's reader as plain dicts (no pydantic model per field, no pandas); the answer is
written by orjson. Logging the predictions happens after the response is sent.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import LoopmlError
from loopml.serving._contract import (
    FieldProblem,
    LoggedPrediction,
    Predictions,
    ReadBatch,
    RequestError,
)
from loopml.serving._deps import instance_ids
from loopml.serving._holder import LoadedModel
from loopml.serving._routes_common import (
    HttpProblem,
    ServiceState,
    json_response,
    parse_json,
    read_body,
    request_id_of,
    state_of,
)

EXAMPLE = '{"instances": [{"age": 42, "plan": "pro"}]}'


def instances_of(payload: Any, limit: int) -> list[dict[str, Any]]:
    """The instances of a predict body, checked for shape and count (422 / 413)."""
    if not isinstance(payload, dict) or "instances" not in payload:
        raise HttpProblem(
            422,
            "the body must be a JSON object with an 'instances' list, e.g. " + EXAMPLE,
            [{"loc": ["body", "instances"], "msg": "field required", "type": "missing"}],
        )
    instances = payload["instances"]
    if isinstance(instances, dict):  # one instance sent bare
        instances = [instances]
    if not isinstance(instances, list) or not instances:
        raise HttpProblem(
            422,
            "'instances' must be a non-empty list of objects (one per row), e.g. " + EXAMPLE,
            [{"loc": ["body", "instances"], "msg": "expected a non-empty list", "type": "list"}],
        )
    if len(instances) > limit:
        raise HttpProblem(
            413,
            f"the request has {len(instances)} instances; this server accepts at most {limit} "
            "per request (serving.limits.max_instances). Split it into several requests.",
        )
    bad = [i for i, row in enumerate(instances) if not isinstance(row, dict)]
    if bad:
        raise RequestError(
            [FieldProblem(i, "*", "an instance must be a JSON object {column: value}") for i in bad]
        )
    return instances


def _warnings(batch: ReadBatch) -> dict[str, Any] | None:
    instances = [
        {"index": i, "messages": list(messages)}
        for i, messages in enumerate(batch.warnings)
        if messages
    ]
    if not instances and not batch.ignored:
        return None
    out: dict[str, Any] = {}
    if batch.ignored:
        out["ignored_columns"] = list(batch.ignored)
    if instances:
        out["instances"] = instances
    return out


def _warning_kind(message: str) -> str:
    text = message.lower()
    if "categor" in text:
        return "unseen_category"
    if "range" in text:
        return "out_of_range"
    return "other"


def _count_warnings(state: ServiceState, batch: ReadBatch) -> None:
    counter = state.metrics.warnings
    if batch.ignored:
        counter.labels("ignored_column").inc(len(batch.ignored))
    for messages in batch.warnings:
        for message in messages:
            counter.labels(_warning_kind(message)).inc()


async def predict(request: Request) -> Response:
    """``POST /v1/predict``: ``{"instances": [{column: value}, ...]}`` -> predictions."""
    arrived = time.time()
    started = time.perf_counter()
    state = state_of(request)
    settings = state.settings
    records = instances_of(
        parse_json(await read_body(request, settings.max_body_bytes)), settings.max_instances
    )
    model = state.holder.model  # this request keeps this model, whatever swaps meanwhile
    batch = model.reader.read(records)  # RequestError (422) names every bad field
    answer = model.predictor.predict(batch.rows, batch.n)
    ids = instance_ids(request_id_of(request), batch.n)
    payload: dict[str, Any] = {"predictions": answer.predictions}
    if answer.probabilities is not None:
        payload["probabilities"] = answer.probabilities
    payload["model_version"] = model.version
    payload["request_ids"] = ids
    warnings = _warnings(batch)
    if warnings is not None:
        payload["warnings"] = warnings
        _count_warnings(state, batch)
    state.metrics.predictions.labels(model.version).inc(batch.n)
    latency_ms = (time.perf_counter() - started) * 1000.0
    log = _LogTask(state, model, records, answer, ids, arrived, latency_ms)
    if state.sink is not None and settings.prediction_log.get("mode") == "sync":
        try:
            await run_in_threadpool(log.run)  # sync: answered only once logged
        except LoopmlError as exc:
            raise HttpProblem(
                503, f"the prediction could not be logged ({exc}); it was not answered, retry."
            ) from exc
        return json_response(payload)
    return json_response(payload, background=BackgroundTask(log) if state.sink else None)


class _LogTask:
    """Builds the prediction log's entries and hands them to the sink (after answering)."""

    def __init__(
        self,
        state: ServiceState,
        model: LoadedModel,
        records: list[dict[str, Any]],
        answer: Predictions,
        ids: list[str],
        arrived: float,
        latency_ms: float,
    ):
        self.args = (state, model, records, answer, ids, arrived, latency_ms)

    async def __call__(self) -> None:
        """After the response: on the event loop, as queueing never blocks (async mode)."""
        self.run()

    def run(self) -> None:
        state, model, records, answer, ids, arrived, latency_ms = self.args
        if state.sink is None:
            return
        names = [c.name for c in model.features]
        none: list[Any] = [None] * len(ids)
        probabilities: list[Any] = list(answer.probabilities) if answer.probabilities else none
        entries = [
            LoggedPrediction(
                request_id=rid,
                time=arrived,
                model_version=model.version,
                features={name: record.get(name) for name in names},
                prediction=prediction,
                probabilities=proba,
                latency_ms=latency_ms,
            )
            for rid, record, prediction, proba in zip(
                ids, records, answer.predictions, probabilities, strict=True
            )
        ]
        state.sink.record(entries)
