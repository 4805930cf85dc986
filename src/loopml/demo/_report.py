"""The demo loop's timeline: one HTML page (traffic, drift, estimated and realised
performance, the promotion) and the rows of the console's summary table.

The monitoring report (``.loopml/reports/<model>-v<N>-monitoring.html``) has each feature's
tests; this page puts the loop on one time axis in demo days and links to it and to the
retraining decision.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.files import write_text_atomic

if TYPE_CHECKING:
    from loopml.demo._loop import LoopResult

_COLOURS = {
    "rows": "#d9e2ec",
    "labelled": "#8fb3d9",
    "drift": "#b42318",
    "features": "#f0a8a0",
    "realised": "#3e7cb1",
    "estimated": "#d98c21",
    "holdout": "#7b8794",
    "promotion": "#2f855a",
}


def summary_rows(result: LoopResult) -> list[dict[str, str]]:
    """One row per demo day for the console: drift knob, traffic, labels, what monitoring
    found, realised and estimated performance."""
    rows = []
    for record in result.days:
        window = result.window_of(record.day)
        drifted = [f.name for f in window.features if f.drifted] if window else []
        rows.append(
            {
                "day": str(record.day),
                "drift": f"{record.drift:.2f}",
                "predictions": str(record.rows),
                "labelled": str(window.labelled) if window else "0",
                "drifted": _names(drifted)
                if drifted
                else ("alarm" if window and window.drifted else "—"),
                "realised": _perf(window.performance if window else None),
                "estimated": _perf(window.estimated_performance if window else None),
            }
        )
    return rows


def _names(names: list[str]) -> str:
    if not names:
        return ""
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


def _perf(found: Any) -> str:
    if found is None or found.value is None:
        return "—"
    return f"{found.value:.3f}"


def write_timeline(result: LoopResult, path: Path, *, title: str) -> Path:
    """Write the timeline page to ``path`` (Plotly's JavaScript inlined: it opens offline)."""
    figure = _figure(result)
    body = figure.to_html(full_html=False, include_plotlyjs=True, config={"responsive": True})
    write_text_atomic(path, _page(result, title, body))
    return path


def _series(result: LoopResult) -> dict[str, list[Any]]:
    days = [r.day for r in result.days]
    windows = [result.window_of(d) for d in days]

    def perf(kind: str, part: str) -> list[float | None]:
        found = [getattr(w, kind, None) if w else None for w in windows]
        return [getattr(f, part) if f is not None else None for f in found]

    return {
        "day": days,
        "rows": [r.rows for r in result.days],
        "labelled": [w.labelled if w else 0 for w in windows],
        "drift": [r.drift for r in result.days],
        "features": [sum(f.drifted for f in w.features) if w else 0 for w in windows],
        "realised": perf("performance", "value"),
        "low": perf("performance", "low"),
        "high": perf("performance", "high"),
        "estimated": perf("estimated_performance", "value"),
    }


def _figure(result: LoopResult) -> Any:
    from plotly.subplots import make_subplots

    s, c = _series(result), _COLOURS
    metric = result.decision.metric
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        subplot_titles=(
            "Traffic: predictions, and those whose label came back",
            "Drift: the generator's knob, and how many features monitoring found drifted",
            f"Performance: {metric} realised on the labels, and estimated before them",
        ),
        specs=[[{}], [{"secondary_y": True}], [{}]],
    )
    day = s["day"]
    fig.add_bar(x=day, y=s["rows"], name="predictions", marker_color=c["rows"], row=1, col=1)
    fig.add_bar(x=day, y=s["labelled"], name="labelled", marker_color=c["labelled"], row=1, col=1)
    fig.add_bar(
        x=day, y=s["features"], name="drifted features", marker_color=c["features"], row=2, col=1
    )
    fig.add_scatter(
        x=day, y=s["drift"], name="drift knob", mode="lines+markers",
        line={"color": c["drift"]}, row=2, col=1, secondary_y=True,
    )  # fmt: skip
    fig.add_scatter(
        x=day, y=s["realised"], name="realised (95% interval)", mode="lines+markers",
        error_y=_error_bars(s), line={"color": c["realised"]}, row=3, col=1,
    )  # fmt: skip
    fig.add_scatter(
        x=day, y=s["estimated"], name="estimated (CBPE)", mode="lines+markers",
        line={"color": c["estimated"], "dash": "dot"}, row=3, col=1,
    )  # fmt: skip
    after = result.after
    fig.add_bar(
        x=[after.day], y=[after.rows], marker_color=c["promotion"], row=1, col=1,
        name=f"the day after (version {result.live_version})",
    )  # fmt: skip
    fig.update_yaxes(range=[0, 1.05], title_text="drift knob", row=2, col=1, secondary_y=True)
    _mark_decision(fig, result)
    fig.add_vline(
        x=result.timeline.first_drift_day - 0.5, line={"color": c["drift"], "dash": "dot"}
    )
    fig.update_layout(
        height=900,
        barmode="overlay",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.08},
    )
    fig.update_xaxes(title_text="demo day", dtick=1, row=3, col=1)
    return fig


def _error_bars(s: dict[str, list[Any]]) -> dict[str, Any]:
    def gap(a: Any, b: Any) -> float | None:
        return None if a is None or b is None else a - b

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(h, v) for h, v in zip(s["high"], s["realised"], strict=True)],
        "arrayminus": [gap(v, lo) for lo, v in zip(s["low"], s["realised"], strict=True)],
    }


def _mark_decision(fig: Any, result: LoopResult) -> None:
    """A line after the last day, with the decision; both models' scores on the holdout."""
    decision, c = result.decision, _COLOURS
    at = result.days[-1].day + 0.5
    if decision.test is not None:
        fig.add_scatter(
            x=[at, at],
            y=[decision.test.champion, decision.test.challenger],
            mode="markers+text",
            text=[
                f"champion v{decision.champion_version}",
                f"challenger v{decision.challenger_version}",
            ],
            textposition="middle left",
            marker={"color": [c["holdout"], c["promotion"]], "size": 10},
            name="both on the retraining holdout",
            row=3,
            col=1,
        )
    if decision.promoted:
        label = f"version {decision.challenger_version} promoted"
    else:
        label = "retrained, not promoted" if decision.triggered else "no retraining"
    fig.add_vline(x=at, line={"color": c["promotion"], "dash": "dash"})
    fig.add_annotation(
        x=at, y=1.02, yref="paper", text=label, showarrow=False, font={"color": c["promotion"]}
    )


def _page(result: LoopResult, title: str, figure: str) -> str:
    t, d = result.timeline, result.decision
    e = html.escape
    facts = [
        f"One demo day is {t.day_seconds:g} s of real time; {t.days} days of "
        f"{t.rows_per_day} predictions each went through the service over HTTP.",
        f"The drift knob turned on day {t.first_drift_day}; labels came back "
        f"{t.label_delay} days late through <code>POST /v1/feedback</code>.",
        "Monitoring found drift on days "
        + (", ".join(str(r.day) for r in result.days if result.drifted_on(r.day)) or "none")
        + (f" ({e(', '.join(result.drifted_features()[:6]))})" if result.drifted_features() else "")
        + ".",
        f"Retraining: {e(d.trigger)}.",
        f"Decision: {e(d.reason)}.",
        f"After it, the service answered with version {e(result.live_version)}: "
        + e(", ".join(f"version {v}: {n} rows" for v, n in sorted(result.after.versions.items())))
        + f". Failed requests: {len(result.failures)} of {result.requests}.",
    ]
    links = [(result.monitoring.html, "the monitoring report (every feature's tests)")]
    if d.report:
        links.append((Path(d.report).with_suffix(".html"), "the retraining decision"))
    items = "".join(f"<li>{f}</li>" for f in facts)
    hrefs = "".join(
        f'<li><a href="{e(p.name)}">{e(text)}</a></li>' for p, text in links if p is not None
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>body{{font-family:system-ui,sans-serif;"
        "max-width:1100px;margin:2em auto;padding:0 1em}</style></head><body>"
        f"<h1>{e(title)}</h1><ul>{items}</ul>{figure}<h2>More</h2><ul>{hrefs}</ul>"
        "</body></html>\n"
    )
