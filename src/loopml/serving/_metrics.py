"""The service's Prometheus metrics: exactly the names of ``_contract.METRICS``.

With several workers, ``loopml serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before the workers
start; each worker then writes its values to files there and ``/metrics`` on any worker adds
them up (prometheus_client's multi-process mode), so a scrape sees the whole server.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from loopml.serving._contract import METRICS, MONITORING_METRICS

#: Latency buckets in seconds: a one-row prediction takes well under a millisecond.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _help(name: str) -> str:
    return METRICS[name].split(": ", 1)[1]


class ServiceMetrics:
    """One set of the service's metrics, in its own registry (one per app)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, monitoring_status: str | None = None) -> None:
        self._status = StatusGauges(monitoring_status) if monitoring_status else None
        reg = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "loopml_requests",
            _help("loopml_requests_total"),
            ["endpoint", "status"],
            registry=reg,
        )
        self.duration = Histogram(
            "loopml_request_duration_seconds",
            _help("loopml_request_duration_seconds"),
            ["endpoint"],
            buckets=BUCKETS,
            registry=reg,
        )
        self.errors = Counter(
            "loopml_request_errors",
            _help("loopml_request_errors_total"),
            ["endpoint", "status"],
            registry=reg,
        )
        self.predictions = Counter(
            "loopml_predictions",
            _help("loopml_predictions_total"),
            ["model_version", "variant"],  # champion, challenger (A/B) or shadow
            registry=reg,
        )
        self.shadow_failures = Counter(
            "loopml_shadow_failures",
            _help("loopml_shadow_failures_total"),
            registry=reg,
        )
        self.warnings = Counter(
            "loopml_prediction_warnings",
            _help("loopml_prediction_warnings_total"),
            ["kind"],
            registry=reg,
        )
        self.model_info = Gauge(
            "loopml_model_info",
            _help("loopml_model_info"),
            ["name", "version", "runtime"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "loopml_model_reloads",
            _help("loopml_model_reloads_total"),
            ["outcome"],
            registry=reg,
        )
        self.queue_depth = Gauge(
            "loopml_prediction_log_queue_depth",
            _help("loopml_prediction_log_queue_depth"),
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.dropped = Counter(
            "loopml_prediction_log_dropped",
            _help("loopml_prediction_log_dropped_total"),
            registry=reg,
        )
        self.failed = Counter(
            "loopml_prediction_log_failed",
            _help("loopml_prediction_log_failed_total"),
            registry=reg,
        )
        self._dropped_seen = self._failed_seen = 0
        self._live: tuple[str, str, str] | None = None

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        code = str(status)
        self.requests.labels(endpoint, code).inc()
        self.duration.labels(endpoint).observe(seconds)
        if status >= 400:
            self.errors.labels(endpoint, code).inc()

    def set_model(self, name: str, version: str, runtime: str) -> None:
        """The live model's info gauge: the new labels 1, the previous ones 0."""
        if self._live is not None:
            self.model_info.labels(*self._live).set(0)
        self._live = (name, version, runtime)
        self.model_info.labels(*self._live).set(1)

    def sink_state(self, sink: Any) -> None:
        """Copy the prediction log's queue depth, drop and failure counts
        (``PredictionLog.stats()``)."""
        stats = getattr(sink, "stats", None)
        if stats is None:
            return
        now = stats()
        self.queue_depth.set(float(now.queue_depth))
        if now.dropped > self._dropped_seen:
            self.dropped.inc(now.dropped - self._dropped_seen)
            self._dropped_seen = now.dropped
        if now.failed > self._failed_seen:
            self.failed.inc(now.failed - self._failed_seen)
            self._failed_seen = now.failed

    def exposition(self) -> bytes:
        """The text format of every worker's metrics (multi-process) or this one's."""
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            text = bytes(generate_latest(registry))
        else:
            text = bytes(generate_latest(self.registry))
        if self._status is not None:
            text += self._status.exposition()
        return text


class StatusGauges:
    """The gauges ``loopml monitor`` wrote to a JSON file (``MONITORING_METRICS``), read
    again only when the file changes; a missing or unreadable file exports nothing."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._text = b""

    def exposition(self) -> bytes:
        try:
            stat = os.stat(self.path)
        except OSError:
            return b""
        if self._seen != (stat.st_mtime, stat.st_size):
            self._seen = (stat.st_mtime, stat.st_size)
            self._text = self._render()
        return self._text

    def _render(self) -> bytes:
        import json

        try:
            with open(self.path, encoding="utf-8") as fh:
                gauges = json.load(fh)["gauges"]
        except (OSError, ValueError, KeyError, TypeError):
            return b""
        registry = CollectorRegistry(auto_describe=True)
        families: dict[str, Gauge] = {}
        for gauge in gauges if isinstance(gauges, list) else []:
            name = gauge.get("name") if isinstance(gauge, dict) else None
            if name not in MONITORING_METRICS:
                continue  # only the documented names: dashboards rely on them
            labels = {str(k): str(v) for k, v in (gauge.get("labels") or {}).items()}
            family = families.get(name)
            if family is None:
                family = families[name] = Gauge(
                    name, _status_help(name), sorted(labels), registry=registry
                )
            try:
                value = float(gauge["value"])
                child = family.labels(**labels) if labels else family
                child.set(value)
            except (KeyError, TypeError, ValueError):
                continue  # a malformed entry, or labels unlike its family's first entry
        return bytes(generate_latest(registry))


def _status_help(name: str) -> str:
    return MONITORING_METRICS[name].split(": ", 1)[1]
