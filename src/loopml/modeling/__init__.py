"""Stage 5: candidate models, the search under a budget, and the scikit-learn estimators."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.modeling._anomaly import AnomalyModel, AnomalyResult, search_anomalies
    from loopml.modeling._auto import AutoClassifier, AutoRegressor
    from loopml.modeling._boosting import native_frame
    from loopml.modeling._budget import Budget
    from loopml.modeling._clustering import ClusterCandidate, ClusteringResult, search_clusters
    from loopml.modeling._cpus import available_cpus
    from loopml.modeling._executor import (
        FoldJob,
        FoldOutcome,
        FuturesExecutor,
        ProcessExecutor,
        SerialExecutor,
        TrialExecutor,
        fit_fold,
    )
    from loopml.modeling._families import FamilyRegistry, ModelFamily, default_registry, unwrap
    from loopml.modeling._pipeline import PipelineRecipe, make_pipeline, predict_scores
    from loopml.modeling._search import Leaderboard, Search, SearchResult, TrialResult
    from loopml.modeling._split import (
        FoldPlan,
        Folds,
        Split,
        auto_fold_count,
        choose_strategy,
        cv_folds,
        holdout_split,
        plan_folds,
        time_ordered_column,
    )
    from loopml.modeling._tensorboard import TensorBoardLog
    from loopml.modeling._threshold import ThresholdChoice, decide, expected_cost, tune_threshold
    from loopml.modeling._training import TrainingData, TrainingSpec, train_model
    from loopml.modeling._unsupervised import (
        AnomalyDetector,
        ClusterAssigner,
        UnsupervisedFit,
        fit_anomaly,
        fit_clustering,
    )

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.modeling._anomaly": ["AnomalyModel", "AnomalyResult", "search_anomalies"],
        "loopml.modeling._clustering": ["ClusterCandidate", "ClusteringResult", "search_clusters"],
        "loopml.modeling._unsupervised": [
            "AnomalyDetector",
            "ClusterAssigner",
            "UnsupervisedFit",
            "fit_anomaly",
            "fit_clustering",
        ],
        "loopml.modeling._auto": ["AutoClassifier", "AutoRegressor"],
        "loopml.modeling._boosting": ["native_frame"],
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
            "fit_fold",
        ],
        "loopml.modeling._budget": ["Budget"],
        "loopml.modeling._cpus": ["available_cpus"],
        "loopml.modeling._pipeline": ["PipelineRecipe", "make_pipeline", "predict_scores"],
        "loopml.modeling._search": ["Leaderboard", "Search", "SearchResult", "TrialResult"],
        "loopml.modeling._tensorboard": ["TensorBoardLog"],
        "loopml.modeling._training": ["TrainingData", "TrainingSpec", "train_model"],
        "loopml.modeling._split": [
            "FoldPlan",
            "Folds",
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
    "AnomalyDetector",
    "AnomalyModel",
    "AnomalyResult",
    "AutoClassifier",
    "AutoRegressor",
    "Budget",
    "ClusterAssigner",
    "ClusterCandidate",
    "ClusteringResult",
    "FamilyRegistry",
    "FoldJob",
    "FoldOutcome",
    "FoldPlan",
    "Folds",
    "FuturesExecutor",
    "Leaderboard",
    "ModelFamily",
    "PipelineRecipe",
    "ProcessExecutor",
    "Search",
    "SearchResult",
    "SerialExecutor",
    "Split",
    "TensorBoardLog",
    "ThresholdChoice",
    "TrainingData",
    "TrainingSpec",
    "TrialExecutor",
    "TrialResult",
    "UnsupervisedFit",
    "auto_fold_count",
    "available_cpus",
    "choose_strategy",
    "cv_folds",
    "decide",
    "default_registry",
    "expected_cost",
    "fit_anomaly",
    "fit_clustering",
    "fit_fold",
    "holdout_split",
    "make_pipeline",
    "native_frame",
    "plan_folds",
    "predict_scores",
    "search_anomalies",
    "search_clusters",
    "time_ordered_column",
    "train_model",
    "tune_threshold",
    "unwrap",
]
