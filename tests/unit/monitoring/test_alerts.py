"""Alerts (loopml.monitoring._alerts): logged always, POSTed to a real local HTTP server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from loopml.monitoring._alerts import alert_payload, send_alerts
from loopml.monitoring._contract import DriftReport, FeatureDrift, WindowReport

DAY = 86_400.0


def _window(start: float, alarms: list[str], drifted: bool) -> WindowReport:
    feature = FeatureDrift("age", "ks", 0.2, 1e-9, 1e-8, 0.3, "psi", drifted, 500)
    return WindowReport(
        start=start,
        end=start + DAY,
        rows=500,
        labelled=0,
        features=[feature],
        prediction_drift=None,
        data_quality=[],
        performance=None,
        estimated_performance=None,
        alarms=alarms,
    )


def _report(*windows: WindowReport) -> DriftReport:
    return DriftReport("churn", "3", 0.01, 0.01, DAY, list(windows))


class _Hook:
    """A webhook receiver: a real HTTP server on a free local port."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    server = _Hook()
    yield server
    server.close()


def test_alarms_are_posted_and_logged(hook: _Hook, caplog: pytest.LogCaptureFixture) -> None:
    report = _report(
        _window(0.0, [], False), _window(DAY, ["age drifted (PSI 0.30, adjusted p 1e-08)"], True)
    )

    with caplog.at_level(logging.WARNING, logger="loopml.monitoring"):
        outcome = send_alerts(report, hook.url)

    assert (outcome.alarms, outcome.delivered, outcome.webhook) == (1, True, hook.url)
    [body] = hook.bodies
    assert body["model"] == "churn" and body["version"] == "3"
    assert [w["start"] for w in body["windows"]] == ["1970-01-02T00:00:00+00:00"]
    assert body["windows"][0]["drifted_features"] == ["age"]
    assert "age drifted" in body["text"]
    assert "age drifted" in caplog.text


def test_no_alarm_posts_nothing(hook: _Hook) -> None:
    outcome = send_alerts(_report(_window(0.0, [], False)), hook.url)

    assert (outcome.alarms, outcome.delivered) == (0, False)
    assert hook.bodies == []


def test_a_failing_webhook_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    refusing = _Hook(status=500)
    try:
        outcome = send_alerts(_report(_window(0.0, ["decay"], False)), refusing.url)
    finally:
        refusing.close()
    unreachable = send_alerts(
        _report(_window(0.0, ["decay"], False)), "http://127.0.0.1:9/hook", timeout=2
    )

    assert not outcome.delivered and "500" in outcome.error
    assert not unreachable.delivered and unreachable.error
    assert "could not be sent" in caplog.text


def test_the_payload_lists_only_windows_that_alarmed() -> None:
    payload = alert_payload(_report(_window(0.0, [], False), _window(DAY, ["x"], False)))

    assert len(payload["windows"]) == 1
    assert payload["text"].startswith("churn version 3: 1970-01-02T00:00:00+00:00 to")
