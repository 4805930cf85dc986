"""The dashboard's JSON API under ``/api``: what the pages show, paginated and aggregated on
the server, and the one write, ``POST /api/models/{version}/promote``, which needs the key."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from loopml.registry import ALIASES
from loopml.ui._facts import Dashboard
from loopml.ui._leaderboard import QueryError, RunQuery, parse_query
from loopml.ui._timeline import Timelines

router = APIRouter(prefix="/api")

#: Runs per page: the default, and the most a page may hold.
PER_PAGE, MAX_PER_PAGE = 50, 500
#: The query parameters of the runs leaderboard (see :func:`parse_query`).
QUERY_KEYS = ("sort", "order", "family", "alias", "gate", "threshold")


class UiProblem(Exception):
    """A request the dashboard refuses: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def as_json(payload: Any, status: int = 200) -> Response:
    """``payload`` as a JSON response, encoded once by orjson (NaN becomes null)."""
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status_code=status, media_type="application/json")


def dashboard_of(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found


def timelines_of(request: Request) -> Timelines:
    found: Timelines = request.app.state.timelines
    return found


def whole_number(value: str | None, name: str, default: int, *, most: int | None = None) -> int:
    """``value`` of query parameter ``name`` as a whole number from 1 (``default`` when
    absent); a :class:`UiProblem` (422) naming it otherwise."""
    if value is None or value == "":
        return default
    limit = f" to {most}" if most else ""
    if not value.isdigit() or int(value) < 1 or (most is not None and int(value) > most):
        raise UiProblem(
            422, f"{name} must be a whole number from 1{limit}, not {value!r}; e.g. ?{name}=2."
        )
    return int(value)


def page_args(request: Request) -> tuple[int, int]:
    query = request.query_params
    per_page = whole_number(query.get("per_page"), "per_page", PER_PAGE, most=MAX_PER_PAGE)
    return whole_number(query.get("page"), "page", 1), per_page


def run_query(request: Request) -> RunQuery:
    """The leaderboard's sort and filters in the query string; 422 for one it cannot ask."""
    query = request.query_params
    if not any(query.get(k) for k in QUERY_KEYS):
        return RunQuery()  # newest first, every run: no need to know the metrics
    try:
        return parse_query(query, dashboard_of(request).runs.metric_keys())
    except QueryError as exc:
        raise UiProblem(422, str(exc)) from None


def runs_page(request: Request) -> dict[str, Any]:
    """The page of runs the query asks for, sorted and filtered by the store; 404 past the
    last page."""
    page, per_page = page_args(request)
    found = dashboard_of(request).runs.page(page, per_page, run_query(request))
    past_last(page, found.pages, found.total, per_page, "runs")
    return found.to_dict()


def past_last(page: int, pages: int, total: int, per_page: int, what: str) -> None:
    if page > pages:
        raise UiProblem(
            404,
            f"page {page} is past the last page: {total} {what} make {pages} "
            f"page(s) of {per_page}. Ask for ?page=1 to {pages}.",
        )


def history_page(request: Request) -> dict[str, Any]:
    """The page of alias events the query asks for, newest first; 404 past the last page."""
    page, per_page = page_args(request)
    found = dashboard_of(request).alias_events(page, per_page)
    past_last(page, found["pages"], found["total"], per_page, "alias events")
    return found


# Each route answers with orjson directly: FastAPI's own encoding of a returned dict walks it
# twice (jsonable_encoder, then json), a third of a 100-run page's time.


@router.get("/overview")
def overview(request: Request) -> Response:
    return as_json(dashboard_of(request).overview())


@router.get("/runs")
def runs(request: Request) -> Response:
    return as_json(runs_page(request))


@router.get("/runs/compare")
def compare(request: Request) -> Response:
    """``?run=ID&run=ID...``: the runs side by side, differences first."""
    return as_json(dashboard_of(request).compare(request.query_params.getlist("run")))


@router.get("/runs/metrics/{key}")
def metric(request: Request, key: str) -> Response:
    """``key`` over all runs, oldest first, bucketed past a few hundred points."""
    store = dashboard_of(request).runs
    known = store.metric_keys()
    if key not in known:
        raise UiProblem(404, f"no run logged a metric {key!r}; logged: {', '.join(known)}.")
    return as_json({"metric": key, "points": store.metric_series(key)})


@router.get("/models")
def models(request: Request) -> Response:
    return as_json(dashboard_of(request).versions())


@router.get("/models/history")
def history(request: Request) -> Response:
    """Every alias move, newest first, ``?page=&per_page=`` at a time."""
    return as_json(history_page(request))


@router.get("/models/{version}")
def model(request: Request, version: str) -> Response:
    return as_json(dashboard_of(request).version(version))


@router.post("/models/{version}/promote")
async def promote(request: Request, version: str) -> Response:
    """Move an alias (``{"alias": "champion"}``) to ``version``; needs the API key."""
    check_key(request)
    try:
        body = await request.json()
    except ValueError:
        raise UiProblem(400, 'the request body is not JSON; send {"alias": "champion"}.') from None
    alias = body.get("alias", "champion") if isinstance(body, dict) else None
    if alias not in ALIASES:
        raise UiProblem(
            422,
            f"alias must be one of {', '.join(ALIASES)}, not {alias!r}; e.g. "
            '{"alias": "champion"}.',
        )
    dashboard = dashboard_of(request)
    await run_in_threadpool(dashboard.version, version)  # 404 for a version that is not there
    return as_json(await run_in_threadpool(dashboard.promote, version, alias))


def check_key(request: Request) -> None:
    """Refuse a write without the right ``Authorization: Bearer <key>`` (401), or when the
    dashboard has no key to check against (403)."""
    expected: str | None = request.app.state.api_key
    env: str | None = request.app.state.api_key_env
    if expected is None:
        where = (
            f"the environment variable {env!r} that serving.api_key_env names is not set"
            if env
            else "serving.api_key_env is not set in loopml.yaml"
        )
        raise UiProblem(
            403,
            f"promoting needs the API key, and this dashboard has none: {where}. Set it, "
            "restart `loopml ui`, and send `Authorization: Bearer <key>`.",
        )
    sent = request.headers.get("authorization")
    if not sent:
        raise UiProblem(401, "promoting needs `Authorization: Bearer <key>`; none was sent.")
    if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
        raise UiProblem(401, "the API key sent in `Authorization: Bearer <key>` is not valid.")


@router.get("/data")
def data(request: Request) -> Response:
    return as_json(dashboard_of(request).data())


@router.get("/monitoring/{version}")
def monitoring(request: Request, version: str) -> Response:
    return as_json(timelines_of(request).timeline(version))


@router.get("/monitoring/{version}/windows/{index}")
def window(request: Request, version: str, index: str) -> Response:
    if not index.isdigit():
        raise UiProblem(422, f"the window must be a whole number from 0, not {index!r}.")
    return as_json(timelines_of(request).window(version, int(index)))
