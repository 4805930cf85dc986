"""The dashboard's FastAPI app (:func:`create_ui_app`) and its server (:func:`serve_ui`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from loopml.errors import ConfigError, LoopmlError, http_status
from loopml.ui._api import UiProblem, as_json
from loopml.ui._api import router as api_router
from loopml.ui._facts import Dashboard
from loopml.ui._pages import render
from loopml.ui._pages import router as page_router
from loopml.ui._timeline import Timelines

if TYPE_CHECKING:
    from loopml.project import Project

log = logging.getLogger(__name__)

#: Addresses only this machine reaches: the dashboard may listen there without a key.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def dashboard_key(project: Project) -> str | None:
    """The API key the dashboard's writes need: the variable ``serving.api_key_env`` names,
    as for the service; None when there is none (then every write is refused)."""
    name = project.config.serving.api_key_env
    return (project.env.get(name) or None) if name else None


def create_ui_app(
    project: Project, *, api_key: str | None = None, hosts: Collection[str] | None = None
) -> FastAPI:
    """The dashboard of ``project``: pages, the JSON API under ``/api``, its static files.

    ``api_key``: what ``POST /api/models/{version}/promote`` checks ``Authorization:
    Bearer <key>`` against; None refuses every write (403). ``hosts``: the only ``Host``
    headers answered (others get 400), so a web page elsewhere cannot read the dashboard
    through a DNS name rebound to 127.0.0.1; None answers any.
    """
    dashboard = Dashboard(project)
    timelines = Timelines(dashboard)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # the champion's timeline, off the request path: its first visitor does not wait
        threading.Thread(target=timelines.warm, name="loopml-ui-warm", daemon=True).start()
        yield

    app = FastAPI(
        title=f"loopml dashboard: {project.config.name}",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.dashboard = dashboard
    app.state.timelines = timelines
    app.state.api_key = api_key
    app.state.api_key_env = project.config.serving.api_key_env
    app.include_router(api_router)
    app.include_router(page_router)
    if hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    @app.exception_handler(UiProblem)
    def _refused(request: Request, exc: UiProblem) -> Response:
        return _problem(request, exc.status, exc.message)

    @app.exception_handler(LoopmlError)
    def _loopml_error(request: Request, exc: LoopmlError) -> Response:
        return _problem(request, http_status(exc), str(exc))

    return app


def _problem(request: Request, status: int, message: str) -> Response:
    """The error as JSON under ``/api``, as a page elsewhere."""
    if request.url.path.startswith("/api/"):
        return as_json({"error": message}, status)
    return render(request, "error.html", status=status, status_code=status, message=message)


def serve_ui(project: Project, *, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve the dashboard until interrupted.

    Raises
    ------
    ConfigError
        ``host`` is not this machine's and no API key is configured: anyone who reaches it
        could read the project's models and data findings.
    """
    import uvicorn

    key = dashboard_key(project)
    if key is None and host not in LOCAL_HOSTS:
        raise ConfigError(
            f"refusing to serve the dashboard on {host} without an API key. Set "
            "serving.api_key_env in loopml.yaml to an environment variable holding a key, "
            "or use --host 127.0.0.1 (the default)."
        )
    # on this machine, only this machine's names; beyond it, the key guards the writes
    hosts = sorted(LOCAL_HOSTS | {host}) if host in LOCAL_HOSTS else None
    app = create_ui_app(project, api_key=key, hosts=hosts)
    uvicorn.run(app, host=host, port=port, log_level="warning")
