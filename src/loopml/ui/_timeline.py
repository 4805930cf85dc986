"""One timeline per model version: traffic, drift, performance and alarms per monitoring
window, with the alias moves and retraining decisions on the same time axis.

The windows are ``loopml monitor``'s own (:func:`loopml.monitoring.monitor` over the
prediction log, ``monitoring.window`` long), computed here without its side effects (no
gauges, alerts or report files). Each window is computed once for the project: both read and
write the workspace's window store (``.loopml/state/windows.db``), which recomputes only the
windows the log changed under. In process, a report is kept until the log changes: a page
asks the log only for its size and last time.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.errors import DataError, ModelNotFoundError

if TYPE_CHECKING:
    from loopml.monitoring import DriftReport
    from loopml.ui._facts import Dashboard

log = logging.getLogger(__name__)

#: Most windows one timeline shows (the latest); older ones are summarised by count.
MAX_WINDOWS = 500


class Timelines:
    """Monitoring timelines of a project's versions, cached per version until the log grows.

    Parameters
    ----------
    dashboard
        The dashboard whose project, bundles and decisions the timelines use.
    """

    def __init__(self, dashboard: Dashboard):
        self.dashboard = dashboard
        self._cache: dict[str, tuple[Any, DriftReport | None]] = {}
        self._lock = threading.Lock()
        self._computing = threading.Lock()  # one computation at a time: no work twice

    def _files(self) -> tuple[Any, ...] | None:
        """For a SQLite log (the default): its files' sizes and times, which change with every
        prediction, label or erasure written (a check that costs no query); None for another
        database, or before anything was logged."""
        project = self.dashboard.project
        path = _sqlite_path(project.config.serving.prediction_log.url, project.root)
        if path is None or not path.is_file():
            return None
        stats = [f.stat() for f in (path, Path(f"{path}-wal")) if f.is_file()]
        return tuple((s.st_size, s.st_mtime_ns) for s in stats)

    def _span(self, version: str, *, count: bool) -> tuple[Any, ...] | None:
        """(first, last) time of ``version``'s logged predictions (and how many the log holds,
        with ``count``); None without a log or without predictions of ``version``."""
        from loopml.serving import PredictionLog

        project = self.dashboard.project
        url = project.config.serving.prediction_log.url
        if not _log_exists(url, project.root):
            return None
        with PredictionLog(url, base_dir=project.root, mode="sync") as plog:
            span = plog.span(version)
            if span is None:
                return None
            return (*span, plog.count()) if count else span

    def report(self, version: str) -> DriftReport | None:
        """``version``'s monitoring windows; None when it has served nothing. Computed once,
        then kept until the log changes."""
        files = self._files()
        if files is not None:
            with self._lock:
                cached = self._cache.get(version)
            if cached is not None and cached[0] == files:
                return cached[1]
        with self._computing:
            span = self._span(version, count=files is None)
            state = files if files is not None else span
            with self._lock:
                cached = self._cache.get(version)
            if cached is not None and cached[0] == state:
                return cached[1]
            report = None if span is None else self._monitor(version, span[0], span[1])
        with self._lock:
            self._cache[version] = (state, report)
        return report

    def warm(self) -> None:
        """Compute the champion's timeline now (called in the background at start-up), so
        its first visitor does not wait for every window of a long log."""
        try:
            self.report(self.dashboard.info("champion").version)
        except Exception as exc:  # nothing to warm, or monitoring cannot run: the page says
            log.info("the champion's timeline was not computed ahead: %s", exc)

    def _monitor(self, version: str, first: float, last: float) -> DriftReport:
        """The windows from ``version``'s first logged prediction to the end of the window
        holding its last (not to now: a version no longer served has no empty tail). The
        windows ``loopml monitor`` or an earlier load stored and that are still current come
        from the project's window store; only the others read the log."""
        import math

        from loopml.monitoring import WINDOW_STORE, MonitorSpan, WindowStore, monitor, open_log

        dashboard = self.dashboard
        project = dashboard.project
        window = project.config.monitoring.window_seconds
        bundle = dashboard.bundle(version)
        if bundle is None:
            raise ModelNotFoundError(f"version {version} cannot be loaded to monitor it.")
        span = MonitorSpan(
            first, first + window * (math.floor((last - first) / window) + 1), window
        )
        with open_log(project.config.serving.prediction_log.url, project.root) as plog:
            return monitor(
                bundle,
                plog,
                model_name=project.config.model_name,
                model_version=version,
                span=span,
                config=project.config.monitoring,
                store=WindowStore(project.workspace / WINDOW_STORE),
                compare=False,  # the timeline shows windows, not the online comparison
            )

    def timeline(self, version: str) -> dict[str, Any]:
        """The windows of ``version`` in brief (one row each), and the project's events."""
        info = self.dashboard.version(version)
        try:
            report = self.report(info["version"])
        except DataError as exc:  # e.g. a model trained before monitoring references
            return {"version": info["version"], "error": str(exc), "windows": [], "events": []}
        windows = list(report.windows) if report is not None else []
        while windows and not windows[-1].rows:  # the end of the last window, not served
            windows.pop()
        shown = windows[-MAX_WINDOWS:]
        events = self.events()
        return {
            "version": info["version"],
            "aliases": info["aliases"],
            "window_seconds": report.window_seconds if report is not None else None,
            "hidden_windows": len(windows) - len(shown),
            "windows": [_brief(i + len(windows) - len(shown), w) for i, w in enumerate(shown)],
            "events": events,
            # the version's life: from its registration to the last move or decision about it
            "span": _span(shown, [e for e in events if info["version"] in e["versions"]]),
        }

    def window(self, version: str, index: int) -> dict[str, Any]:
        """Everything monitoring found in one window of ``version``."""
        info = self.dashboard.version(version)
        report = self.report(info["version"])
        count = len(report.windows) if report is not None else 0
        if report is None or not 0 <= index < count:
            raise ModelNotFoundError(
                f"version {info['version']} has no monitoring window {index} "
                f"({count} windows: 0 to {max(count - 1, 0)})."
            )
        body: dict[str, Any] = report.windows[index].to_dict()
        body["index"] = index
        body["version"] = info["version"]
        return body

    def events(self) -> list[dict[str, Any]]:
        """Alias moves and retraining decisions, oldest first, on the timeline's time axis."""
        history = self.dashboard.alias_history()
        created = {e["versions"][0]: e["time"] for e in history if e["kind"] == "registered"}
        events = [dict(e) for e in history]
        for d in self.dashboard.decisions():
            verdict = "promoted" if d.get("promoted") else "not promoted"
            challenger = d.get("challenger_version")
            events.append(
                {  # decided once the challenger was trained: not before it was registered
                    "time": max(d.get("decided_at") or 0.0, created.get(challenger, 0.0)),
                    "kind": "retraining",
                    "text": f"retraining: version {challenger} {verdict}",
                    "label": f"retraining: v{challenger} {verdict}",
                    "detail": d.get("trigger"),
                    "versions": [v for v in (challenger, d.get("champion_version")) if v],
                }
            )
        return sorted(events, key=lambda e: e["time"] or 0)


def _span(windows: list[Any], events: list[dict[str, Any]]) -> list[float] | None:
    """The first and last time the timeline covers: its windows and ``events``."""
    times = [w.start for w in windows] + [w.end for w in windows]
    times += [e["time"] for e in events if e["time"]]
    return [min(times), max(times)] if times else None


def _brief(index: int, window: Any) -> dict[str, Any]:
    """One window as the timeline's row: rows, labels, drifted features, performance."""
    perf = window.performance
    estimate = window.estimated_performance
    return {
        "index": index,
        "start": window.start,
        "end": window.end,
        "rows": window.rows,
        "labelled": window.labelled,
        "drifted": window.drifted,
        "drifted_features": [f.name for f in window.features if f.drifted],
        "tested_features": len(window.features),
        "performance": perf.value if perf is not None else None,
        "estimated": estimate.value if estimate is not None else None,
        "metric": (perf or estimate).metric if (perf or estimate) is not None else None,
        "alarms": len(window.alarms),
    }


def _sqlite_path(url: str, base_dir: Path) -> Path | None:
    """The file of a SQLite log URL (relative to the project); None for another database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database)
    return path if path.is_absolute() else base_dir / path


def _log_exists(url: str, base_dir: Path) -> bool:
    """False for a SQLite log file that does not exist (nothing served): opening it would
    create it, and the dashboard only reads."""
    path = _sqlite_path(url, base_dir)
    return path is None or path.is_file()
