"""The metrics a project file may name, and the names users try for them."""

from __future__ import annotations

import difflib
import re

#: Metrics per task family, and whether larger is better.
CLASSIFICATION_METRICS: dict[str, bool] = {
    "accuracy": True,
    "balanced_accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
}
REGRESSION_METRICS: dict[str, bool] = {"mae": False, "rmse": False, "r2": True, "mape": False}
#: Internal indices of a clustering, its bootstrap stability (adjusted Rand index between
#: resampled fits) and how often the assigner gives a training row its own cluster.
CLUSTERING_METRICS: dict[str, bool] = {
    "silhouette": True,
    "calinski_harabasz": True,
    "davies_bouldin": False,
    "stability": True,
    "agreement": True,
}
#: An anomaly detector's metrics: against a label column where there is one (the flags'
#: precision, recall and F1 at the chosen threshold; the scores' PR-AUC and ROC-AUC), and
#: the share of rows it flags (the only one without labels; smaller is not better, but a
#: gate such as ``anomaly_rate <= 0.05`` bounds it).
ANOMALY_METRICS: dict[str, bool] = {
    "pr_auc": True,
    "roc_auc": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "anomaly_rate": False,
}
UNSUPERVISED_TASKS = ("clustering", "anomaly")
ALL_METRICS: dict[str, bool] = {
    **CLASSIFICATION_METRICS,
    **REGRESSION_METRICS,
    **CLUSTERING_METRICS,
    **ANOMALY_METRICS,
}


def task_metrics(task: str) -> dict[str, bool]:
    """The metrics that apply to ``task`` (every one for ``auto``).

    Examples
    --------
    >>> list(task_metrics("clustering"))[:2], "rmse" in task_metrics("binary")
    (['silhouette', 'calinski_harabasz'], False)
    """
    return {
        "binary": CLASSIFICATION_METRICS,
        "multiclass": CLASSIFICATION_METRICS,
        "regression": REGRESSION_METRICS,
        "clustering": CLUSTERING_METRICS,
        "anomaly": ANOMALY_METRICS,
    }.get(task, ALL_METRICS)


#: Rates compared between groups of a binary classifier's predictions (besides the metrics).
GROUP_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
FAIRNESS_HINT = (
    "<rate or metric>_difference (largest minus smallest across groups) or _ratio (smallest "
    "over largest), e.g. selection_rate_ratio, true_positive_rate_difference, roc_auc_difference"
)


def fairness_measure(name: str) -> tuple[str, str] | None:
    """``(rate or metric, "difference" | "ratio")`` when ``name`` is a group-disparity
    measure, else None.

    Examples
    --------
    >>> fairness_measure("selection_rate_ratio"), fairness_measure("rmse_difference")
    (('selection_rate', 'ratio'), ('rmse', 'difference'))
    >>> fairness_measure("roc_auc") is None, fairness_measure("speed_ratio") is None
    (True, True)
    """
    for kind in ("difference", "ratio"):
        base = name.removesuffix(f"_{kind}")
        if base != name and (base in GROUP_RATES or base in ALL_METRICS):
            return base, kind
    return None


#: Names other tools give our metrics (scikit-learn scorers, XGBoost, LightGBM, habit).
METRIC_ALIASES: dict[str, str] = {
    "auc": "roc_auc",
    "auroc": "roc_auc",
    "rocauc": "roc_auc",
    "aucpr": "pr_auc",
    "auprc": "pr_auc",
    "average_precision": "pr_auc",
    "logloss": "log_loss",
    "neg_log_loss": "log_loss",
    "cross_entropy": "log_loss",
    "binary_logloss": "log_loss",
    "multi_logloss": "log_loss",
    "mlogloss": "log_loss",
    "acc": "accuracy",
    "f1_score": "f1",
    "mse": "rmse",
    "l2": "rmse",
    "mean_squared_error": "rmse",
    "root_mean_squared_error": "rmse",
    "neg_root_mean_squared_error": "rmse",
    "l1": "mae",
    "mean_absolute_error": "mae",
    "neg_mean_absolute_error": "mae",
    "r2_score": "r2",
    "r_squared": "r2",
    "mean_absolute_percentage_error": "mape",
}


def suggest_metric(name: str) -> str | None:
    """The metric a user most likely meant by an unknown ``name``, or None.

    Examples
    --------
    >>> suggest_metric("auc"), suggest_metric("LogLoss"), suggest_metric("rocauc")
    ('roc_auc', 'log_loss', 'roc_auc')
    >>> suggest_metric("balanced_acuracy"), suggest_metric("speed")
    ('balanced_accuracy', None)
    """
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    if key in ALL_METRICS:
        return key
    if key in METRIC_ALIASES:
        return METRIC_ALIASES[key]
    close = difflib.get_close_matches(key, list(ALL_METRICS), n=1, cutoff=0.75)
    return close[0] if close else None


def unknown_metric(name: str, what: str, known: str) -> str:
    """``{what} 'auc'; did you mean 'roc_auc'? Allowed: ...`` (``known`` is the last word)."""
    guess = suggest_metric(name)
    hint = f"; did you mean {guess!r}? {known.capitalize()}" if guess else f"; {known}"
    return f"{what} {name!r}{hint}: {', '.join(ALL_METRICS)}"
