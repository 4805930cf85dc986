"""``loopml monitor``: each window of a model version's logged traffic against its reference."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.errors import ConfigError, DataError
from loopml.metrics import greater_is_better
from loopml.monitoring._alerts import AlertOutcome, send_alerts
from loopml.monitoring._contract import (
    DriftReport,
    FeatureDrift,
    Performance,
    QualityDrift,
    WindowFairness,
    WindowReport,
)
from loopml.monitoring._drift import data_quality, feature_drift, prediction_drift
from loopml.monitoring._fairness import fairness_settings, window_fairness
from loopml.monitoring._gauges import write_status
from loopml.monitoring._performance import estimated_performance, realised_performance
from loopml.monitoring._reference import Reference
from loopml.monitoring._variants import compare_variants
from loopml.monitoring._window_store import WindowKey, WindowStore, settings_fingerprint
from loopml.monitoring._windows import WindowRows, parse_time, read_window, window_bounds

if TYPE_CHECKING:
    from loopml.config import MonitoringConfig
    from loopml.registry import ModelBundle
    from loopml.serving import PredictionLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorSpan:
    """Which traffic a run covers: ``[since, until)`` in windows of ``window`` seconds."""

    since: float
    until: float
    window: float


def reference_of(bundle: ModelBundle, version: str) -> Reference:
    """The monitoring reference stored in the bundle at training.

    Raises
    ------
    DataError
        The model was trained before loopml stored one (retrain it to monitor it).
    """
    stored = (bundle.reference or {}).get("monitoring")
    if not stored:
        raise DataError(
            f"model version {version} was trained before loopml stored the reference "
            "statistics monitoring needs; retrain it (`loopml train`) to monitor it."
        )
    return Reference.from_dict(stored)


def monitor(
    bundle: ModelBundle,
    plog: PredictionLog,
    *,
    model_name: str,
    model_version: str,
    span: MonitorSpan,
    config: MonitoringConfig,
    store: WindowStore | None = None,
    compare: bool = True,
) -> DriftReport:
    """Test every window of ``span`` of ``model_version``'s logged predictions, and compare
    champion and challenger over the span when the service logged an online comparison.

    ``store``: the windows computed before and still current are taken from it, the others
    computed and stored. ``compare``: False skips the online comparison (``comparison`` is
    None), which reads the span's challenger traffic."""
    reference = reference_of(bundle, model_version)
    columns = [c.name for c in bundle.schema.feature_columns]
    bounds = window_bounds(span.since, span.until, span.window)
    key = None
    stored: dict[float, WindowReport] = {}
    if store is not None:
        key = WindowKey(
            model_name, model_version, settings_fingerprint(bundle, config), span.window
        )
        stored = store.current(plog, key, bounds)
    windows, fresh = [], []
    for start, end in bounds:
        if start not in stored:
            fresh.append(
                _tested_window(bundle, reference, plog, (start, end), model_version, config)
            )
        windows.append(stored.get(start) or fresh[-1])
    if store is not None and key is not None:
        store.save(key, fresh)
    comparison = None
    if compare:
        comparison = compare_variants(
            plog, bundle.problem, columns, since=span.since, until=span.until, alpha=config.alpha
        )
    return DriftReport(
        model_name=model_name,
        model_version=model_version,
        alpha=config.alpha,
        min_effect=config.min_effect,
        window_seconds=span.window,
        windows=windows,
        comparison=comparison,
    )


def _tested_window(
    bundle: ModelBundle,
    reference: Reference,
    plog: PredictionLog,
    bounds: tuple[float, float],
    model_version: str,
    config: MonitoringConfig,
) -> WindowReport:
    """One window read from the log and tested (fairness too, with sensitive columns)."""
    columns = [c.name for c in bundle.schema.feature_columns]
    logged = [*columns, *(c for c in bundle.sensitive_columns if c not in columns)]
    classes = list(bundle.problem.classes) if bundle.problem.is_classification else []
    start, end = bounds
    rows = read_window(
        plog, start, end, model_version=model_version, columns=logged, classes=classes
    )
    report = _window(bundle, reference, rows, config)
    fairness = fairness_settings(bundle)
    if fairness is not None and rows.rows >= config.min_rows:
        report = _with_fairness(report, window_fairness(bundle, rows, fairness), bundle)
    return report


def _window(
    bundle: ModelBundle, reference: Reference, rows: WindowRows, config: MonitoringConfig
) -> WindowReport:
    labelled = int(rows.labelled.sum())
    if rows.rows < config.min_rows:  # reported, not tested: too few rows to tell
        return WindowReport(rows.start, rows.end, rows.rows, labelled, [], None, [], None, None)
    tests = {"alpha": config.alpha, "min_effect": config.min_effect}
    features = feature_drift(
        reference,
        rows.features,
        numeric_effect=config.numeric_effect,
        categorical_effect=config.categorical_effect,
        **tests,
    )
    predicted = prediction_drift(reference, rows.predictions, rows.probabilities, **tests)
    quality = data_quality(reference, rows.features, alpha=config.alpha)
    problem, metric = bundle.problem, bundle.problem.metric
    performance = None
    if labelled:
        mask = rows.labelled
        proba = rows.probabilities[mask] if rows.probabilities is not None else None
        performance = realised_performance(
            problem, rows.labels[mask], rows.predictions[mask], proba, metric
        )
    estimate = None
    if problem.is_classification and rows.probabilities is not None:
        estimate = estimated_performance(reference, rows.probabilities, metric)
    alarms = _alarms(features, predicted, quality, performance, estimate, bundle, config)
    return WindowReport(
        rows.start,
        rows.end,
        rows.rows,
        labelled,
        features,
        predicted,
        quality,
        performance,
        estimate,
        alarms,
    )


def _with_fairness(
    report: WindowReport, found: WindowFairness | None, bundle: ModelBundle
) -> WindowReport:
    if found is None:
        return report
    alarms = [*report.alarms, *found.broken(bundle.problem.gate)]
    return replace(report, fairness=found, alarms=alarms)


def _alarms(
    features: list[FeatureDrift],
    predicted: FeatureDrift | None,
    quality: list[QualityDrift],
    performance: Performance | None,
    estimate: Performance | None,
    bundle: ModelBundle,
    config: MonitoringConfig,
) -> list[str]:
    """Each reason the window needs attention, in plain words."""
    alarms = [
        f"{f.name} drifted ({f.effect_measure} {f.effect:.3g}, {f.test} adjusted p "
        f"{f.adjusted_p_value:.2g})"
        for f in features
        if f.drifted
    ]
    if predicted is not None and predicted.drifted:
        alarms.append(
            f"the predictions drifted ({predicted.effect_measure} {predicted.effect:.3g}, "
            f"adjusted p {predicted.adjusted_p_value:.2g})"
        )
    alarms += [_quality_alarm(q) for q in quality if q.drifted]
    for found, kind in ((performance, "on late labels"), (estimate, "estimated")):
        decay = decay_of(found, bundle.metrics, config.max_metric_drop)
        if decay:
            alarms.append(f"{decay} ({kind})")
    return alarms


def _quality_alarm(q: QualityDrift) -> str:
    """``q``'s rates in words: "x: data quality changed (out of range 1.7%)"."""
    missing = f"missing {q.missing_rate:.1%} (training {q.reference_missing_rate:.1%})"
    rates = {
        missing: q.missing_rate,
        "unseen categories": q.unseen_rate,
        "out of range": q.out_of_range_rate,
        "invalid": q.invalid_rate,
    }
    shown = ", ".join(k if k is missing else f"{k} {v:.1%}" for k, v in rates.items() if v)
    return f"{q.name}: data quality changed ({shown})"


def decay_of(found: Performance | None, holdout: Mapping[str, float], max_drop: float) -> str:
    """Why ``found`` shows the model decayed against its ``holdout`` metrics ('' when it does
    not): worse by more than ``max_drop`` (scores in their units, errors relative to the
    holdout's), with the whole interval on the worse side.

    Examples
    --------
    >>> worse = Performance("roc_auc", 0.85, 0.82, 0.88, 500, "labels")
    >>> decay_of(worse, {"roc_auc": 0.90}, 0.02)
    'roc_auc 0.85 against 0.9 on the holdout (interval 0.82 to 0.88)'
    >>> decay_of(worse, {"roc_auc": 0.86}, 0.02)
    ''
    """
    if found is None or found.value is None:
        return ""
    baseline = holdout.get(found.metric)
    if baseline is None or not np.isfinite(baseline):
        return ""
    up = greater_is_better(found.metric)
    # scores (AUC, accuracy, R²...) drop in absolute terms; errors (RMSE, log loss) relative
    drop = (baseline - found.value) if up else (found.value - baseline) / max(abs(baseline), 1e-12)
    bound = found.high if up else found.low
    beyond = bound is None or (bound < baseline if up else bound > baseline)
    if drop > max_drop and beyond:
        return (
            f"{found.metric} {found.value:.4g} against {baseline:.4g} on the holdout "
            f"(interval {found.low:.4g} to {found.high:.4g})"
        )
    return ""


# ------------------------------------------------------------------------------------------
# a whole run: the log, the span, then gauges, alerts and the HTML report


@dataclass(frozen=True)
class MonitorResult:
    """What ``loopml monitor`` did: the report, the alerts, and the files it wrote."""

    report: DriftReport
    alerts: AlertOutcome
    html: Path
    status: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.report.to_dict(),
            "alerts": self.alerts.to_dict(),
            "report_html": str(self.html),
            "status_file": str(self.status),
        }


def monitor_log(
    bundle: ModelBundle,
    url: str,
    *,
    base_dir: Path,
    model_name: str,
    model_version: str,
    config: MonitoringConfig,
    since: str | None = None,
    until: str | None = None,
) -> DriftReport:
    """:func:`monitor` over the prediction log at ``url``; ``since`` defaults to the first
    prediction ``model_version`` logged, ``until`` to now (see ``parse_time``).

    Raises
    ------
    DataError
        No prediction log at ``url`` (a SQLite file that does not exist: nothing has been
        served), or the model has no monitoring reference.
    """
    with open_log(url, base_dir) as plog:
        span = log_span(plog, model_version, config, since=since, until=until)
        return monitor(
            bundle,
            plog,
            model_name=model_name,
            model_version=model_version,
            span=span,
            config=config,
        )


def open_log(url: str, base_dir: Path) -> PredictionLog:
    """The prediction log at ``url`` opened to read (close it, or use it in ``with``).

    Raises
    ------
    DataError
        No prediction log at ``url`` (a SQLite file that does not exist: nothing has been
        served).
    """
    from loopml.serving import PredictionLog

    _check_log_exists(url, base_dir)
    return PredictionLog(url, base_dir=base_dir, mode="sync")


def log_span(
    plog: PredictionLog,
    model_version: str,
    config: MonitoringConfig,
    *,
    since: str | None = None,
    until: str | None = None,
) -> MonitorSpan:
    """The span ``loopml monitor`` covers: ``since`` defaults to the first prediction
    ``model_version`` logged, ``until`` to now (see ``parse_time``).

    Raises
    ------
    ConfigError
        ``until`` is not after ``since``, or the span holds too many windows.
    """
    now = time.time()
    logged = plog.span(model_version)
    start = parse_time(since, now=now) if since else (logged[0] if logged else now)
    end = parse_time(until, now=now) if until else now
    if end <= start and (since or until):
        raise ConfigError(
            f"--until ({until or 'now'}) is not after --since "
            f"({since or 'the first logged prediction'}); give a later --until or an "
            "earlier --since."
        )
    if logged:  # windows before the model's first prediction hold nothing
        start = max(start, logged[0])
    span = MonitorSpan(start, max(end, start), config.window_seconds)
    _check_window_count(span)
    return span


#: More windows than this in one run is a mistake of --window or --since, not a report.
MAX_WINDOWS = 5000


def _check_window_count(span: MonitorSpan) -> None:
    count = len(window_bounds(span.since, span.until, span.window))
    if count > MAX_WINDOWS:
        raise ConfigError(
            f"{count} windows of {span.window:g} s between --since and --until: more than "
            f"{MAX_WINDOWS}. Give a longer --window or a later --since."
        )


def _check_log_exists(url: str, base_dir: Path) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # PredictionLog names the problem
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database)
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise DataError(
            f"there is no prediction log at {path}: nothing has been served yet. Serve the "
            "model (`loopml serve`) and send it traffic, or set serving.prediction_log.url to "
            "the log the service writes."
        )


def finish_monitoring(
    report: DriftReport, workspace: Path, config: MonitoringConfig
) -> MonitorResult:
    """Leave the gauges for the service, send the alerts, write the HTML report."""
    from loopml.files import write_text_atomic
    from loopml.reports import render_monitoring_report
    from loopml.serving import MONITORING_STATUS

    status = workspace / MONITORING_STATUS
    write_status(status, report)
    alerts = send_alerts(report, config.webhook, timeout=config.webhook_timeout_seconds)
    html = workspace / "reports" / f"{report.model_name}-v{report.model_version}-monitoring.html"
    html.parent.mkdir(parents=True, exist_ok=True)
    title = f"{report.model_name} version {report.model_version}: monitoring"
    write_text_atomic(html, render_monitoring_report(report.to_dict(), title=title))
    return MonitorResult(report, alerts, html, status)
