"""The v1 REST routes: predict, feedback, model, admin reload, health and metrics.

``/v1/predict`` is the request path: the body is read as bytes, parsed by orjson and handed
to the model's reader as plain dicts (no pydantic model per field, no pandas); the answer is
written by orjson. Logging the predictions happens after the response is sent, and so does
the challenger's prediction in shadow mode (``_variants.py``).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.background import BackgroundTask, BackgroundTasks
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import LoopmlError
from loopml.serving._contract import (
    FieldProblem,
    Predictions,
    ReadBatch,
    RequestError,
)
from loopml.serving._deps import instance_ids
from loopml.serving._holder import LoadedModel
from loopml.serving._predlog_store import DEFAULT_VARIANT
from loopml.serving._routes_common import (
    HttpProblem,
    ServiceState,
    json_response,
    parse_json,
    read_body,
    request_id_of,
    state_of,
)
from loopml.serving._variants import ShadowTask, log_entries

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


def _answering(
    state: ServiceState, records: list[dict[str, Any]], rid: str
) -> tuple[LoadedModel, str, LoadedModel | None]:
    """Who answers (the model and its variant) and who predicts in shadow, if anyone."""
    model = state.holder.model  # this request keeps this model, whatever swaps meanwhile
    route = state.challenger
    if route is None:
        return model, DEFAULT_VARIANT, None
    other = route.against(model)
    if other is None:
        return model, DEFAULT_VARIANT, None
    if route.mode == "shadow":
        return model, DEFAULT_VARIANT, other
    if route.picks_challenger(records, rid):
        return other, "challenger", None
    return model, DEFAULT_VARIANT, None


async def predict(request: Request) -> Response:
    """``POST /v1/predict``: ``{"instances": [{column: value}, ...]}`` -> predictions."""
    arrived = time.time()
    started = time.perf_counter()
    state = state_of(request)
    settings = state.settings
    records = instances_of(
        parse_json(await read_body(request, settings.max_body_bytes)), settings.max_instances
    )
    rid = request_id_of(request)
    model, variant, shadow = _answering(state, records, rid)
    batch = model.reader.read(records)  # RequestError (422) names every bad field
    answer = model.predictor.predict(batch.rows, batch.n)
    ids = instance_ids(rid, batch.n)
    payload: dict[str, Any] = {"predictions": answer.predictions}
    if answer.probabilities is not None:
        payload["probabilities"] = answer.probabilities
    if answer.scores is not None:
        payload["anomaly_scores"] = answer.scores
    payload["model_version"] = model.version
    if state.challenger is not None:
        payload["variant"] = variant
    payload["request_ids"] = ids
    warnings = _warnings(batch)
    if warnings is not None:
        payload["warnings"] = warnings
        _count_warnings(state, batch)
    state.metrics.predictions.labels(model.version, variant).inc(batch.n)
    latency_ms = (time.perf_counter() - started) * 1000.0
    background: BackgroundTask | None = None
    if state.sink is not None:
        log = _LogTask(state, model, records, answer, ids, arrived, latency_ms, variant)
        if settings.prediction_log.get("mode") == "sync":
            try:
                await run_in_threadpool(log.run)  # sync: answered only once logged
            except LoopmlError as exc:
                raise HttpProblem(
                    503, f"the prediction could not be logged ({exc}); it was not answered, retry."
                ) from exc
        else:
            background = BackgroundTask(log)
        if shadow is not None:  # after the answer is sent: the client does not wait for it
            task = BackgroundTask(ShadowTask(state, shadow, records, ids, arrived))
            background = task if background is None else BackgroundTasks([background, task])
    return json_response(payload, background=background)


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
        variant: str,
    ):
        self.args = (state, model, records, answer, ids, arrived, latency_ms, variant)

    async def __call__(self) -> None:
        """After the response: on the event loop, as queueing never blocks (async mode)."""
        self.run()

    def run(self) -> None:
        state, model, records, answer, ids, arrived, latency_ms, variant = self.args
        if state.sink is None:
            return
        state.sink.record(log_entries(model, records, answer, ids, arrived, latency_ms, variant))
