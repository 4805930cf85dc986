"""Stage 5: candidate models, the search under a budget, and the scikit-learn estimators."""

from __future__ import annotations

from loopml.modeling._auto import AutoClassifier, AutoRegressor
from loopml.modeling._candidates import CANDIDATES, PORTFOLIO_ORDER, Candidate
from loopml.modeling._executor import (
    FoldJob,
    FoldOutcome,
    FuturesExecutor,
    ProcessExecutor,
    SerialExecutor,
    TrialExecutor,
)
from loopml.modeling._pipeline import make_pipeline, predict_scores
from loopml.modeling._search import Leaderboard, SearchResult, TrialResult, search
from loopml.modeling._split import (
    Split,
    auto_fold_count,
    choose_strategy,
    cv_folds,
    holdout_split,
    time_ordered_column,
)
from loopml.modeling._threshold import ThresholdChoice, decide, expected_cost, tune_threshold

__all__ = [
    "CANDIDATES",
    "PORTFOLIO_ORDER",
    "AutoClassifier",
    "AutoRegressor",
    "Candidate",
    "FoldJob",
    "FoldOutcome",
    "FuturesExecutor",
    "Leaderboard",
    "ProcessExecutor",
    "SearchResult",
    "SerialExecutor",
    "Split",
    "ThresholdChoice",
    "TrialExecutor",
    "TrialResult",
    "auto_fold_count",
    "choose_strategy",
    "cv_folds",
    "decide",
    "expected_cost",
    "holdout_split",
    "make_pipeline",
    "predict_scores",
    "search",
    "time_ordered_column",
    "tune_threshold",
]
