"""The record of a search: one :class:`TrialResult` per configuration tried, on a
:class:`Leaderboard` that ranks them by the metric."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.errors import TrainingError


@dataclass(frozen=True)
class TrialResult:
    """One cross-validated configuration: a row of the leaderboard."""

    number: int
    family: str
    params: dict[str, Any]
    fold_scores: tuple[float, ...]
    seconds: float
    # ok | pruned | timeout (stopped between folds) | failed | excluded (broke a constraint)
    # | not_started (the budget left could not pay for its first folds)
    status: str
    source: str = "portfolio"  # portfolio | optuna | ensemble | distilled | bag | stack
    error: str = ""
    #: single-row latency in milliseconds (measured when problem.constraints bound it; an
    #: ensemble's is the sum of its members')
    latency_ms: float | None = None
    #: a network's validation loss after each epoch, one curve per fold (for TensorBoard; not
    #: in to_dict, which stays one line per trial)
    curves: tuple[tuple[float, ...], ...] = ()

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.fold_scores)) if len(self.fold_scores) > 1 else 0.0

    @property
    def started(self) -> bool:
        """Whether any fold of this trial was fitted."""
        return self.status != "not_started"

    @property
    def label(self) -> str:
        """The status for people: ``not started`` rather than ``not_started``."""
        return self.status.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: no score is ``null`` (never NaN, which JSON does not allow)."""
        scored = bool(self.fold_scores)
        return {
            "number": self.number,
            "family": self.family,
            "params": self.params,
            "cv_mean": self.mean if scored else None,
            "cv_std": self.std if scored else None,
            "fold_scores": list(self.fold_scores),
            "seconds": round(self.seconds, 3) if self.started else None,
            "status": self.status,
            "source": self.source,
            "error": self.error,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 4),
        }


@dataclass
class TrialRun:
    """One trial in progress: what its folds have produced so far."""

    family: str
    params: dict[str, Any]
    oof: np.ndarray
    scores: list[float] = field(default_factory=list)
    status: str = "ok"
    error: str = ""
    broken: str = ""
    done: int = 0
    latency_ms: float | None = None  # single-row latency, from the last fold
    models: dict[int, Any] = field(default_factory=dict)  # fold -> fitted pipeline, when kept
    model_bytes: int = 0  # the fitted pipelines' size (kept or not, see _bagging.FoldModels)
    curves: list[tuple[float, ...]] = field(default_factory=list)  # a network's, per fold


@dataclass(frozen=True)
class Leaderboard:
    """All trials of one search, with the metric they were ranked by."""

    metric: str
    greater_is_better: bool
    trials: tuple[TrialResult, ...]
    budget_seconds: float
    elapsed_seconds: float
    n_folds: int
    n_jobs: int = 1  # CPUs the search used (n_jobs=-1 resolved to those this process may use)
    workers: int = 1  # folds fitted side by side
    stopped_by: str = "complete"  # complete | budget | max_trials

    def ranked(self) -> list[TrialResult]:
        """Completed trials, best first; then the rest in order."""
        done = [t for t in self.trials if t.status == "ok" and not math.isnan(t.mean)]
        # on a tie, a bag or stack first: the search chose it over what it ties with
        done.sort(
            key=lambda t: (
                -t.mean if self.greater_is_better else t.mean,
                t.source not in ("bag", "stack"),
                t.number,
            )
        )
        return done + [t for t in self.trials if t not in done]

    @property
    def best(self) -> TrialResult:
        ranked = self.ranked()
        if not ranked or ranked[0].status != "ok":
            raise TrainingError("no trial completed")
        return ranked[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "budget_seconds": self.budget_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "n_folds": self.n_folds,
            "n_jobs": self.n_jobs,
            "workers": self.workers,
            "stopped_by": self.stopped_by,
            "trials": [t.to_dict() for t in self.ranked()],
        }
