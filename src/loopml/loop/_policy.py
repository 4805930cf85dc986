"""Retraining's policy: whether to retrain now (forced, a drift alarm, a metric drop, the
schedule), and why."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from loopml.config import RetrainingConfig
from loopml.metrics import greater_is_better

#: The gauge of the monitoring status file that says the latest window alarmed.
ALARM_GAUGE = "loopml_monitoring_alarm"


@dataclass(frozen=True)
class ChampionHealth:
    """The champion as the policy sees it (``version`` None: there is no champion)."""

    version: str | None
    metric: str
    holdout_score: float | None = None  # on its own training holdout
    recent_score: float | None = None  # on the latest labelled traffic
    recent_rows: int = 0
    age_seconds: float | None = None


def should_retrain(
    policy: RetrainingConfig,
    champion: ChampionHealth,
    *,
    force: bool = False,
    drift_alarm: bool | None = None,
) -> tuple[bool, str]:
    """Whether to retrain now, and why (every trigger that fired, or why none did).

    Examples
    --------
    >>> from loopml.config import RetrainingConfig
    >>> health = ChampionHealth("3", "roc_auc", 0.90, 0.85, 500, 86_400.0)
    >>> should_retrain(RetrainingConfig(), health)
    (True, 'roc_auc 0.8500 on the latest 500 labelled rows is 0.0500 worse than 0.9000 on its \
holdout (retraining.on_metric_drop: 0.02)')
    >>> should_retrain(RetrainingConfig(on_metric_drop=None), health)[0]
    False
    """
    if force:
        return True, "forced (--force)"
    if champion.version is None:
        return True, "there is no champion"
    fired, quiet = [], []
    if policy.on_drift and drift_alarm:
        fired.append("the latest monitoring window alarmed (drift or decay)")
    elif policy.on_drift:
        quiet.append("no drift alarm" if drift_alarm is False else "no monitoring status")
    drop = _metric_drop(champion)
    if policy.on_metric_drop is not None and drop is not None:
        worse = f"{drop:.1%}" if _relative(champion.metric) else f"{drop:.4f}"
        said = (
            f"{champion.metric} {champion.recent_score:.4f} on the latest {champion.recent_rows} "
            f"labelled rows is {worse} worse than {champion.holdout_score:.4f} on its holdout"
        )
        if drop >= policy.on_metric_drop:
            fired.append(f"{said} (retraining.on_metric_drop: {policy.on_metric_drop:g})")
        else:
            quiet.append(f"{said}, less than {policy.on_metric_drop:g}")
    elif policy.on_metric_drop is not None:
        quiet.append(f"too few labelled rows to score the champion ({champion.recent_rows})")
    schedule = policy.schedule_seconds
    if schedule is not None and champion.age_seconds is not None:
        age = f"the champion is {_days(champion.age_seconds)} old"
        if champion.age_seconds >= schedule:
            fired.append(f"{age} (retraining.schedule: {policy.schedule})")
        else:
            quiet.append(f"{age}, younger than {policy.schedule}")
    if fired:
        return True, "; ".join(fired)
    return False, "no trigger fired: " + ("; ".join(quiet) or "no trigger is configured")


def _relative(metric: str) -> bool:
    """Errors (RMSE, MAE, log loss: lower is better) are compared relative to the holdout's,
    as ``monitoring.max_metric_drop`` does: their units are the target's, so no one absolute
    threshold fits every project. Scores (AUC, accuracy, R²) are compared in their units."""
    return not greater_is_better(metric)


def _metric_drop(champion: ChampionHealth) -> float | None:
    """How much worse the recent score is than the holdout score: in the metric's units for
    scores, as a fraction of the holdout's for errors."""
    recent, holdout = champion.recent_score, champion.holdout_score
    if recent is None or holdout is None or not math.isfinite(recent + holdout):
        return None
    if _relative(champion.metric):
        return (recent - holdout) / max(abs(holdout), 1e-12)
    return holdout - recent


def _days(seconds: float) -> str:
    return f"{seconds / 86_400:.1f} days" if seconds >= 86_400 else f"{seconds / 3600:.1f} hours"


def drift_alarm(status_path: Path, version: str | None) -> bool | None:
    """Whether the last ``loopml monitor`` run alarmed for ``version``, from its status file
    (``.loopml/monitoring/status.json``); None when there is no status for that version."""
    try:
        status = json.loads(status_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = [
        g.get("value", 0) > 0
        for g in status.get("gauges", [])
        if isinstance(g, dict)
        and g.get("name") == ALARM_GAUGE
        and g.get("labels", {}).get("model_version") == version
    ]
    return any(found) if found else None
