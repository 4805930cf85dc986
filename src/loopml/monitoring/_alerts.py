"""Alerts: every alarm of a monitoring run is logged, and POSTed to a webhook when set."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from loopml.monitoring._contract import DriftReport

log = logging.getLogger("loopml.monitoring")


@dataclass(frozen=True)
class AlertOutcome:
    """What became of a run's alarms: how many, and whether the webhook took them."""

    alarms: int
    webhook: str | None  # the URL they were POSTed to, None when none is set or no alarm
    delivered: bool
    error: str = ""  # why the webhook did not take them

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarms": self.alarms,
            "webhook": self.webhook,
            "delivered": self.delivered,
            "error": self.error,
        }


def alert_payload(report: DriftReport) -> dict[str, Any]:
    """The webhook's JSON body: the model, and each window that alarmed with its reasons."""
    windows: list[dict[str, Any]] = [
        {
            "start": _iso(w.start),
            "end": _iso(w.end),
            "rows": w.rows,
            "alarms": list(w.alarms),
            "drifted_features": [f.name for f in w.features if f.drifted],
        }
        for w in report.windows
        if w.alarms
    ]
    lines = [f"{w['start']} to {w['end']}: " + "; ".join(w["alarms"]) for w in windows]
    return {
        "source": "loopml monitor",
        "model": report.model_name,
        "version": report.model_version,
        "text": f"{report.model_name} version {report.model_version}: "
        + (" | ".join(lines) if lines else "no alarm"),
        "windows": windows,
    }


def send_alerts(report: DriftReport, webhook: str | None, *, timeout: float = 5.0) -> AlertOutcome:
    """Log each window's alarms; POST them to ``webhook`` when it is set and any alarmed.

    A webhook that fails (unreachable, an error status) is logged and reported in the
    outcome, not raised: the monitoring result stands either way.
    """
    payload = alert_payload(report)
    for window in payload["windows"]:
        for alarm in window["alarms"]:
            log.warning(
                "%s version %s, %s to %s: %s",
                report.model_name,
                report.model_version,
                window["start"],
                window["end"],
                alarm,
            )
    count = sum(len(w["alarms"]) for w in payload["windows"])
    if webhook is None or count == 0:
        return AlertOutcome(count, None, False)
    import httpx

    try:
        response = httpx.post(webhook, json=payload, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.error("the alerts could not be sent to %s (%s)", webhook, error)
        return AlertOutcome(count, webhook, False, error)
    return AlertOutcome(count, webhook, True)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")
