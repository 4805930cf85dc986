"""``loopml watch``: monitoring, then the retraining policy, on a schedule, as one process.

:class:`Watch` is the loop; what a cycle *does* is handed in as :class:`WatchSteps` (the
CLI wires them to ``Project.monitor`` and ``Project.retrain``; tests hand in their own) and
time as ``clock`` and ``wait``, so the loop is tested without sleeping. One cycle:

1. **Monitor** the windows completed since the last cycle (the latest complete window on
   the first): ``[since, until)`` with ``until`` the end of the last complete window of
   ``monitoring.window``. No new complete window: nothing is monitored this time. No
   champion or nothing served yet: not a failure, there is nothing to test.
2. **Retrain** through the policy with this cycle's drift report. A drift alarm stays
   pending until a retraining has answered it (decided, promoted or not), so an alarm is
   not lost when that retraining fails or another one holds the lock.
3. **Record** one JSON line under ``.loopml/watch/cycles.jsonl`` (rotated past 1 MiB to
   ``cycles.jsonl.1``), where the monitoring got to (``state.json``, so a restart goes
   on from there) and one log line.

A step that fails is logged with its traceback and alerted (``{"kind":
"retraining_failed", ...}`` or ``"monitoring_failed"`` POSTed to ``monitoring.webhook``),
and the loop goes on: the retraining moves the champion last, in one registry step, so a
failure leaves it where it was. :meth:`Watch.stop` (SIGTERM, SIGINT) ends the loop between
steps: a retraining under way finishes first; a second signal abandons it (the champion has
not moved unless its last step ran).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from loopml.files import write_text_atomic
from loopml.loop._lock import LockHeldError

if TYPE_CHECKING:
    from loopml.config import ProjectConfig
    from loopml.loop._retrain import RetrainDecision
    from loopml.monitoring import DriftReport, MonitorResult

log = logging.getLogger(__name__)

#: The cycle log is rotated to ``cycles.jsonl.1`` once it passes this size.
CYCLE_LOG_BYTES = 1 << 20

MonitorStatus = Literal["drift", "no alarm", "no new window", "nothing to monitor", "failed"]
RetrainStatus = Literal[
    "promoted", "not promoted", "not triggered", "too few labels", "locked", "stopped", "failed"
]


class NothingToMonitor(Exception):
    """Raised by a monitor step when there is nothing to test: no champion, or nothing
    served yet. Not a failure; the message says which."""


@dataclass(frozen=True)
class WatchSteps:
    """What a cycle does; each step may raise, the loop survives it.

    ``monitor(since, until)`` tests the champion's windows in ``[since, until)`` (seconds
    since the epoch), sending its own drift alerts, or raises :class:`NothingToMonitor`;
    ``retrain(drift)`` applies the retraining policy with that report; ``alert(payload)``
    delivers a failure alert (it logs and swallows its own errors).
    """

    monitor: Callable[[float, float], DriftReport]
    retrain: Callable[[DriftReport], RetrainDecision]
    alert: Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Cycle:
    """What one cycle did (one line of ``.loopml/watch/cycles.jsonl``)."""

    number: int
    started: float
    finished: float
    monitoring: MonitorStatus
    retraining: RetrainStatus
    since: float | None = None  # the monitored span, when something was monitored
    until: float | None = None
    model_version: str | None = None  # the version monitored
    windows: int = 0
    alarms: int = 0
    decision: RetrainDecision | None = None
    notes: dict[str, str] = field(default_factory=dict)  # per step: why, or the error

    @property
    def failed(self) -> bool:
        return "failed" in (self.monitoring, self.retraining)

    @property
    def drifted(self) -> bool:
        return self.monitoring == "drift"

    def to_dict(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "cycle": self.number,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "monitoring": {
                "status": self.monitoring,
                "since": _iso(self.since),
                "until": _iso(self.until),
                "model_version": self.model_version,
                "windows": self.windows,
                "alarms": self.alarms,
                "note": self.notes.get("monitoring", ""),
            },
            "retraining": {
                "status": self.retraining,
                "note": self.notes.get("retraining", ""),
                "decision": decision.to_dict() if decision is not None else None,
            },
            "drifted": self.drifted,
            "failed": self.failed,
        }

    def line(self) -> str:
        """The cycle in one line, for the log."""
        monitored: str = self.monitoring
        if self.since is not None and self.until is not None and self.windows:
            monitored += (
                f" in {self.windows} window(s) of version {self.model_version} from "
                f"{_iso(self.since)} to {_iso(self.until)}"
            )
            monitored += f", {self.alarms} alarm(s)" if self.alarms else ""
        elif self.notes.get("monitoring"):
            monitored += f" ({self.notes['monitoring']})"
        retrained: str = self.retraining
        if self.notes.get("retraining"):
            retrained += f": {self.notes['retraining']}"
        return f"watch cycle {self.number}: monitoring {monitored}; retraining {retrained}"


class Watch:
    """The loop of ``loopml watch`` (see the module docstring).

    Parameters
    ----------
    steps
        What a cycle does.
    every
        Seconds from the start of one cycle to the start of the next.
    window
        ``monitoring.window`` in seconds: only complete windows are monitored.
    state_dir
        Where the cycle log and the state go (``.loopml/watch``).
    project
        The project's name, for the alerts.
    clock, wait
        The time (seconds since the epoch), and a wait of that many seconds that returns
        early, True, once :meth:`stop` is called. Defaults: the real ones.
    """

    def __init__(
        self,
        steps: WatchSteps,
        *,
        every: float,
        window: float,
        state_dir: Path,
        project: str = "",
        clock: Callable[[], float] = time.time,
        wait: Callable[[float], bool] | None = None,
    ):
        if not (every > 0 and window > 0):
            raise ValueError(f"every ({every}) and window ({window}) must be positive")
        self.steps = steps
        self.every, self.window = float(every), float(window)
        self.state_dir = state_dir
        self.project = project
        self.clock = clock
        self._stop = threading.Event()
        self.wait = wait if wait is not None else self._stop.wait
        self.cycles = 0
        self.monitored_until = self._read_state()
        self.pending: DriftReport | None = None  # a drift alarm no retraining answered yet
        self.fresh: DriftReport | None = None  # what this cycle's monitoring found

    # -------------------------------------------------------------- running

    def stop(self) -> None:
        """End the loop after the step under way (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(
        self, *, once: bool = False, on_cycle: Callable[[Cycle], None] | None = None
    ) -> Cycle | None:
        """Run cycles every :attr:`every` seconds until :meth:`stop` (or one, with ``once``);
        return the last cycle (None when stopped before the first)."""
        last = None
        while not self.stopping:
            started = self.clock()
            last = self.cycle()
            if on_cycle is not None:
                on_cycle(last)
            if once or self.stopping:
                break
            delay = started + self.every - self.clock()
            if delay < 0:
                log.warning(
                    "watch cycle %d took longer than the interval (%s): the next starts now",
                    last.number,
                    _span(self.every),
                )
            if self.wait(max(delay, 0.0)):
                break
        return last

    def cycle(self) -> Cycle:
        """One cycle: monitor, retrain, record (see the module docstring)."""
        self.cycles += 1
        self.fresh = None
        started = self.clock()
        cycle = self._monitor(Cycle(self.cycles, started, started, "no new window", "stopped"))
        if not self.stopping:
            cycle = self._retrain(cycle)
        cycle = replace(cycle, finished=self.clock())
        self._record(cycle)
        return cycle

    # -------------------------------------------------------------- the steps

    def _monitor(self, cycle: Cycle) -> Cycle:
        until = math.floor(cycle.started / self.window) * self.window  # the last complete window
        since = self.monitored_until if self.monitored_until is not None else until - self.window
        if since >= until:
            next_end = _iso(until + self.window)
            return replace(cycle, notes={"monitoring": f"the next window ends at {next_end}"})
        try:
            report = self.steps.monitor(since, until)
        except NothingToMonitor as exc:
            self._advance(until)
            return replace(cycle, monitoring="nothing to monitor", notes={"monitoring": str(exc)})
        except Exception as exc:
            log.error("watch: monitoring failed; it is tried again next cycle", exc_info=True)
            self._alert("monitoring_failed", cycle, exc)
            return replace(cycle, monitoring="failed", notes={"monitoring": _error(exc)})
        self._advance(until)
        self.fresh = report
        if report.drifted:
            self.pending = report
        return replace(
            cycle,
            monitoring="drift" if report.drifted else "no alarm",
            since=since,
            until=until,
            model_version=report.model_version,
            windows=len(report.windows),
            alarms=sum(len(w.alarms) for w in report.windows),
        )

    def _retrain(self, cycle: Cycle) -> Cycle:
        drift = self.pending or self.fresh or _no_alarm(self.window)
        notes = dict(cycle.notes)
        try:
            decision = self.steps.retrain(drift)
        except LockHeldError as exc:  # a retraining by hand: the alarm stays pending
            notes["retraining"] = str(exc)
            return replace(cycle, retraining="locked", notes=notes)
        except Exception as exc:
            log.error("watch: retraining failed; the champion was not moved", exc_info=True)
            self._alert("retraining_failed", cycle, exc)
            notes["retraining"] = _error(exc)
            return replace(cycle, retraining="failed", notes=notes)
        self.pending = None
        status: RetrainStatus
        if not decision.triggered:
            status, notes["retraining"] = "not triggered", decision.trigger
        elif decision.challenger_version is None:
            status, notes["retraining"] = "too few labels", decision.reason
        else:
            status = "promoted" if decision.promoted else "not promoted"
            notes["retraining"] = f"version {decision.challenger_version}: {decision.reason}"
        if decision.promoted:
            self._alert("champion_promoted", cycle, None, decision=decision.to_dict())
        return replace(cycle, retraining=status, decision=decision, notes=notes)

    def _alert(self, kind: str, cycle: Cycle, error: BaseException | None, **extra: Any) -> None:
        said = {
            "retraining_failed": "retraining failed; the champion was not moved",
            "monitoring_failed": "monitoring failed; it is tried again next cycle",
            "champion_promoted": "a retrained challenger became champion",
        }[kind]
        payload: dict[str, Any] = {
            "kind": kind,
            "source": "loopml watch",
            "project": self.project,
            "cycle": cycle.number,
            "at": _iso(self.clock()),
            "text": f"{self.project or 'loopml'}: {said}"
            + (f": {_error(error)}" if error is not None else ""),
        }
        if error is not None:
            payload["error"] = {"type": type(error).__name__, "message": str(error)}
        payload.update(extra)
        try:
            self.steps.alert(payload)
        except Exception:  # an alert must never stop the loop
            log.error("watch: the %s alert could not be delivered", kind, exc_info=True)

    # -------------------------------------------------------------- the record

    @property
    def cycle_log(self) -> Path:
        return self.state_dir / "cycles.jsonl"

    @property
    def _state_path(self) -> Path:
        return self.state_dir / "state.json"

    def _read_state(self) -> float | None:
        try:
            found = json.loads(self._state_path.read_text(encoding="utf-8"))
            return float(found["monitored_until"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _advance(self, until: float) -> None:
        self.monitored_until = until
        try:
            write_text_atomic(self._state_path, json.dumps({"monitored_until": until}))
        except OSError:  # kept in memory; a restart monitors the latest window again
            log.error("watch: %s could not be written", self._state_path, exc_info=True)

    def _record(self, cycle: Cycle) -> None:
        level = logging.WARNING if cycle.failed else logging.INFO
        log.log(level, "%s", cycle.line())
        path = self.cycle_log
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_file() and path.stat().st_size > CYCLE_LOG_BYTES:
                path.replace(path.with_name(path.name + ".1"))
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(cycle.to_dict(), default=str) + "\n")
        except OSError:  # a full disk must not stop the loop; the log line above stands
            log.error("watch: the cycle could not be written to %s", path, exc_info=True)


# ------------------------------------------------------------------------------- a project


class WatchedProject(Protocol):
    """What :func:`watch_project` needs of a :class:`loopml.Project`."""

    @property
    def config(self) -> ProjectConfig: ...

    @property
    def workspace(self) -> Path: ...

    def monitor(self, *, since: str | None = None, until: str | None = None) -> MonitorResult: ...

    def retrain(
        self, progress: Callable[[float, str], None] | None = None, *, drift: DriftReport | None
    ) -> RetrainDecision: ...


def watch_project(project: WatchedProject, *, every: str | None = None, **time: Any) -> Watch:
    """The :class:`Watch` of ``project``: its monitoring and retraining as the steps, its
    webhook for the alerts, ``.loopml/watch`` for the record.

    ``every``: a duration ("6h") overriding ``retraining.watch_every`` and the monitoring
    window; ``time``: ``clock`` and ``wait`` for :class:`Watch`.

    Examples
    --------
    >>> from loopml import Project
    >>> watch_project(Project("churn"), every="6h").run()  # doctest: +SKIP
    """
    cfg = project.config
    seconds = watch_interval(every, cfg.retraining.watch_every, cfg.monitoring.window)
    steps = WatchSteps(
        monitor=partial(_monitor_project, project),
        retrain=lambda drift: project.retrain(None, drift=drift),
        alert=partial(_post, cfg.monitoring.webhook, cfg.monitoring.webhook_timeout_seconds),
    )
    return Watch(
        steps,
        every=seconds,
        window=cfg.monitoring.window_seconds,
        state_dir=project.workspace / "watch",
        project=cfg.name,
        **time,
    )


def _monitor_project(project: WatchedProject, since: float, until: float) -> DriftReport:
    from loopml.errors import DataError, ModelNotFoundError

    try:
        result = project.monitor(
            since=dt.datetime.fromtimestamp(since, dt.UTC).isoformat(),
            until=dt.datetime.fromtimestamp(until, dt.UTC).isoformat(),
        )
    except ModelNotFoundError as exc:
        raise NothingToMonitor(f"no champion to monitor ({exc})") from None
    except DataError as exc:
        if "nothing has been served yet" not in str(exc):  # monitor_log's message
            raise
        raise NothingToMonitor("nothing has been served yet: there is no prediction log") from None
    return result.report


def _post(webhook: str | None, timeout: float, payload: dict[str, Any]) -> None:
    post_alert(webhook, payload, timeout=timeout)


# ------------------------------------------------------------------------------- helpers


def watch_interval(every: str | None, setting: str | None, window: str) -> float:
    """Seconds between cycles: ``--every``, else ``retraining.watch_every``, else the
    monitoring window.

    Raises
    ------
    ConfigError
        ``--every`` is not a duration.
    """
    from loopml.config import parse_duration
    from loopml.errors import ConfigError

    if every is not None:
        try:
            return parse_duration(every)
        except ValueError as exc:
            raise ConfigError(f"--every {every!r}: {exc}") from None
    return parse_duration(setting if setting is not None else window)


def post_alert(webhook: str | None, payload: dict[str, Any], *, timeout: float = 5.0) -> str:
    """Log ``payload``'s text and POST it to ``webhook`` when set; return the delivery
    error ('' when delivered or no webhook). Never raises: the loop goes on either way."""
    log.warning("%s", payload.get("text", payload.get("kind", "alert")))
    if webhook is None:
        return ""
    import httpx

    try:
        httpx.post(webhook, json=payload, timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.error("the %s alert could not be sent to %s (%s)", payload.get("kind"), webhook, error)
        return error
    return ""


def _no_alarm(window: float) -> DriftReport:
    """A report with no window: retraining reads it as "no drift alarm"."""
    from loopml.monitoring import DriftReport

    return DriftReport("", "", 0.0, 0.0, window, [])


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@overload
def _iso(seconds: float) -> str: ...
@overload
def _iso(seconds: None) -> None: ...
def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
