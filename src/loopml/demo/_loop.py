"""The demo's second half: the loop closes on a running service.

:class:`DemoLoop` runs it phase by phase, against the real ``loopml serve`` over HTTP:

1. :meth:`DemoLoop.live_day`, once per demo day: the day's customers (drawn with the day's
   drift knob, 0 in the first half, then rising) are scored through ``POST /v1/predict`` in
   a few requests spread over the day, and the labels of the predictions made
   ``label_delay`` days before come back through ``POST /v1/feedback``.
2. :meth:`DemoLoop.monitor`: ``Project.monitor`` over exactly those days, one window a day.
3. :meth:`DemoLoop.retrain`: ``Project.retrain`` with that report, at the end of the last
   day: a challenger trained on the sources plus the labelled traffic, the paired test on
   the latest labelled days, the promotion.
4. :meth:`DemoLoop.swap`: the service follows the promotion on its own (it polls the
   registry, ``serving.reload_poll_seconds``); the demo waits until ``GET /v1/model`` names
   the champion, and a day of traffic more shows it answering with it.

Time is real: one demo day is ``timeline.day_seconds`` seconds of the clock, and the
project's ``loopml.yaml`` sets monitoring and retraining windows in those seconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.demo._report import write_timeline
from loopml.demo._service import Service, running_service, sleep_until
from loopml.demo._timeline import DemoTimeline, day_customers

if TYPE_CHECKING:
    from loopml.loop import RetrainDecision
    from loopml.monitoring import MonitorResult
    from loopml.project import Project

log = logging.getLogger(__name__)

#: The demo's traffic ids start here, above the sources' customer numbers.
_TRAFFIC_IDS = 10_000_000


@dataclass(frozen=True)
class DayRecord:
    """One demo day as the service saw it."""

    day: int
    start: float  # seconds since the epoch (UTC)
    drift: float  # the generator's knob that day
    rows: int  # predictions answered
    versions: dict[str, int]  # rows answered per model version
    labels_sent: int  # labels of an earlier day posted this day
    labels_for: int | None  # the day those labels belong to

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "start": self.start,
            "drift": self.drift,
            "rows": self.rows,
            "versions": dict(self.versions),
            "labels_sent": self.labels_sent,
            "labels_for": self.labels_for,
        }


@dataclass(frozen=True)
class LoopResult:
    """What the demo's loop did, day by day, and what it found and decided."""

    timeline: DemoTimeline
    days: list[DayRecord]
    monitoring: MonitorResult
    decision: RetrainDecision
    live_version: str  # what the service said it serves after the decision
    after: DayRecord  # the day of traffic after the decision
    requests: int
    failures: list[str]
    report: Path | None = None  # the timeline page

    def to_dict(self) -> dict[str, Any]:
        t = self.timeline
        return {
            "day_seconds": t.day_seconds,
            "days": [d.to_dict() for d in self.days],
            "drift_from_day": t.first_drift_day,
            "label_delay_days": t.label_delay,
            "monitoring": {
                "drifted": self.monitoring.report.drifted,
                "drifted_days": [d.day for d in self.days if self.drifted_on(d.day)],
                "drifted_features": self.drifted_features(),
                "report_html": str(self.monitoring.html),
            },
            "retraining": self.decision.to_dict(),
            "live_version": self.live_version,
            "after": self.after.to_dict(),
            "requests": self.requests,
            "failed_requests": len(self.failures),
            "failures": self.failures[:20],
            "report": str(self.report) if self.report else None,
        }

    def window_of(self, day: int) -> Any:
        """The monitoring window of ``day`` (None when monitoring had none)."""
        windows = self.monitoring.report.windows
        return windows[day - 1] if 0 < day <= len(windows) else None

    def drifted_on(self, day: int) -> bool:
        window = self.window_of(day)
        return bool(window is not None and window.drifted)

    def drifted_features(self) -> list[str]:
        """Every feature that drifted on some day, most often first."""
        found = Counter(
            f.name for w in self.monitoring.report.windows for f in w.features if f.drifted
        )
        return [name for name, _ in found.most_common()]


@dataclass
class _Sent:
    """A day's answered requests: ids and true labels, kept until the labels are due."""

    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


class DemoLoop:
    """The loop of the demo on ``project``, one method per phase (see the module docstring).

    Parameters
    ----------
    project
        The trained demo project (a champion is registered).
    timeline
        The calendar: days, rows, drift, label delay, the length of a day.
    seed
        Of the traffic's customers.
    say
        Called with a line of news as the loop goes (the CLI prints it).
    progress
        The training progress callback for the retraining.
    """

    def __init__(
        self,
        project: Project,
        timeline: DemoTimeline,
        *,
        seed: int = 0,
        say: Callable[[str], None] | None = None,
        progress: Callable[[float, str], None] | None = None,
    ):
        self.project = project
        self.timeline = timeline
        self.seed = seed
        self.say = say or (lambda line: log.info("%s", line))
        self.progress = progress
        self.t0 = 0.0
        self.sent: dict[int, _Sent] = {}
        self.days: list[DayRecord] = []

    def run(self) -> LoopResult:
        """Start the service, live the days, monitor, retrain, swap; stop the service."""
        t = self.timeline
        config = self.project.config_path
        self.say("Starting `loopml serve` on the champion (log: .loopml/demo-serve.log) …")
        with running_service(config.resolve()) as service:
            self.say(f"Serving at {service.url}. One demo day is {t.day_seconds:g} s of real time.")
            # day 1 starts on a multiple of the day since the epoch: monitoring's windows
            # are aligned that way, so each window is exactly one day
            self.t0 = math.ceil((time.time() + 1.0) / t.day_seconds) * t.day_seconds
            for day in range(1, t.days + 1):
                self.days.append(self.live_day(service, day))
            sleep_until(self.day_start(t.days + 1))
            monitoring = self.monitor()
            decision = self.retrain(monitoring)
            live = self.swap(service, decision)
            # the day after: as drifted as the last one, from now on (retraining took time)
            after = self.live_day(service, t.days + 1, drift_day=t.days, start=time.time())
            result = LoopResult(
                t, self.days, monitoring, decision, live, after, service.requests,
                list(service.failures),
            )  # fmt: skip
        name = self.project.config.model_name
        page = self.project.workspace / "reports" / f"{name}-loop-timeline.html"
        title = f"{self.project.config.name}: the loop, day by day"
        return dataclasses.replace(result, report=write_timeline(result, page, title=title))

    def day_start(self, day: int) -> float:
        return self.t0 + (day - 1) * self.timeline.day_seconds

    # ------------------------------------------------------------------ 1. the days

    def live_day(
        self,
        service: Service,
        day: int,
        *,
        drift_day: int | None = None,
        start: float | None = None,
    ) -> DayRecord:
        """Day ``day``: its customers scored over the day, earlier labels sent at its start.

        ``drift_day``: draw the customers as on that day (the day after the loop has the
        last day's drift); ``start``: when the day starts (default: on the calendar).
        """
        t = self.timeline
        like = drift_day or day
        customers = day_customers(
            t, like, seed=self.seed, id_offset=_TRAFFIC_IDS + day * t.rows_per_day * 2
        )
        start = self.day_start(day) if start is None else start
        sleep_until(start)
        labels_for = day - t.label_delay
        labels_sent = self._send_labels(service, labels_for)
        sent, versions = _Sent(), Counter[str]()
        for fraction, chunk in zip(
            t.slots(), np.array_split(np.arange(len(customers)), t.requests_per_day), strict=True
        ):
            sleep_until(start + fraction * t.day_seconds)
            rows = customers.iloc[chunk]
            answer = service.post("/v1/predict", {"instances": _instances(rows)})
            if answer is None:
                continue
            sent.ids += answer["request_ids"]
            sent.labels += rows["churned"].astype(str).tolist()
            versions[str(answer["model_version"])] += len(rows)
        self.sent[day] = sent
        record = DayRecord(
            day, start, t.drift_on(like), len(sent.ids), dict(versions), labels_sent,
            labels_for if labels_sent else None,
        )  # fmt: skip
        self.say(_day_line(record))
        return record

    def _send_labels(self, service: Service, day: int) -> int:
        """Post the labels of ``day``'s predictions; how many the service stored."""
        sent = self.sent.pop(day, None)
        if sent is None or not sent.ids:
            return 0
        body = [
            {"request_id": rid, "label": label}
            for rid, label in zip(sent.ids, sent.labels, strict=True)
        ]
        answer = service.post("/v1/feedback", body)
        return int(answer.get("stored", 0)) if answer else 0

    # ------------------------------------------------------------------ 2. monitoring

    def monitor(self) -> MonitorResult:
        """``Project.monitor`` over the traffic's days, one window each."""
        end = self.day_start(self.timeline.days + 1)
        self.say(f"Monitoring days 1 to {self.timeline.days}, one window per day …")
        return self.project.monitor(since=_iso(self.t0), until=_iso(end))

    # ------------------------------------------------------------------ 3. retraining

    def retrain(self, monitoring: MonitorResult) -> RetrainDecision:
        """``Project.retrain`` on the monitoring report, as at the end of the last day."""
        self.say("Retraining: the challenger learns from the sources and the labelled traffic …")
        now = self.day_start(self.timeline.days + 1)
        return self.project.retrain(self.progress, drift=monitoring.report, now=now)

    # ------------------------------------------------------------------ 4. the swap

    def swap(self, service: Service, decision: RetrainDecision, *, seconds: float = 60) -> str:
        """The version the service serves once it has followed the decision.

        The service polls the registry (``serving.reload_poll_seconds``) and swaps models
        between requests; this waits until ``GET /v1/model`` names the champion.
        """
        wanted = self.project.registry.resolve("champion")
        deadline = time.monotonic() + seconds
        serving = str(service.get("/v1/model")["version"])
        while serving != wanted and time.monotonic() < deadline:
            time.sleep(0.2)
            serving = str(service.get("/v1/model")["version"])
        if decision.promoted:
            self.say(f"The service swapped to version {serving} (the champion is {wanted}).")
        return serving


def _instances(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON instances: no target, missing values as null (the client sends what it
    has: ids and the e-mail too, which the service ignores and names in its warnings)."""
    features = rows.drop(columns=["churned"]).astype(object)
    records: list[dict[str, Any]] = features.where(features.notna(), None).to_dict("records")
    return records


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _day_line(record: DayRecord) -> str:
    versions = ", ".join(f"version {v}: {n}" for v, n in sorted(record.versions.items()))
    labels = (
        f"; {record.labels_sent} labels of day {record.labels_for} came back"
        if record.labels_sent
        else ""
    )
    return (
        f"day {record.day:>2} (drift {record.drift:.2f}): {record.rows} predictions "
        f"({versions or 'none answered'}){labels}"
    )
