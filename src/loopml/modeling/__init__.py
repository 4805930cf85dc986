"""Stage 5: candidate models, the search under a budget, and the scikit-learn estimators."""

from __future__ import annotations

from loopml.modeling._auto import AutoClassifier, AutoRegressor
from loopml.modeling._candidates import CANDIDATES, PORTFOLIO_ORDER, Candidate
from loopml.modeling._search import (
    Leaderboard,
    SearchResult,
    TrialResult,
    make_pipeline,
    predict_scores,
    search,
)
from loopml.modeling._split import Split, choose_strategy, cv_folds, holdout_split
from loopml.modeling._threshold import ThresholdChoice, decide, expected_cost, tune_threshold

__all__ = [
    "CANDIDATES",
    "PORTFOLIO_ORDER",
    "AutoClassifier",
    "AutoRegressor",
    "Candidate",
    "Leaderboard",
    "SearchResult",
    "Split",
    "ThresholdChoice",
    "TrialResult",
    "choose_strategy",
    "cv_folds",
    "decide",
    "expected_cost",
    "holdout_split",
    "make_pipeline",
    "predict_scores",
    "search",
    "tune_threshold",
]
