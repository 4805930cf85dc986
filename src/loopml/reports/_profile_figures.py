"""The profile report's figures: plain Plotly specifications (dicts), no graph objects.

Building ``plotly.graph_objects`` figures validates every property and costs more than the
profile itself on wide tables; the page hands these dicts straight to ``Plotly.newPlot``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.reports._format import fmt, fmt_label, fmt_pct, fmt_score

if TYPE_CHECKING:
    from loopml.data import Association, ColumnProfile, Histogram, Matrix, Profile

_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12}
BLUE = "#3e7cb1"
ROLE_COLOURS = {
    "numeric": "#3e7cb1",
    "categorical": "#8e5ea2",
    "boolean": "#3a9d8f",
    "datetime": "#d98c21",
    "text": "#7b8794",
    "id": "#9aa5b1",
}
_ANNOTATE_UP_TO = 15
_DIVERGING = [
    [0, "#b2182b"],
    [0.25, "#ef8a62"],
    [0.5, "#f7f7f7"],
    [0.75, "#67a9cf"],
    [1, "#2166ac"],
]
_SEQUENTIAL = [
    [0, "#f7fbff"],
    [0.5, "#6baed6"],
    [1, "#08306b"],
]  # heatmaps print their values up to this many columns


def _layout(**extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 300,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "font": _FONT,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "xaxis": {"gridcolor": "#e4e7eb", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#e4e7eb", "zeroline": False, "automargin": True},
        "showlegend": False,
        "bargap": 0.05,
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _histogram_bars(h: Histogram, colour: str) -> dict[str, Any]:
    edges = np.asarray(h.edges, dtype=float)
    if h.log:  # a filled step line: bars do not sit right on a log axis
        return {
            "type": "scatter",
            "mode": "lines",
            "x": _round(edges),
            "y": [*h.counts, h.counts[-1]],
            "line": {"shape": "hv", "color": colour, "width": 1},
            "fill": "tozeroy",
            "hovertemplate": "from %{x:.4g}: %{y:,} rows<extra></extra>",
        }
    left, right = edges[:-1], edges[1:]
    labels = [f"{fmt(float(a))} to {fmt(float(b))}" for a, b in zip(left, right, strict=True)]
    return {
        "type": "bar",
        "x": _round((left + right) / 2),
        "y": list(h.counts),
        "width": _round((right - left) * 0.98),
        "customdata": labels,
        "hovertemplate": "%{customdata}<br>%{y:,} rows<extra></extra>",
        "marker": {"color": colour},
    }


def _time_bars(h: Histogram, colour: str) -> dict[str, Any]:
    edges = np.array(h.edges, dtype="datetime64[s]")
    span = edges[1:] - edges[:-1]
    centres = edges[:-1] + span // 2
    return {
        "type": "bar",
        "x": [str(c) for c in centres],
        "y": list(h.counts),
        "width": (span.astype(np.int64) * 1000 * 0.98).tolist(),
        "hovertemplate": "%{x}<br>%{y:,} rows<extra></extra>",
        "marker": {"color": colour},
    }


def column_figure(col: ColumnProfile) -> dict[str, Any] | None:
    colour = ROLE_COLOURS.get(col.role, BLUE)
    if col.numeric is not None and col.numeric.histogram.counts:
        return {
            "data": [_histogram_bars(col.numeric.histogram, colour)],
            "layout": _layout(
                title={"text": f"Distribution of {col.name}"},
                xaxis={"type": "log", "title": {"text": "log scale"}}
                if col.numeric.histogram.log
                else {},
                yaxis={"title": {"text": "rows"}},
            ),
        }
    if col.datetime is not None and col.datetime.histogram.counts:
        return {
            "data": [_time_bars(col.datetime.histogram, colour)],
            "layout": _layout(
                title={"text": f"{col.name} over time"},
                xaxis={"type": "date"},
                yaxis={"title": {"text": "rows"}},
            ),
        }
    if col.categories is not None and col.categories.top:
        labels = [fmt_label(label) for label, _ in col.categories.top]
        counts = [count for _, count in col.categories.top]
        if col.categories.other:
            labels.append(f"(other {col.distinct - len(col.categories.top):,} values)")
            counts.append(col.categories.other)
        return {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": labels[::-1],
                    "x": counts[::-1],
                    "hovertemplate": "%{y}: %{x:,} rows<extra></extra>",
                    "marker": {"color": colour},
                }
            ],
            "layout": _layout(
                title={"text": f"Most common values of {col.name}"},
                height=max(260, 22 * len(labels) + 90),
                xaxis={"title": {"text": "rows"}},
                yaxis={"type": "category"},
                margin={"l": 140},
            ),
        }
    if col.text is not None and col.text.histogram.counts:
        return {
            "data": [_histogram_bars(col.text.histogram, colour)],
            "layout": _layout(
                title={"text": f"Length of {col.name} (characters)"},
                yaxis={"title": {"text": "rows"}},
            ),
        }
    return None


def missing_figures(profile: Profile) -> dict[str, dict[str, Any]]:
    m = profile.missingness
    figs: dict[str, dict[str, Any]] = {}
    shares = sorted(((s, c) for c, s in m.by_column.items() if s > 0), key=lambda p: -p[0])
    if shares:
        figs["missing-columns"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [c for _, c in shares][::-1],
                    "x": _round([s for s, _ in shares][::-1]),
                    "hovertemplate": "%{y}: %{x:.1%} missing<extra></extra>",
                    "marker": {"color": "#c65d3b"},
                }
            ],
            "layout": _layout(
                title={"text": "Share of rows missing, per column"},
                height=max(260, 20 * len(shares) + 90),
                xaxis={"tickformat": ".0%", "range": [0, max(s for s, _ in shares) * 1.05]},
                yaxis={"type": "category"},
                margin={"l": 140},
            ),
        }
        per_row = list(m.per_row)
        while len(per_row) > 1 and per_row[-1] == 0:
            per_row.pop()
        figs["missing-rows"] = {
            "data": [
                {
                    "type": "bar",
                    "x": list(range(len(per_row))),
                    "y": per_row,
                    "hovertemplate": "%{y:,} rows miss %{x} values<extra></extra>",
                    "marker": {"color": "#c65d3b"},
                }
            ],
            "layout": _layout(
                title={"text": "Rows by number of missing values"},
                xaxis={"title": {"text": "missing values in the row"}, "dtick": 1},
                yaxis={"title": {"text": "rows"}},
            ),
        }
    return figs


def heatmap(matrix: Matrix, label: str, lo: float) -> dict[str, Any]:
    k = len(matrix.columns)
    z = [[None if math.isnan(v) else round(v, 3) for v in row] for row in matrix.values]
    trace: dict[str, Any] = {
        "type": "heatmap",
        "z": z,
        "x": list(matrix.columns),
        "y": list(matrix.columns),
        "zmin": lo,
        "zmax": 1.0,
        "colorscale": _DIVERGING if lo < 0 else _SEQUENTIAL,
        "hoverongaps": False,
        "hovertemplate": "%{y} · %{x}: %{z:.3f}<extra></extra>",
    }
    if k <= _ANNOTATE_UP_TO:
        trace["texttemplate"] = "%{z:.2f}"
    side = max(360, 18 * k + 180)
    return {
        "data": [trace],
        "layout": _layout(
            title={"text": label},
            height=side,
            xaxis={"type": "category", "tickangle": -45, "gridcolor": "rgba(0,0,0,0)"},
            yaxis={"type": "category", "autorange": "reversed", "gridcolor": "rgba(0,0,0,0)"},
            margin={"l": 120, "b": 120},
        ),
    }


def scores_figure(associations: Sequence[Association], target: str) -> dict[str, Any]:
    shown = [a for a in associations if not math.isnan(a.score)]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [a.feature for a in shown][::-1],
                "x": _round([a.score for a in shown][::-1]),
                "customdata": [a.method for a in shown][::-1],
                "hovertemplate": "%{y}: %{x:.3f} (%{customdata})<extra></extra>",
                "marker": {"color": [ROLE_COLOURS.get(a.role, BLUE) for a in shown][::-1]},
            }
        ],
        "layout": _layout(
            title={"text": f"Association with {target}"},
            height=max(260, 20 * len(shown) + 90),
            xaxis={"range": [0, 1], "title": {"text": "score (0 = none, 1 = determines)"}},
            yaxis={"type": "category"},
            margin={"l": 140},
        ),
    }


def association_figure(a: Association, logs: set[str]) -> dict[str, Any]:
    """The plot of one feature against the target; skewed numbers get a log axis."""
    plot = a.plot
    title = {"text": f"{a.feature} and {plot['target']} · {a.method} {fmt_score(a.score)}"}
    if plot["kind"] == "box":
        return _box_figure(plot, title, logs)
    if plot["kind"] == "scatter":
        return _scatter_figure(a.feature, plot, title, logs)
    return _trend_figure(a.feature, plot, title)


def _box_figure(plot: dict[str, Any], title: dict[str, str], logs: set[str]) -> dict[str, Any]:
    trace = {
        "type": "box",
        "x": [fmt_label(g) for g in plot["groups"]],
        "q1": plot["q1"],
        "median": plot["median"],
        "q3": plot["q3"],
        "lowerfence": plot["lower"],
        "upperfence": plot["upper"],
        "mean": plot["mean"],
        "boxpoints": False,
        "marker": {"color": BLUE},
        "name": plot["value"],
    }
    return {
        "data": [trace],
        "layout": _layout(
            title=title,
            xaxis={"type": "category", "title": {"text": plot["by"]}},
            yaxis={"title": {"text": plot["value"]}, **_log_axis(plot["value"] in logs)},
        ),
    }


def _scatter_figure(
    feature: str, plot: dict[str, Any], title: dict[str, str], logs: set[str]
) -> dict[str, Any]:
    target = plot["target"]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": plot["x"],
                "y": plot["y"],
                "marker": {"size": 4, "opacity": 0.5, "color": BLUE},
                "hovertemplate": "%{x}, %{y}<extra></extra>",
            }
        ],
        "layout": _layout(
            title={
                "text": title["text"]
                + f" (ρ {fmt(plot.get('spearman'), 3)}, {len(plot['x'])} points)"
            },
            xaxis={"title": {"text": feature}, **_log_axis(feature in logs)},
            yaxis={"title": {"text": target}, **_log_axis(target in logs)},
        ),
    }


def _trend_figure(feature: str, plot: dict[str, Any], title: dict[str, str]) -> dict[str, Any]:
    """Rates by category (bars) or over time (lines): a mean, or the share of each class."""
    kind = plot["kind"]
    x = [fmt_label(c) for c in plot["categories"]] if kind == "rate" else plot["x"]
    data, y_title = _trend_traces(plot, x)
    reference = plot.get("overall", {})
    level = reference.get("mean") if "mean" in plot else reference.get(plot.get("positive"))
    shapes, notes = [], []
    if level is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": level,
                "y1": level,
                "line": {"dash": "dash", "color": "#52606d", "width": 1},
            }
        )
        text = f"overall {fmt(level)}" if "mean" in plot else f"overall {fmt_pct(level)}"
        notes.append(
            {
                "xref": "paper",
                "x": 1,
                "y": level,
                "text": text,
                "showarrow": False,
                "xanchor": "right",
                "yanchor": "bottom",
                "font": {"size": 11, "color": "#52606d"},
            }
        )
    layout = _layout(
        title=title,
        shapes=shapes,
        annotations=notes,
        xaxis={"type": "category" if kind == "rate" else "date", "title": {"text": feature}},
        yaxis={"title": {"text": y_title}, **({} if "mean" in plot else {"tickformat": ".0%"})},
        showlegend=len(data) > 1,
        barmode="stack",
    )
    return {"data": data, "layout": layout}


def _trend_traces(plot: dict[str, Any], x: list[Any]) -> tuple[list[dict[str, Any]], str]:
    """The traces of a rate or trend plot, and the title of its y axis."""
    target = plot["target"]
    if "mean" in plot:
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": x,
                "y": plot["mean"],
                "customdata": plot["n"],
                "hovertemplate": "%{x}: mean %{y:.4g} (%{customdata:,} rows)<extra></extra>",
                "line": {"color": BLUE},
            }
        ]
        return data, f"mean {target}"
    shares = plot["shares"]
    data = []
    for label, values in shares.items():
        trace: dict[str, Any] = {
            "x": x,
            "y": values,
            "name": label,
            "customdata": plot["n"],
            "hovertemplate": "%{x}: %{y:.1%} %{fullData.name} (%{customdata:,} rows)"
            "<extra></extra>",
        }
        if plot["kind"] == "rate":
            trace.update(type="bar", marker={"color": BLUE} if len(shares) == 1 else {})
        else:
            trace.update(type="scatter", mode="lines+markers")
        data.append(trace)
    positive = plot.get("positive")
    y_title = f"share {target} = {positive}" if positive is not None else f"share of each {target}"
    return data, y_title


def _log_axis(log: bool) -> dict[str, Any]:
    return {"type": "log"} if log else {}


def _round(values: Any) -> list[float | None]:
    return [
        None if not math.isfinite(v) else float(f"{v:.6g}")
        for v in np.asarray(values, dtype=float).tolist()
    ]
