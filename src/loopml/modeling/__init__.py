"""Stage 5: candidate models, the search under a budget, and the scikit-learn estimators."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.modeling._auto import AutoClassifier, AutoRegressor
    from loopml.modeling._boosting import native_frame
    from loopml.modeling._candidates import CANDIDATES, PORTFOLIO_ORDER, Candidate
    from loopml.modeling._executor import (
        FoldJob,
        FoldOutcome,
        FuturesExecutor,
        ProcessExecutor,
        SerialExecutor,
        TrialExecutor,
    )
    from loopml.modeling._families import FamilyRegistry, ModelFamily, default_registry, unwrap
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

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.modeling._auto": ["AutoClassifier", "AutoRegressor"],
        "loopml.modeling._boosting": ["native_frame"],
        "loopml.modeling._candidates": ["CANDIDATES", "PORTFOLIO_ORDER", "Candidate"],
        "loopml.modeling._families": [
            "FamilyRegistry",
            "ModelFamily",
            "default_registry",
            "unwrap",
        ],
        "loopml.modeling._executor": [
            "FoldJob",
            "FoldOutcome",
            "FuturesExecutor",
            "ProcessExecutor",
            "SerialExecutor",
            "TrialExecutor",
        ],
        "loopml.modeling._pipeline": ["make_pipeline", "predict_scores"],
        "loopml.modeling._search": ["Leaderboard", "SearchResult", "TrialResult", "search"],
        "loopml.modeling._split": [
            "Split",
            "auto_fold_count",
            "choose_strategy",
            "cv_folds",
            "holdout_split",
            "time_ordered_column",
        ],
        "loopml.modeling._threshold": [
            "ThresholdChoice",
            "decide",
            "expected_cost",
            "tune_threshold",
        ],
    },
)

__all__ = [
    "CANDIDATES",
    "PORTFOLIO_ORDER",
    "AutoClassifier",
    "AutoRegressor",
    "Candidate",
    "FamilyRegistry",
    "FoldJob",
    "FoldOutcome",
    "FuturesExecutor",
    "Leaderboard",
    "ModelFamily",
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
    "default_registry",
    "expected_cost",
    "holdout_split",
    "make_pipeline",
    "native_frame",
    "predict_scores",
    "search",
    "time_ordered_column",
    "tune_threshold",
    "unwrap",
]
