"""Alerts (loopml.monitoring._alerts): logged always, POSTed to a real local HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import _needs as needs
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


@pytest.fixture
def hook() -> Iterator[needs.Webhook]:
    server = needs.Webhook()
    yield server
    server.close()


def test_alarms_are_posted_and_logged(
    hook: needs.Webhook, caplog: pytest.LogCaptureFixture
) -> None:
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


def test_no_alarm_posts_nothing(hook: needs.Webhook) -> None:
    outcome = send_alerts(_report(_window(0.0, [], False)), hook.url)

    assert (outcome.alarms, outcome.delivered) == (0, False)
    assert hook.bodies == []


def test_a_failing_webhook_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    refusing = needs.Webhook(status=500)
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
