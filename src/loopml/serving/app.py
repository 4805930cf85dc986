"""The prediction service: ``create_app(settings, source)`` builds one FastAPI app.

Each worker builds its own app (no module-level app, nothing read from the environment on
import). The app loads, checks and warms the model before it accepts a request, follows the
``champion`` alias by polling the registry, and answers the REST contract of DESIGN.md plus
the Open Inference Protocol v2.

Examples
--------
>>> from loopml.serving.app import create_app          # doctest: +SKIP
>>> app = create_app(settings, RegistryModelSource(registry))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.serving import _routes, _routes_model, _v2
from loopml.serving._contract import PredictionSink, RequestError
from loopml.serving._deps import KeyCheck, ServiceSettings, request_id, service_settings
from loopml.serving._holder import (
    LoadedModel,
    ModelHolder,
    ModelSource,
    RefreshOutcome,
    RegistryModelSource,
)
from loopml.serving._metrics import ServiceMetrics
from loopml.serving._openapi import patch_document
from loopml.serving._routes_common import (
    HttpProblem,
    ServiceState,
    field_problems,
    json_response,
    problem_response,
)
from loopml.serving._variants import ChallengerRoute, ShadowRunner

log = logging.getLogger(__name__)

__all__ = [
    "LoadedModel",
    "ModelSource",
    "RegistryModelSource",
    "ServiceSettings",
    "create_app",
    "serve",
    "service_settings",
]


class ServiceMiddleware:
    """Request ids, API keys, metrics and errors for every request, as plain ASGI (a
    ``BaseHTTPMiddleware`` would cost more than the prediction)."""

    def __init__(self, app: ASGIApp, state: ServiceState):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        rid = request_id(headers.get(b"x-request-id"))
        scope["loopml.request_id"] = rid
        rid_header = (b"x-request-id", rid.encode("latin-1"))
        status = 500
        sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        try:
            refused = self.state.keys.problem(scope["path"], headers.get(b"authorization"))
            if refused is not None:
                await _refuse(refused, rid, scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if sent:
                raise
            response = _error_response(exc, rid, scope["path"])
            await response(scope, receive, send_with_id)
        finally:
            self.state.metrics.observe(_endpoint(scope), status, time.perf_counter() - started)


async def _refuse(
    refused: tuple[int, str], rid: str, scope: Scope, receive: Receive, send: Send
) -> None:
    code, message = refused
    headers = {"WWW-Authenticate": 'Bearer realm="loopml"'} if code == 401 else None
    await problem_response(HttpProblem(code, message, headers=headers), rid)(scope, receive, send)


def _error_response(exc: Exception, rid: str, path: str) -> Any:
    if isinstance(exc, HttpProblem):
        return problem_response(exc, rid)
    if isinstance(exc, RequestError):
        status = 400 if path.startswith("/v2/") else 422  # v2 clients expect 400
        return problem_response(HttpProblem(status, str(exc), field_problems(exc.problems)), rid)
    log.exception("request %s failed", rid)
    return json_response(
        {
            "error": f"the server failed to answer ({type(exc).__name__}: {exc}); this is a "
            f"bug or a broken model, not your request. Quote request id {rid} when reporting.",
            "request_id": rid,
        },
        500,
    )


#: Routes FastAPI adds itself (no ``route`` in the scope); any other unmatched path is one label.
_KNOWN_PATHS = frozenset(
    {
        "/openapi.json",
        "/docs",
        "/v2",
        "/v1/predict",
        "/v1/feedback",
        "/v1/model",
        "/v1/admin/reload",
    }
    | {"/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"}
)


def _endpoint(scope: Scope) -> str:
    """The route's path template (``/v2/models/{name}/infer``), so labels stay few."""
    path = getattr(scope.get("route"), "path", None) or scope["path"]
    return str(path) if path in _KNOWN_PATHS or "{" in path else "unmatched"


def _on_swap(metrics: ServiceMetrics) -> Callable[[RefreshOutcome, LoadedModel | None], None]:
    def record(outcome: RefreshOutcome, model: LoadedModel | None) -> None:
        metrics.reloads.labels("failed" if outcome.outcome == "failed" else "ok").inc()
        if model is not None:
            metrics.set_model(model.name, model.version, model.runtime)

    return record


def _add_routes(app: FastAPI) -> None:
    def add(path: str, endpoint: Callable[..., Awaitable[Any]], method: str, **kw: Any) -> None:
        app.add_api_route(path, endpoint, methods=[method], **kw)

    add("/v1/predict", _routes.predict, "POST", summary="Predict one or many instances")
    add("/v1/feedback", _routes_model.feedback, "POST", summary="Late labels by request id")
    add("/v1/model", _routes_model.model_info, "GET", summary="The loaded model")
    add("/v1/admin/reload", _routes_model.reload, "POST", summary="Swap to the current alias")
    add("/healthz", _routes_model.healthz, "GET", summary="The process is up")
    add("/readyz", _routes_model.readyz, "GET", summary="A model is loaded")
    add("/metrics", _routes_model.metrics, "GET", summary="Prometheus metrics")
    add("/v2", _v2.server_metadata, "GET", summary="v2: server metadata")
    add("/v2/health/live", _v2.live, "GET", summary="v2: live")
    add("/v2/health/ready", _v2.ready, "GET", summary="v2: ready")
    add("/v2/models/{name}", _v2.model_metadata, "GET", summary="v2: model metadata")
    add("/v2/models/{name}/ready", _v2.model_ready, "GET", summary="v2: model ready")
    add("/v2/models/{name}/versions/{version}", _v2.model_metadata, "GET", summary="v2: model")
    add("/v2/models/{name}/infer", _v2.infer, "POST", summary="v2: infer")
    add("/v2/models/{name}/versions/{version}/infer", _v2.infer, "POST", summary="v2: infer")


def _openapi(app: FastAPI, state: ServiceState) -> Callable[[], dict[str, Any]]:
    def document() -> dict[str, Any]:
        model = state.holder.model
        cached = state.openapi_cache.get(model.version)
        if cached is None:
            doc = get_openapi(
                title=f"loopml: {model.name}", version=model.version, routes=app.routes
            )
            cached = patch_document(doc, model, state.settings.extra_columns)
            state.openapi_cache.clear()
            state.openapi_cache[model.version] = cached
        return cached

    return document


def _challenger(settings: ServiceSettings, source: ModelSource) -> ChallengerRoute | None:
    """The online comparison's route (None when ``serving.challenger.mode`` is off)."""
    if settings.challenger_mode == "off":
        return None
    holder = ModelHolder(source, settings.challenger_ref, optional=True)
    return ChallengerRoute(
        holder,
        settings.challenger_mode,
        settings.challenger_fraction,
        settings.challenger_sticky_column,
    )


def _start_challenger(route: ChallengerRoute, champion: LoadedModel) -> None:
    """Load the challenger if the alias names one; without one the champion answers alone."""
    sticky = route.sticky_column
    known = {c.name for c in champion.features} | set(champion.id_columns)
    if route.mode == "ab" and sticky is not None and sticky not in known:
        log.warning(
            "serving.challenger.sticky_column %r is neither an input nor an id column of the "
            "champion; requests without it are split by their request id",
            sticky,
        )
    outcome = route.holder.refresh()
    if outcome.outcome == "failed":
        log.error("the challenger cannot serve (%s); the champion answers alone", outcome.message)
    elif route.against(champion) is None:
        log.warning("%s comparison: %s", route.mode, route.describe(champion)["status"])
    else:
        log.info(
            "%s comparison: champion %s against challenger %s",
            route.mode,
            champion.version,
            outcome.version,
        )


def create_app(
    settings: ServiceSettings,
    source: ModelSource,
    *,
    sink: PredictionSink | None = None,
    api_key: str | None = None,
    reload_signal: Path | None = None,
) -> FastAPI:
    """The service for ``settings``, serving what ``source`` loads.

    The model is loaded, checked and warmed when the app starts (its lifespan), before the
    first request; ``sink`` receives the predictions (closed at shutdown); ``api_key``
    switches on bearer auth.
    """
    metrics = ServiceMetrics(settings.monitoring_status)
    holder = ModelHolder(source, settings.model, on_swap=_on_swap(metrics))
    state = ServiceState(
        settings=settings,
        holder=holder,
        metrics=metrics,
        keys=KeyCheck(api_key),
        sink=sink,
        reload_signal=reload_signal,
        challenger=_challenger(settings, source),
        shadow=ShadowRunner() if settings.challenger_mode == "shadow" else None,
    )
    route, shadow = state.challenger, state.shadow

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        champion = holder.start()
        holder.poll(settings.reload_poll_seconds, reload_signal)
        if route is not None:
            _start_challenger(route, champion)
            route.holder.poll(settings.reload_poll_seconds, reload_signal)
        if shadow is not None:
            shadow.start()
        try:
            yield
        finally:
            holder.stop()
            if route is not None:
                route.holder.stop()
            if shadow is not None:
                shadow.stop()  # what is queued is predicted and logged before the log closes
            if sink is not None:
                sink.close()

    app = FastAPI(title="loopml", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.loopml = state
    _add_routes(app)
    app.openapi = _openapi(app, state)  # type: ignore[method-assign]
    app.add_middleware(ServiceMiddleware, state=state)
    return app


def serve(settings: ServiceSettings, env: Mapping[str, str]) -> None:
    """Run the service until interrupted (``loopml serve``); see :mod:`loopml.serving._server`."""
    from loopml.serving._server import run

    run(settings, env)
