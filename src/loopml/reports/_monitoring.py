"""The monitoring report: one self-contained HTML page of ``loopml monitor``'s drift report.

It reads the plain dict of ``DriftReport.to_dict()`` (reports sit below monitoring in the
layers, so the dataclasses stay out of reach): per window its features' drift tests, the
prediction's drift, data quality, realised and estimated performance, and its alarms.

The page's numbers travel once, as columns: the windows' times, then per chart only its own
values. The page's script builds each Plotly chart from them (the styles come from here), a
feature's or a column's only when its section opens, so 100 features × 60 windows open at once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.reports._assets import environment, plotly_js
from loopml.reports._format import fmt_metric, fmt_pct, fmt_sig

TESTS = {"ks": "Kolmogorov–Smirnov", "chi2": "chi-square"}
MEASURES = {"psi": "PSI", "wasserstein": "Wasserstein", "jensen_shannon": "Jensen–Shannon"}
COLOURS = {
    "realised": "#3e7cb1",
    "estimated": "#d98c21",
    "effect": "#3e7cb1",
    "drifted": "#b42318",
    "rows": "#d9e2ec",
    "labelled": "#8fb3d9",
    "missing": "#3e7cb1",
    "reference": "#7b8794",
    "unseen": "#8e5ea2",
    "out_of_range": "#d98c21",
    "invalid": "#3a9d8f",
}
_FONT = {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 12}
_RATES = ("missing_rate", "unseen_rate", "out_of_range_rate", "invalid_rate")


def render_monitoring_report(report: Mapping[str, Any], *, title: str) -> str:
    """The HTML text of the monitoring report.

    Parameters
    ----------
    report
        ``DriftReport.to_dict()``, as ``loopml monitor --json`` prints it.
    title
        The page title, e.g. the project's name.

    Returns
    -------
    str
        A complete HTML document with Plotly's JavaScript inlined: it opens offline.
    """
    windows = list(report.get("windows") or [])
    min_effect = _number(report.get("min_effect"))
    features = _feature_sections(windows)
    quality = _quality_sections(windows)
    prediction = _series("prediction", [w.get("prediction_drift") for w in windows])
    performance = _performance(windows)
    data = {
        "windows": _times(windows),
        "min_effect": min_effect,
        "performance": performance,
        "prediction": prediction if prediction["tested"] else None,
        "features": [f["series"] for f in features],
        "quality": [q["series"] if q["shown"] else None for q in quality],
        "layouts": _layouts(min_effect),
        "colours": COLOURS,
    }
    return (
        environment()
        .get_template("monitoring.html")
        .render(
            title=title,
            header=_header(report, windows),
            status=_status(windows),
            alarms=_alarms(windows),
            performance=_performance_notes(performance),
            window_rows=_window_rows(windows),
            prediction=_drift_summary(prediction) if prediction["tested"] else None,
            features=features,
            latest=_latest(features, windows),
            quality=quality,
            quiet_columns=[q["name"] for q in quality if not q["shown"]],
            comparison=_comparison(report.get("variant_comparison")),
            data=data,
            plotly_js=plotly_js(),
        )
    )


# --------------------------------------------------------------------------------------------
# the page's data: columns per chart, numbers rounded, no NaN (JSON has none)


def _number(value: Any, digits: int = 4) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}") if value else 0.0


def _numbers(values: Sequence[Any]) -> list[float | None]:
    return [_number(v) for v in values]


def _time(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(seconds), tz=dt.UTC)


def _times(windows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Each window's middle (the charts' x), its span in words, its rows and labelled rows."""
    return {
        "mid": [_time((w["start"] + w["end"]) / 2).strftime("%Y-%m-%d %H:%M:%S") for w in windows],
        "start": [_time(w["start"]).strftime("%Y-%m-%d %H:%M:%S") for w in windows],
        "end": [_time(w["end"]).strftime("%Y-%m-%d %H:%M:%S") for w in windows],
        "label": [_span(w, windows) for w in windows],
        "rows": [int(w.get("rows") or 0) for w in windows],
        "labelled": [int(w.get("labelled") or 0) for w in windows],
    }


def _stamp(seconds: float, whole_days: bool) -> str:
    t = _time(seconds)
    if whole_days:
        return t.strftime("%Y-%m-%d")
    return t.strftime("%Y-%m-%d %H:%M" if t.second == 0 else "%Y-%m-%d %H:%M:%S")


def _whole_days(windows: Sequence[Mapping[str, Any]]) -> bool:
    return all(w["start"] % 86400 == 0 and w["end"] % 86400 == 0 for w in windows)


def _span(window: Mapping[str, Any], windows: Sequence[Mapping[str, Any]]) -> str:
    """A window in words, in the units its windows share (see :func:`_range`)."""
    return _range(window["start"], window["end"], _whole_days(windows))


def _range(start: float, end: float, whole_days: bool) -> str:
    """``[start, end)`` for people: whole days by their first and last date (``2026-03-01``,
    ``2026-03-01 to 2026-03-07``), anything else by its times (``2026-03-01 06:00 to 12:00
    UTC``)."""
    if whole_days:
        first, last = _stamp(start, True), _stamp(end - 86400, True)
        return first if first == last else f"{first} to {last}"
    first, last = _stamp(start, False), _stamp(end, False)
    if first[:10] == last[:10]:
        last = last[11:]
    return f"{first} to {last} UTC"


def _series(name: str, tests: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One column's drift tests over the windows, as columns (None where it was not tested)."""
    present = [t for t in tests if t]
    last = present[-1] if present else {}

    def column(key: str) -> list[Any]:
        return [t.get(key) if t else None for t in tests]

    return {
        "name": name,
        "test": TESTS.get(str(last.get("test")), str(last.get("test", ""))),
        "measure": MEASURES.get(
            str(last.get("effect_measure")), str(last.get("effect_measure", ""))
        ),
        "effect": _numbers(column("effect")),
        "statistic": _numbers(column("statistic")),
        "p": _numbers(column("p_value")),
        "adjusted": _numbers(column("adjusted_p_value")),
        "rows": [int(t.get("rows") or 0) if t else None for t in tests],
        "drifted": [int(bool(t.get("drifted"))) if t else None for t in tests],
        "tested": len(present),
    }


def _performance(windows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Realised and estimated performance per window; a side is None when no window has it."""
    sides: dict[str, Any] = {}
    for key, side in (("performance", "realised"), ("estimated_performance", "estimated")):
        values = [w.get(key) for w in windows]
        present = [v for v in values if v and v.get("value") is not None]
        if not present:
            sides[side] = None
            continue
        sides[side] = {
            "metric": str(present[-1].get("metric", "")),
            "value": _numbers([v.get("value") if v else None for v in values]),
            "low": _numbers([v.get("low") if v else None for v in values]),
            "high": _numbers([v.get("high") if v else None for v in values]),
            "rows": [int(v.get("rows") or 0) if v else 0 for v in values],
        }
    return sides


def _layouts(min_effect: float | None) -> dict[str, dict[str, Any]]:
    """Each kind of chart's layout; the page adds the traces and, per chart, its titles."""
    base: dict[str, Any] = {
        "height": 300,
        "margin": {"l": 64, "r": 20, "t": 36, "b": 40},
        "font": _FONT,
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "xaxis": {"type": "date", "gridcolor": "#e4e7eb", "automargin": True},
        "yaxis": {"gridcolor": "#e4e7eb", "zeroline": False, "automargin": True},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        "hovermode": "closest",
    }
    threshold = []
    if min_effect is not None:
        threshold = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": min_effect,
                "y1": min_effect,
                "line": {"color": COLOURS["drifted"], "dash": "dot", "width": 1},
            }
        ]
    return {
        "performance": {
            **base,
            "height": 420,
            "xaxis": {**base["xaxis"], "anchor": "y2"},  # the dates under the rows' panel
            "yaxis": {**base["yaxis"], "domain": [0.3, 1]},
            "yaxis2": {
                "domain": [0, 0.2],
                "gridcolor": "#e4e7eb",
                "title": {"text": "rows"},
                "rangemode": "tozero",
            },
            "barmode": "overlay",
        },
        "drift": {**base, "shapes": threshold, "yaxis": {**base["yaxis"], "rangemode": "tozero"}},
        "heatmap": {
            **base,
            "margin": {"l": 64, "r": 20, "t": 44, "b": 10},
            # dates above the cells, next to the drifting features listed first
            "xaxis": {**base["xaxis"], "side": "top"},
            "yaxis": {"autorange": "reversed", "automargin": True, "type": "category"},
            "showlegend": False,
        },
        "quality": {**base, "yaxis": {**base["yaxis"], "tickformat": ".1%", "rangemode": "tozero"}},
    }


# --------------------------------------------------------------------------------------------
# the page's text


def _duration(seconds: float) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    if seconds >= 3600:
        return f"{fmt_sig(seconds / 3600, 3)} hours"
    return f"{fmt_sig(seconds, 3)} seconds"


def _header(report: Mapping[str, Any], windows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    window = _number(report.get("window_seconds"))
    span = "—"
    if windows:
        span = _range(windows[0]["start"], windows[-1]["end"], _whole_days(windows))
    rows = sum(int(w.get("rows") or 0) for w in windows)
    labelled = sum(int(w.get("labelled") or 0) for w in windows)
    return {
        "model": str(report.get("model_name", "")),
        "version": str(report.get("model_version", "")),
        "alpha": fmt_sig(_number(report.get("alpha")), 3),
        "min_effect": fmt_sig(_number(report.get("min_effect")), 3),
        "window": _duration(window) if window else "—",
        "span": span,
        "windows": f"{len(windows):,}",
        "rows": f"{rows:,}",
        "labelled": f"{labelled:,}" + (f" ({fmt_pct(labelled / rows)})" if rows else ""),
    }


def _status(windows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The header's verdict in plain words, and its tone."""
    if not windows:
        return {
            "tone": "empty",
            "text": "No windows: the prediction log holds no traffic of this model in the span "
            "monitored, so there is nothing to test yet.",
        }
    alarmed = [w for w in windows if w.get("alarms")]
    n = len(windows)
    if not alarmed:
        return {"tone": "ok", "text": f"No alarm in {n} window{'s' if n != 1 else ''}."}
    latest = alarmed[-1]
    reasons = "; ".join(str(a) for a in latest["alarms"])
    return {
        "tone": "alarm",
        "text": f"Alarm in {len(alarmed)} of {n} windows. Latest, {_span(latest, windows)}: "
        f"{reasons}.",
    }


def _alarms(windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "span": _span(w, windows),
            "rows": f"{int(w.get('rows') or 0):,}",
            "reasons": [str(a) for a in w["alarms"]],
        }
        for w in windows
        if w.get("alarms")
    ]


def _performance_notes(performance: Mapping[str, Any]) -> dict[str, Any]:
    realised, estimated = performance["realised"], performance["estimated"]
    notes = []
    if realised is None and estimated is None:
        notes.append("No performance in this report: no window has labels or an estimate.")
    elif realised is None:
        notes.append(
            "No labels yet: the estimate (CBPE) stands in until labels arrive; the realised "
            "metric will be drawn next to it."
        )
    elif estimated is None:
        notes.append(
            "No estimated performance: CBPE estimates classifiers from their probabilities, "
            "so this report shows the realised metric only, in windows with labels."
        )
    return {"has_chart": bool(realised or estimated), "notes": notes}


def _cell(perf: Mapping[str, Any] | None) -> str:
    if not perf:
        return "—"
    if perf.get("value") is None:
        return f"— ({int(perf.get('rows') or 0):,} rows: too few)"
    text = fmt_metric(perf["value"])
    if perf.get("low") is not None and perf.get("high") is not None:
        text += f" [{fmt_metric(perf['low'])}, {fmt_metric(perf['high'])}]"
    return text


_MODES = {
    "shadow": "shadow: the challenger predicted the requests the champion answered; tested "
    "on the same labelled requests (paired)",
    "ab": "A/B: each model answered its own share of the requests; tested on two independent "
    "samples",
}


def _comparison(found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The champion-and-challenger section: each variant's metric, the difference, the test."""
    if not found:
        return None
    rows = [
        {
            "variant": name,
            "version": found[f"{name}_version"],
            "value": _cell(found[name]),
            "rows": found[name].get("rows", 0),
        }
        for name in ("champion", "challenger")
    ]
    difference = found.get("difference")
    return {
        "mode": _MODES.get(str(found.get("mode")), str(found.get("mode"))),
        "metric": found.get("metric"),
        "rows": rows,
        "summary": found.get("summary", ""),
        "significant": bool(found.get("significant")),
        "better": bool(found.get("favours_challenger")),
        "difference": _signed(difference),
        "interval": f"{_signed(found.get('low'))} to {_signed(found.get('high'))}",
        "level": f"{1 - float(found.get('alpha') or 0.05):.0%}",
        "p_value": "—" if found.get("p_value") is None else f"{found['p_value']:.3g}",
    }


def _signed(value: Any) -> str:
    return "—" if value is None else f"{float(value):+.4g}"


def _window_rows(windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The windows table: traffic, labels, both performances, drift and alarms."""
    rows = []
    for w in windows:
        prediction = w.get("prediction_drift")
        rows.append(
            {
                "span": _span(w, windows),
                "rows": f"{int(w.get('rows') or 0):,}",
                "labelled": f"{int(w.get('labelled') or 0):,}",
                "realised": _cell(w.get("performance")),
                "estimated": _cell(w.get("estimated_performance")),
                "prediction": fmt_sig(_number(prediction.get("effect")), 3) if prediction else "—",
                "prediction_drifted": bool(prediction and prediction.get("drifted")),
                "drifted": sum(bool(f.get("drifted")) for f in w.get("features") or []),
                "features": len(w.get("features") or []),
                "alarms": len(w.get("alarms") or []),
                "fairness": _fairness_cell(w.get("fairness")),
            }
        )
    return rows


def _fairness_cell(found: Mapping[str, Any] | None) -> str | None:
    """The window's smallest ratios between groups (None: no sensitive column logged)."""
    if not found:
        return None
    values = found.get("values") or {}
    ratios = [(k, v) for k, v in values.items() if k.endswith("_ratio") and v is not None]
    return "; ".join(f"{k.removesuffix('_ratio').replace('_', ' ')} {v:.3f}" for k, v in ratios)


def _drift_summary(series: Mapping[str, Any]) -> dict[str, Any]:
    """A drift series in words: how often it drifted, its latest and largest effect."""
    effects = [e for e in series["effect"] if e is not None]
    tested = [i for i, d in enumerate(series["drifted"]) if d is not None]
    latest = tested[-1] if tested else None
    return {
        "name": series["name"],
        "test": series["test"],
        "measure": series["measure"],
        "drifted": sum(d or 0 for d in series["drifted"]),
        "tested": series["tested"],
        "latest_effect": fmt_sig(series["effect"][latest], 3) if latest is not None else "—",
        "latest_drifted": bool(latest is not None and series["drifted"][latest]),
        "max_effect": fmt_sig(max(effects), 3) if effects else "—",
        "max": max(effects) if effects else -1.0,
    }


def _feature_sections(windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One section per feature, the most drifting first (windows drifted, latest, largest)."""
    names: dict[str, None] = {}
    for w in windows:
        for f in w.get("features") or []:
            names.setdefault(str(f["name"]), None)
    by_window = [{str(f["name"]): f for f in w.get("features") or []} for w in windows]
    sections: list[dict[str, Any]] = []
    for name in names:
        series = _series(name, [tests.get(name) for tests in by_window])
        sections.append({**_drift_summary(series), "series": series})
    sections.sort(key=lambda s: (-s["drifted"], not s["latest_drifted"], -s["max"], s["name"]))
    for i, s in enumerate(sections):
        s["key"] = f"f-{i}"
    return sections


def _latest(
    features: Sequence[Mapping[str, Any]], windows: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The latest window's tests, one row per feature in the sections' order."""
    if not windows:
        return None
    rows = []
    for f in features:
        s = f["series"]
        if s["drifted"][-1] is None:
            continue
        rows.append(
            {
                "key": f["key"],
                "name": f["name"],
                "test": s["test"],
                "statistic": fmt_sig(s["statistic"][-1], 3),
                "p": fmt_sig(s["p"][-1], 2),
                "adjusted": fmt_sig(s["adjusted"][-1], 2),
                "effect": fmt_sig(s["effect"][-1], 3),
                "measure": s["measure"],
                "rows": f"{s['rows'][-1]:,}",
                "drifted": bool(s["drifted"][-1]),
                "windows_drifted": f["drifted"],
            }
        )
    return {"span": _span(windows[-1], windows), "rows": rows}


def _quality_sections(windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per column: its rates over the windows, flagged ones first; quiet columns not drawn."""
    names: dict[str, None] = {}
    for w in windows:
        for q in w.get("data_quality") or []:
            names.setdefault(str(q["name"]), None)
    by_window = [{str(q["name"]): q for q in w.get("data_quality") or []} for w in windows]
    sections: list[dict[str, Any]] = []
    for name in names:
        checks = [rows.get(name) for rows in by_window]
        present = [q for q in checks if q]
        series: dict[str, Any] = {"name": name}
        for rate in _RATES:
            series[rate] = _numbers([q.get(rate) if q else None for q in checks])
        reference = _number(present[-1].get("reference_missing_rate")) or 0.0
        series["reference"] = reference
        series["flagged"] = [int(bool(q.get("drifted"))) if q else None for q in checks]
        worst = {r: max((v for v in series[r] if v is not None), default=0.0) for r in _RATES}
        latest = present[-1]
        sections.append(
            {
                "name": name,
                "reference": fmt_pct(reference),
                "latest": {r: fmt_pct(float(latest.get(r) or 0.0)) for r in _RATES},
                "latest_flagged": bool(checks[-1] and checks[-1].get("drifted")),
                "worst": {r: fmt_pct(v) for r, v in worst.items()},
                "flagged": sum(f or 0 for f in series["flagged"]),
                "shown": any(worst.values()) or reference > 0 or any(series["flagged"]),
                "order": max(worst.values()),
                "series": series,
            }
        )
    sections.sort(key=lambda s: (-s["flagged"], not s["latest_flagged"], -s["order"], s["name"]))
    for i, s in enumerate(sections):
        s["key"] = f"q-{i}"
    return sections
