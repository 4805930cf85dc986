"""Stage 5: candidate models, the search under a budget, and the scikit-learn estimators."""

from __future__ import annotations

from loopml._lazy import lazy_exports as _lazy_exports

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.modeling._auto": ["AutoClassifier", "AutoRegressor"],
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
        "loopml.modeling._budget": ["Budget"],
        "loopml.modeling._pipeline": ["PipelineRecipe", "make_pipeline", "predict_scores"],
        "loopml.modeling._search": ["Leaderboard", "Search", "SearchResult", "TrialResult"],
        "loopml.modeling._training": ["TrainingData", "TrainingSpec", "train_model"],
        "loopml.modeling._split": [
            "FoldPlan",
            "Split",
            "auto_fold_count",
            "choose_strategy",
            "cv_folds",
            "holdout_split",
            "plan_folds",
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
    "AutoClassifier",
    "AutoRegressor",
    "Budget",
    "FamilyRegistry",
    "FoldJob",
    "FoldOutcome",
    "FoldPlan",
    "FuturesExecutor",
    "Leaderboard",
    "ModelFamily",
    "PipelineRecipe",
    "ProcessExecutor",
    "Search",
    "SearchResult",
    "SerialExecutor",
    "Split",
    "ThresholdChoice",
    "TrainingData",
    "TrainingSpec",
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
    "plan_folds",
    "predict_scores",
    "time_ordered_column",
    "train_model",
    "tune_threshold",
    "unwrap",
]
