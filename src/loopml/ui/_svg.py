"""Charts as inline SVG, drawn on the server: no script, no library, nothing to download.

Each chart has a ``<title>`` and ``role="img"`` with an ``aria-label`` for screen readers
(``role="group"`` where its parts are buttons: the monitoring timeline's windows),
and one ``<title>`` per point so hovering shows its value.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 34
BLUE, RED, GREY, GREEN = "#1f5fa8", "#b3261e", "#5f6368", "#1e7b34"


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _axes(y_lo: float, y_hi: float, y: Any, label: str) -> list[str]:
    parts = [
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="{GREY}"/>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}" stroke="{GREY}"/>',
    ]
    for value in (y_lo, (y_lo + y_hi) / 2, y_hi):
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" '
            f'class="tick">{value:.4g}</text>'
        )
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" class="tick">{escape(label)}</text>')
    return parts


def line_chart(points: Sequence[dict[str, Any]], *, label: str, x_label: str) -> Markup:
    """``points`` (``value``, optional ``low``/``high``, ``title``, ``href``) left to right
    as a line with dots; a band where low and high differ (buckets of runs)."""
    values = [p["value"] for p in points if _finite(p.get("value"))]
    if not values:
        return Markup(f'<p class="empty">No values of {escape(label)} yet.</p>')
    lows = [p.get("low", p["value"]) for p in points if _finite(p.get("value"))]
    highs = [p.get("high", p["value"]) for p in points if _finite(p.get("value"))]
    y_lo, y_hi = min(lows), max(highs)
    pad = (y_hi - y_lo) * 0.05 or abs(y_hi) * 0.05 or 1.0
    y = _scale(y_lo - pad, y_hi + pad, HEIGHT - BOTTOM, TOP)
    n = len(points)
    x = _scale(0, max(n - 1, 1), LEFT + 10, WIDTH - RIGHT - 10)
    parts = _axes(y_lo, y_hi, y, x_label)
    band = [(x(i), y(p.get("high", p["value"]))) for i, p in enumerate(points)]
    band += [(x(i), y(p.get("low", p["value"]))) for i, p in reversed(list(enumerate(points)))]
    if any(p.get("low") != p.get("high") for p in points):
        coords = " ".join(f"{a:.1f},{b:.1f}" for a, b in band)
        parts.append(f'<polygon points="{coords}" fill="{BLUE}" opacity="0.15"/>')
    line = " ".join(f"{x(i):.1f},{y(p['value']):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline points="{line}" fill="none" stroke="{BLUE}" stroke-width="1.5"/>')
    for i, p in enumerate(points):
        tip = p.get("title") or f"{p['value']:.4g}"
        dot = (
            f'<circle cx="{x(i):.1f}" cy="{y(p["value"]):.1f}" r="3.5" fill="{BLUE}">'
            f"<title>{escape(tip)}</title></circle>"
        )
        if p.get("href"):
            dot = f'<a href="{escape(p["href"])}">{dot}</a>'
        parts.append(dot)
    return _svg(parts, label)


def timeline_chart(
    windows: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    *,
    metric: str | None,
    span: Sequence[float] | None = None,
) -> Markup:
    """One bar per monitoring window (its traffic; red when it alarmed), the window's
    performance as a line over them, and the events as labelled marks on the same time
    axis (``span``: the times the axis must cover besides the windows). Each bar is a
    button (``data-window``) the page's script opens."""
    if not windows:
        return Markup('<p class="empty">No monitoring windows: this version served nothing.</p>')
    t0, t1 = windows[0]["start"], windows[-1]["end"]
    if span:  # the windows' length more before, twice after at most: bars stay readable
        reach = t1 - t0
        t0, t1 = max(min(t0, span[0]), t0 - reach), min(max(t1, span[1]), t1 + 2 * reach)
    width = (t1 - t0) or 1.0
    lo, hi = t0 - 0.02 * width, t1 + 0.02 * width
    shown = [e for e in events if e.get("time") and lo <= e["time"] <= hi]
    x = _scale(lo, hi, LEFT, WIDTH - RIGHT)
    most = max(w["rows"] for w in windows) or 1
    y = _scale(0, most, HEIGHT - BOTTOM, TOP + 28)
    parts = _axes(0, most, y, "predictions per window; line: " + (metric or "performance"))
    for w in windows:
        left, right = x(w["start"]), x(w["end"])
        colour = RED if w["drifted"] else BLUE
        tip = f"{_when(w['start'])}: {w['rows']} predictions, {w['labelled']} labelled" + (
            f", drifted: {', '.join(w['drifted_features'])}" if w["drifted_features"] else ""
        )
        parts.append(
            f'<rect class="window" data-window="{w["index"]}" tabindex="0" role="button" '
            f'aria-label="{escape(tip)}" x="{left + 1:.1f}" y="{y(w["rows"]):.1f}" '
            f'width="{max(right - left - 2, 1):.1f}" height="{y(0) - y(w["rows"]):.1f}" '
            f'fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
    parts += _performance_line(windows, x)
    parts += _event_marks(sorted(shown, key=lambda e: e["time"]), x)
    # its windows are buttons: a group, not an image (whose children would be hidden)
    return _svg(parts, f"monitoring timeline, {len(windows)} windows", role="group")


def _event_marks(events: Sequence[dict[str, Any]], x: Any) -> list[str]:
    """A dashed line per event with its short label; labels close together stack."""
    parts, row, last = [], 0, -1e9
    for e in events:
        at = x(e["time"])
        row, last = (row + 1 if at - last < 150 else 0), at
        colour = GREEN if e["kind"] == "alias" else GREY
        side = 'text-anchor="end" ' if at > WIDTH * 0.6 else ""
        parts.append(
            f'<line x1="{at:.1f}" y1="{TOP}" x2="{at:.1f}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{colour}" stroke-dasharray="4 3"><title>{escape(e["text"])}</title></line>'
        )
        parts.append(
            f'<text {side}x="{at - 3 if side else at + 3:.1f}" y="{TOP + 10 + 12 * (row % 4)}" '
            f'class="event">{escape(e.get("label") or _short(e["text"]))}</text>'
        )
    return parts


def _performance_line(windows: Sequence[dict[str, Any]], x: Any) -> list[str]:
    found = [
        (w, w["performance"] if _finite(w["performance"]) else w["estimated"])
        for w in windows
        if _finite(w["performance"]) or _finite(w["estimated"])
    ]
    if len(found) < 2:
        return []
    values = [v for _, v in found]
    y = _scale(min(values) - 0.01, max(values) + 0.01, HEIGHT - BOTTOM, TOP + 28)
    line = " ".join(f"{x((w['start'] + w['end']) / 2):.1f},{y(v):.1f}" for w, v in found)
    end = x((found[-1][0]["start"] + found[-1][0]["end"]) / 2)
    return [
        f'<polyline points="{line}" fill="none" stroke="{GREEN}" stroke-width="2">'
        f"<title>performance per window, {min(values):.4g} to {max(values):.4g}</title>"
        "</polyline>",
        f'<text x="{end + 4:.1f}" y="{y(values[-1]) + 4:.1f}" class="tick">{values[-1]:.3f}</text>',
    ]


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _svg(parts: list[str], label: str, role: str = "img") -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="{role}" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{body}</svg>'
    )
