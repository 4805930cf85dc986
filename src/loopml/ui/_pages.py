"""The dashboard's pages: server-rendered HTML (Jinja2) from the same facts as the API."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from loopml._display import fmt_num
from loopml.errors import ModelNotFoundError
from loopml.ui._api import (
    UiProblem,
    dashboard_of,
    history_page,
    page_args,
    run_query,
    runs_page,
    timelines_of,
)
from loopml.ui._svg import line_chart, timeline_chart

router = APIRouter()

#: The pages in the navigation bar: path, title.
NAV = (
    ("/", "Overview"),
    ("/runs", "Runs"),
    ("/versions", "Model versions"),
    ("/data", "Data"),
    ("/monitoring", "Monitoring"),
)


def when(seconds: float | None) -> str:
    """Seconds since the epoch as ``2026-12-06 01:25:04 UTC`` ('-' for None)."""
    if not seconds:
        return "-"
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("loopml.ui", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    env.filters["when"] = when
    env.globals["nav"] = NAV
    return env


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = (
        environment()
        .get_template(template)
        .render(
            path=request.url.path,
            project=request.app.state.dashboard.project.config.name,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request) -> HTMLResponse:
    return render(request, "overview.html", o=dashboard_of(request).overview())


@router.get("/runs", response_class=HTMLResponse)
def runs_list(request: Request) -> HTMLResponse:
    found = runs_page(request)
    dashboard = dashboard_of(request)
    keys = dashboard.runs.metric_keys()
    metric = request.query_params.get("metric") or _default_metric(dashboard, keys)
    if metric not in keys and keys:
        raise UiProblem(404, f"no run logged a metric {metric!r}; logged: {', '.join(keys)}.")
    chart = None
    if metric:
        points = [
            {
                **p,
                "title": f"{p['value']:.4g}"
                + (f" (mean of {p['runs']} runs, {p['low']:.4g} to {p['high']:.4g})"
                   if p["runs"] > 1 else f", {when(p['time'])}"),
            }
            for p in dashboard.runs.metric_series(metric)
        ]  # fmt: skip
        chart = line_chart(points, label=f"{metric} over runs", x_label="runs, oldest first")
    _, per_page = page_args(request)
    query = run_query(request)
    return render(
        request,
        "runs.html",
        r=found,
        keys=keys,
        metric=metric,
        chart=chart,
        per_page=per_page,
        q=query,
        families=dashboard.runs.families(),
        link=_linker({**query.to_params(), "metric": metric or "", "per_page": per_page}),
    )


def _linker(base: dict[str, Any]) -> Any:
    """``link(page=2, sort="cv_roc_auc")``: the runs page as ``base`` asks, with changes."""

    def link(**change: Any) -> str:
        return "/runs?" + urlencode({**base, **change})

    return link


@router.get("/runs/{run_id}/report", response_class=HTMLResponse)
def run_report(request: Request, run_id: str) -> HTMLResponse:
    """The training report a run logged, with its leaderboard (every trial) at
    ``#leaderboard``."""
    body = dashboard_of(request).runs.report_html(run_id)
    if body is None:
        raise UiProblem(404, f"run {run_id!r} logged no training report.")
    return HTMLResponse(body)


def _default_metric(dashboard: Any, keys: list[str]) -> str | None:
    primary = dashboard.project.config.problem.metric
    for key in (f"holdout_{primary}", f"cv_{primary}"):
        if key in keys:
            return key
    return keys[0] if keys else None


@router.get("/runs/compare", response_class=HTMLResponse)
def compare_page(request: Request) -> HTMLResponse:
    found = dashboard_of(request).compare(request.query_params.getlist("run"))
    return render(request, "compare.html", c=found)


@router.get("/versions", response_class=HTMLResponse)
def versions_page(request: Request) -> HTMLResponse:
    dashboard = dashboard_of(request)
    return render(
        request,
        "versions.html",
        versions=dashboard.versions(),
        h=history_page(request),
        decisions=dashboard.decisions(),
    )


@router.get("/versions/{version}", response_class=HTMLResponse)
def version_page(request: Request, version: str) -> HTMLResponse:
    found = dashboard_of(request).version(version)
    promoted = request.query_params.get("promoted")  # the page after a promotion
    return render(request, "version.html", v=found, promoted=promoted)


@router.get("/versions/{version}/report")
def version_report(request: Request, version: str) -> FileResponse:
    """The training report of a version, as training wrote it."""
    dashboard = dashboard_of(request)
    info = dashboard.info(version)
    path = dashboard.report_file(info)
    if path is None:
        raise ModelNotFoundError(
            f"version {info.version} has no training report in {dashboard.reports_dir}."
        )
    return FileResponse(path, media_type="text/html")


@router.get("/reports/{name}")
def report(request: Request, name: str) -> FileResponse:
    """A retraining or monitoring report the workspace holds (by file name only)."""
    dashboard = dashboard_of(request)
    path = dashboard.reports_dir / name
    model = dashboard.project.config.model_name
    allowed = name.startswith(f"{model}-v") and name.endswith(("-retrain.html", "-monitoring.html"))
    if "/" in name or not allowed or not path.is_file():
        raise UiProblem(404, f"no report {name!r} in {dashboard.reports_dir}.")
    return FileResponse(path, media_type="text/html")


@router.get("/data", response_class=HTMLResponse)
def data_page(request: Request) -> HTMLResponse:
    return render(request, "data.html", d=dashboard_of(request).data())


@router.get("/profile")
def profile(request: Request) -> FileResponse:
    """The EDA profile of the data, as ``loopml profile`` wrote it."""
    path = dashboard_of(request).profile_file()
    if path is None:
        raise UiProblem(404, "no data profile yet: run `loopml profile` to write one.")
    return FileResponse(path, media_type="text/html")


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request) -> HTMLResponse:
    dashboard = dashboard_of(request)
    versions = dashboard.versions()
    wanted = request.query_params.get("version")
    if wanted is None:
        live = next((v for v in versions if "champion" in v["aliases"]), None)
        wanted = (live or (versions[0] if versions else {})).get("version")
    timeline = timelines_of(request).timeline(wanted) if wanted else None
    chart = None
    if timeline is not None:
        metric = next((w["metric"] for w in timeline["windows"] if w["metric"]), None)
        chart = timeline_chart(
            timeline["windows"], timeline["events"], metric=metric, span=timeline.get("span")
        )
    return render(request, "monitoring.html", versions=versions, t=timeline, chart=chart)


@router.get("/favicon.ico")
def favicon() -> Response:
    """Nothing (the reports the dashboard serves name no icon; browsers ask anyway)."""
    return Response(status_code=204)


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The dashboard's own style and script, shipped in the package (nothing from a CDN)."""
    folder = Path(__file__).with_name("static")
    path = folder / name
    if "/" in name or not path.is_file():
        raise UiProblem(404, f"no static file {name!r}.")
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "max-age=3600"})
