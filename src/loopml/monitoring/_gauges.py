"""The gauges a monitoring run leaves for the prediction service to export on ``/metrics``.

The service cannot import monitoring (it is a lower stage), so ``loopml monitor`` writes
the gauges of its latest window to a JSON file in the workspace
(``loopml.serving.MONITORING_STATUS``) and every worker exports them when it is scraped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from loopml.files import write_text_atomic
from loopml.monitoring._contract import DriftReport, WindowReport
from loopml.serving import MONITORING_METRICS


def status_gauges(report: DriftReport, *, now: float | None = None) -> list[dict[str, Any]]:
    """The gauges of the report's latest window that had rows (none without one)."""
    latest = _latest(report.windows)
    version = {"model_version": report.model_version}
    gauges = [_gauge("loopml_monitoring_run_seconds", {}, time.time() if now is None else now)]
    if latest is None:
        return gauges
    gauges += [
        _gauge("loopml_monitoring_alarm", version, float(latest.drifted)),
        _gauge("loopml_monitoring_window_end_seconds", version, latest.end),
        _gauge("loopml_features_drifted", version, sum(f.drifted for f in latest.features)),
    ]
    for feature in latest.features:
        labels = {**version, "feature": feature.name}
        gauges.append(_gauge("loopml_feature_drift_effect", labels, feature.effect))
        gauges.append(
            _gauge("loopml_feature_drift_adjusted_p_value", labels, feature.adjusted_p_value)
        )
    if latest.prediction_drift is not None:
        effect = latest.prediction_drift.effect
        gauges.append(_gauge("loopml_prediction_drift_effect", version, effect))
    for kind, found in (
        ("realised", latest.performance),
        ("estimated", latest.estimated_performance),
    ):
        if found is not None and found.value is not None:
            labels = {**version, "metric": found.metric, "kind": kind}
            gauges.append(_gauge("loopml_model_performance", labels, found.value))
    return gauges


def write_status(path: Path, report: DriftReport, *, now: float | None = None) -> None:
    """Write the report's gauges to ``path`` (atomically: a scrape never reads half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = time.time() if now is None else now
    body = {"written": written, "gauges": status_gauges(report, now=written)}
    write_text_atomic(path, json.dumps(body))


def _latest(windows: list[WindowReport]) -> WindowReport | None:
    with_rows = [w for w in windows if w.rows]
    return with_rows[-1] if with_rows else None


def _gauge(name: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    assert name in MONITORING_METRICS, name  # the service exports only the documented names
    return {"name": name, "labels": labels, "value": float(value)}
