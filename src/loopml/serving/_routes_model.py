"""The v1 routes around predictions: feedback, model, admin reload, health and metrics."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from loopml.serving._contract import Feedback
from loopml.serving._holder import LoadedModel
from loopml.serving._predlog_store import MAX_ID_LENGTH, PredictionLogError
from loopml.serving._routes_common import (
    HttpProblem,
    json_response,
    parse_json,
    read_body,
    state_of,
)

FEEDBACK_EXAMPLE = '{"request_id": "3f2a...", "label": "yes"} or a list of them'


def _feedback_items(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and "feedback" in payload:
        payload = payload["feedback"]
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise HttpProblem(422, f"the feedback list is empty; send {FEEDBACK_EXAMPLE}.")
    return items


def _label_problem(model: LoadedModel, label: Any) -> str | None:
    """Why ``label`` cannot be a label of ``model``'s problem (None: it can)."""
    if label is None:
        return "the label is null; send the observed outcome"
    if model.problem.is_classification:
        classes = model.classes
        if str(label) not in classes and not (
            isinstance(label, bool) and str(label).lower() in classes
        ):
            return f"{label!r} is not one of the model's classes {classes}"
        return None
    if isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label):
        return f"{label!r} is not a finite number, as a regression label must be"
    return None


def feedback_of(payload: Any, model: LoadedModel, now: float) -> list[Feedback]:
    """Late labels from a feedback body: one, a list, or ``{"feedback": [...]}`` (422 when
    one cannot be used, naming it)."""
    items = _feedback_items(payload)
    labels: list[Feedback] = []
    detail: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            detail.append(_loc(i, "*", f"expected an object like {FEEDBACK_EXAMPLE}"))
            continue
        rid = item.get("request_id")
        if not isinstance(rid, str) or not rid or len(rid) > MAX_ID_LENGTH:
            detail.append(
                _loc(
                    i,
                    "request_id",
                    f"a non-empty string of at most {MAX_ID_LENGTH} characters from a predict "
                    "answer's request_ids",
                )
            )
            continue
        problem = "the label is missing" if "label" not in item else None
        problem = problem or _label_problem(model, item["label"])
        if problem is not None:
            detail.append(_loc(i, "label", problem))
            continue
        labels.append(Feedback(request_id=rid, label=item["label"], time=now))
    if detail:
        shown = "; ".join(f"item {d['loc'][1]}, {d['loc'][2]}: {d['msg']}" for d in detail[:5])
        raise HttpProblem(422, f"the feedback cannot be stored: {shown}.", detail)
    return labels


def _loc(index: int, name: str, message: str) -> dict[str, Any]:
    return {"loc": ["body", index, name], "msg": message, "type": "value_error"}


async def feedback(request: Request) -> Response:
    """``POST /v1/feedback``: late labels by request id; unknown ids are a 404 naming them."""
    state = state_of(request)
    payload = parse_json(await read_body(request, state.settings.max_body_bytes))
    labels = feedback_of(payload, state.holder.model, time.time())
    if state.sink is None:
        raise HttpProblem(503, "this server keeps no prediction log, so it cannot store labels.")
    unknown = await _store(state, labels)
    log_cfg = state.settings.prediction_log
    if unknown and log_cfg.get("mode", "async") == "async" and state.settings.workers > 1:
        # another worker may have made the prediction and not written it yet: give its
        # writer one flush interval (labels are all or nothing, so retrying is safe)
        await asyncio.sleep(float(log_cfg.get("flush_seconds", 1.0)) + 0.25)
        unknown = await _store(state, labels)
    if unknown:
        shown = ", ".join(unknown[:10]) + (
            f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        )
        raise HttpProblem(
            404,
            f"no logged prediction has the request id(s) {shown}; nothing was stored. Send the "
            "ids from the predict answer's request_ids.",
            [{"loc": ["body", "request_id"], "msg": rid, "type": "not_found"} for rid in unknown],
        )
    return json_response({"stored": len(labels)})


async def _store(state: Any, labels: list[Feedback]) -> list[str]:
    """Store the labels; the ids that match no logged prediction. A database that refuses
    them is the server's problem, not the request's: 503, and the client may retry."""
    try:
        return list(await run_in_threadpool(state.sink.feedback, labels))
    except PredictionLogError as exc:
        raise HttpProblem(
            503, f"the labels could not be stored ({exc}); nothing was stored, retry."
        ) from exc


def describe_model(model: LoadedModel) -> dict[str, Any]:
    """What ``GET /v1/model`` answers: version, input schema, metrics."""
    columns = []
    for col in model.features:
        entry: dict[str, Any] = {"name": col.name, "role": col.role}
        if col.minimum is not None:
            entry["minimum"] = col.minimum
        if col.maximum is not None:
            entry["maximum"] = col.maximum
        if col.categories:
            entry["categories"] = list(col.categories)
        columns.append(entry)
    return {
        "name": model.name,
        "version": model.version,
        "runtime": model.runtime,
        "aliases": list(model.aliases),
        "task": model.problem.task,
        "target": model.schema.target,
        "classes": model.classes or None,
        "input_schema": columns,
        "ignored_columns": list(model.id_columns),
        "metrics": dict(model.metrics),
        "loaded_at": model.loaded_at,
    }


async def model_info(request: Request) -> Response:
    state = state_of(request)
    model = state.holder.model
    described = describe_model(model)
    route = state.challenger
    described["challenger"] = route.describe(model) if route is not None else {"mode": "off"}
    return json_response(described)


async def reload(request: Request) -> Response:
    """``POST /v1/admin/reload``: swap to where the reference points now (409 if the new
    model fails its check; the old one keeps serving)."""
    state = state_of(request)
    outcome = await run_in_threadpool(state.holder.refresh)
    challenger = None
    if state.challenger is not None:
        challenger = await run_in_threadpool(state.challenger.holder.refresh)
    state.signal_reload()
    if outcome.outcome == "failed":
        raise HttpProblem(409, outcome.message)
    answer = outcome.to_dict()
    if challenger is not None:
        answer["challenger"] = challenger.to_dict()
    return json_response(answer)


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    holder = state_of(request).holder
    if not holder.is_ready:
        return json_response({"ready": False, "reason": "the model is loading"}, 503)
    return json_response({"ready": True, "model_version": holder.model.version})


async def metrics(request: Request) -> Response:
    state = state_of(request)
    if state.sink is not None:
        state.metrics.sink_state(state.sink)
    return Response(state.metrics.exposition(), media_type=state.metrics.content_type)
