"""The loop of ``loopml watch`` (loopml.loop._watch) on a fake clock: which spans each cycle
monitors, what it hands to the retraining, that it survives failures (alerted to a real local
HTTP server), its record on disk, and stopping between steps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import _needs as needs
from loopml.errors import ConfigError
from loopml.loop import (
    Cycle,
    LockHeldError,
    NothingToMonitor,
    RetrainDecision,
    Watch,
    WatchSteps,
    post_alert,
    watch_interval,
)
from loopml.loop._watch import CYCLE_LOG_BYTES
from loopml.monitoring import DriftReport, WindowReport

HOUR, DAY = 3600.0, 86_400.0
T0 = 20_000 * DAY + HOUR  # 2024-10-04 01:00 UTC


class FakeTime:
    """A clock that only moves when the loop waits (or a step says it took time)."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.waits: list[float] = []
        self.watch: Watch | None = None

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return self.watch is not None and self.watch.stopping


def _report(start: float, *alarms: str, version: str = "3") -> DriftReport:
    window = WindowReport(start, start + DAY, 500, 0, [], None, [], None, None, list(alarms))
    return DriftReport("tiny", version, 0.01, 0.005, DAY, [window])


def _decision(
    triggered: bool, *, promoted: bool = False, version: str | None = "4"
) -> RetrainDecision:
    if not triggered:
        return RetrainDecision(False, "no trigger fired: no drift alarm", False, "", "roc_auc", "x")
    return RetrainDecision(
        True, "the latest monitoring window alarmed", promoted, "why", "roc_auc", "significant",
        champion_version="3", challenger_version=version,
    )  # fmt: skip


class Steps:
    """Steps that record their calls; each step's behaviour per call is a list to pop."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.monitored: list[tuple[float, float]] = []
        self.retrained: list[DriftReport] = []
        self.alerts: list[dict[str, Any]] = []
        self.monitor_results: list[Any] = []  # a report, or an exception to raise
        self.retrain_results: list[Any] = []  # a decision, or an exception to raise
        self.retrain_seconds = 0.0

    def monitor(self, since: float, until: float) -> DriftReport:
        self.monitored.append((since, until))
        found = self.monitor_results.pop(0) if self.monitor_results else _report(since)
        if isinstance(found, Exception):
            raise found
        return found

    def retrain(self, drift: DriftReport) -> RetrainDecision:
        self.retrained.append(drift)
        self.time.now += self.retrain_seconds
        found = self.retrain_results.pop(0) if self.retrain_results else _decision(False)
        if isinstance(found, Exception):
            raise found
        return found

    def bound(self, alert: Callable[[dict[str, Any]], None] | None = None) -> WatchSteps:
        return WatchSteps(self.monitor, self.retrain, alert or self.alerts.append)


def _watch(tmp_path: Path, steps: Steps, *, every: float = 6 * HOUR) -> Watch:
    watch = Watch(
        steps.bound(),
        every=every,
        window=DAY,
        state_dir=tmp_path / "watch",
        project="tiny",
        clock=steps.time.clock,
        wait=steps.time.wait,
    )
    steps.time.watch = watch
    return watch


def _run(watch: Watch, cycles: int) -> list[Cycle]:
    seen: list[Cycle] = []

    def count(cycle: Cycle) -> None:
        seen.append(cycle)
        if len(seen) == cycles:
            watch.stop()

    watch.run(on_cycle=count)
    return seen


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_complete_window_is_monitored_once_and_cycles_keep_the_interval(
    tmp_path: Path,
) -> None:
    time = FakeTime(T0)
    steps = Steps(time)
    watch = _watch(tmp_path, steps)

    cycles = _run(watch, 5)

    assert [c.started for c in cycles] == [T0 + i * 6 * HOUR for i in range(5)]
    # the first cycle: the latest complete day; the fifth: the day completed since
    assert steps.monitored == [(T0 - HOUR - DAY, T0 - HOUR), (T0 - HOUR, T0 - HOUR + DAY)]
    assert [c.monitoring for c in cycles] == ["no alarm"] + ["no new window"] * 3 + ["no alarm"]
    assert "the next window ends at 2024-10-05T00:00:00+00:00" in cycles[1].line()
    assert [c.retraining for c in cycles] == ["not triggered"] * 5
    assert [len(r.windows) for r in steps.retrained] == [1, 0, 0, 0, 1]  # no new window: no alarm
    assert not any(r.drifted for r in steps.retrained)
    assert time.waits == [6 * HOUR] * 4  # then stopped
    records = _lines(watch.cycle_log)
    assert [r["cycle"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["monitoring"]["since"] == "2024-10-03T00:00:00+00:00"
    assert records[0]["retraining"]["decision"]["triggered"] is False
    assert steps.alerts == []


def test_a_restart_goes_on_from_where_monitoring_got_to(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    _watch(tmp_path, steps).cycle()
    later = Steps(FakeTime(T0 + 3 * DAY))

    _watch(tmp_path, later).cycle()

    # the three days completed since, in one call
    assert later.monitored == [(T0 - HOUR, T0 - HOUR + 3 * DAY)]


def test_drift_is_handed_to_the_retraining_which_may_promote(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    drifted = _report(T0 - HOUR - DAY, "x drifted (psi 0.3, ks adjusted p 1e-9)")
    steps.monitor_results = [drifted]
    steps.retrain_results = [_decision(True, promoted=True)]

    cycle = _watch(tmp_path, steps).cycle()

    assert steps.retrained == [drifted]
    assert (cycle.monitoring, cycle.alarms, cycle.retraining) == ("drift", 1, "promoted")
    assert cycle.drifted and not cycle.failed
    assert cycle.notes["retraining"] == "version 4: why"
    [alert] = steps.alerts
    assert alert["kind"] == "champion_promoted" and alert["text"] == (
        "tiny: a retrained challenger became champion"
    )
    assert alert["decision"]["challenger_version"] == "4" and alert["decision"]["promoted"]


def test_too_few_labels_and_not_promoted_are_told_apart(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    steps.retrain_results = [_decision(True, version=None), _decision(True)]
    watch = _watch(tmp_path, steps)

    assert [watch.cycle().retraining, watch.cycle().retraining] == [
        "too few labels",
        "not promoted",
    ]


@pytest.fixture
def hook() -> Iterator[needs.Webhook]:
    server = needs.Webhook()
    yield server
    server.close()


def test_a_failed_retraining_is_alerted_and_the_loop_and_the_alarm_survive(
    tmp_path: Path, hook: needs.Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    time = FakeTime(T0)
    steps = Steps(time)
    drifted = _report(T0 - HOUR - DAY, "x drifted")
    steps.monitor_results = [drifted]
    steps.retrain_results = [RuntimeError("the source database is down"), _decision(True)]
    delivery: list[str] = []  # post_alert's error per alert ('' when delivered)
    watch = Watch(
        steps.bound(lambda payload: delivery.append(post_alert(hook.url, payload))),
        every=6 * HOUR,
        window=DAY,
        state_dir=tmp_path / "watch",
        project="tiny",
        clock=time.clock,
        wait=time.wait,
    )
    time.watch = watch

    cycles = _run(watch, 3)

    assert [c.retraining for c in cycles] == ["failed", "not promoted", "not triggered"]
    assert cycles[0].failed and not cycles[1].failed
    assert cycles[0].notes["retraining"] == "RuntimeError: the source database is down"
    # the alarm no retraining answered is handed to the next one, then it is spent
    assert [r is drifted for r in steps.retrained] == [True, True, False]
    [body] = hook.bodies
    assert delivery == [""]
    assert body["kind"] == "retraining_failed" and body["source"] == "loopml watch"
    assert body["project"] == "tiny" and body["cycle"] == 1
    assert body["error"] == {"type": "RuntimeError", "message": "the source database is down"}
    assert body["text"] == (
        "tiny: retraining failed; the champion was not moved: "
        "RuntimeError: the source database is down"
    )
    assert "retraining failed" in caplog.text and "Traceback" in caplog.text
    records = _lines(watch.cycle_log)
    assert [r["retraining"]["status"] for r in records] == [
        "failed",
        "not promoted",
        "not triggered",
    ]
    assert records[0]["failed"] is True


def test_another_retraining_holding_the_lock_is_not_a_failure(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    drifted = _report(T0 - HOUR - DAY, "x drifted")
    steps.monitor_results = [drifted]
    steps.retrain_results = [LockHeldError("a retraining is already running", {"pid": 7})]
    watch = _watch(tmp_path, steps)

    cycle = watch.cycle()

    assert cycle.retraining == "locked" and not cycle.failed
    assert cycle.notes["retraining"] == "a retraining is already running"
    assert watch.pending is drifted and steps.alerts == []


def test_nothing_served_is_not_a_failure_and_a_failed_monitoring_is_retried(
    tmp_path: Path,
) -> None:
    time = FakeTime(T0)
    steps = Steps(time)
    steps.monitor_results = [
        NothingToMonitor("nothing has been served yet"),
        OSError("database is locked"),
    ]
    watch = _watch(tmp_path, steps, every=DAY)

    first, second, third = _run(watch, 3)

    assert (first.monitoring, first.failed) == ("nothing to monitor", False)
    assert "monitoring nothing to monitor (nothing has been served yet)" in first.line()
    assert (second.monitoring, second.failed, second.retraining) == (
        "failed",
        True,
        "not triggered",  # the policy still runs: a metric drop or the schedule may fire
    )
    assert [a["kind"] for a in steps.alerts] == ["monitoring_failed"]
    assert steps.alerts[0]["error"]["message"] == "database is locked"
    day = T0 - HOUR
    # the failed day is monitored again, with the one completed since
    assert steps.monitored == [(day - DAY, day), (day, day + DAY), (day, day + 2 * DAY)]
    assert third.monitoring == "no alarm"


def test_a_stop_during_monitoring_skips_the_retraining_and_ends_the_loop(
    tmp_path: Path,
) -> None:
    steps = Steps(FakeTime(T0))
    watch = _watch(tmp_path, steps)

    def monitor_then_signal(since: float, until: float) -> DriftReport:
        watch.stop()  # as SIGTERM's handler does
        return _report(since)

    watch.steps = WatchSteps(monitor_then_signal, steps.retrain, steps.alerts.append)

    last = watch.run()

    assert last is not None and last.number == 1
    assert (last.monitoring, last.retraining) == ("no alarm", "stopped")
    assert steps.retrained == [] and steps.time.waits == []
    assert len(_lines(watch.cycle_log)) == 1


def test_a_stop_during_the_retraining_lets_it_finish_and_records_it(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    watch = _watch(tmp_path, steps)

    def retrain_then_signal(drift: DriftReport) -> RetrainDecision:
        watch.stop()  # SIGTERM arrives while the challenger trains
        return _decision(True, promoted=True)

    watch.steps = WatchSteps(steps.monitor, retrain_then_signal, steps.alerts.append)

    last = watch.run()

    assert last is not None and (last.number, last.retraining) == (1, "promoted")
    assert steps.time.waits == []
    [record] = _lines(watch.cycle_log)
    assert record["retraining"]["decision"]["promoted"] is True


def test_once_runs_one_cycle_and_a_long_cycle_starts_the_next_at_once(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    once = _watch(tmp_path / "once", steps)
    assert once.run(once=True) is not None and steps.time.waits == []

    slow = Steps(FakeTime(T0))
    slow.retrain_seconds = 8 * HOUR  # longer than the interval
    cycles = _run(_watch(tmp_path / "slow", slow), 2)

    assert slow.time.waits == [0.0]  # then stopped
    assert cycles[1].started == T0 + 8 * HOUR


def test_the_cycle_log_is_rotated(tmp_path: Path) -> None:
    steps = Steps(FakeTime(T0))
    watch = _watch(tmp_path, steps)
    watch.cycle_log.parent.mkdir(parents=True)
    watch.cycle_log.write_text("{}\n" * (CYCLE_LOG_BYTES // 3 + 1), encoding="utf-8")

    watch.cycle()

    assert len(_lines(watch.cycle_log)) == 1
    assert watch.cycle_log.with_name("cycles.jsonl.1").stat().st_size > CYCLE_LOG_BYTES


def test_the_interval_comes_from_the_flag_the_setting_or_the_window() -> None:
    assert watch_interval("30m", "6h", "1d") == 1800
    assert watch_interval(None, "6h", "1d") == 6 * HOUR
    assert watch_interval(None, None, "1d") == DAY
    with pytest.raises(ConfigError, match=r"--every 'hourly': .* write a number and a unit"):
        watch_interval("hourly", None, "1d")


def test_an_alert_that_cannot_be_delivered_never_stops_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = post_alert("http://127.0.0.1:9/hook", {"kind": "retraining_failed"}, timeout=2)
    assert unreachable.startswith("ConnectError")

    steps = Steps(FakeTime(T0))
    steps.retrain_results = [RuntimeError("out of memory")]

    def broken(payload: dict[str, Any]) -> None:
        raise ValueError("no route")

    watch = _watch(tmp_path, steps)
    watch.steps = WatchSteps(steps.monitor, steps.retrain, broken)

    assert watch.cycle().retraining == "failed"
    assert "the retraining_failed alert could not be delivered" in caplog.text
    assert len(_lines(watch.cycle_log)) == 1
