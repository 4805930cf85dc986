"""Random forests and extra trees, their probabilities smoothed with the class prior."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import TREE_PRIOR_WEIGHT, smoothed
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build_random_forest(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    return _trees(RandomForestClassifier, RandomForestRegressor, task, p, seed, n_jobs)


def build_extra_trees(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    return _trees(ExtraTreesClassifier, ExtraTreesRegressor, task, p, seed, n_jobs)


def _trees(classifier: Any, regressor: Any, task: TaskKind, p: Params, seed: int, jobs: int) -> Any:
    options = {
        "n_estimators": p["n_estimators"],
        "max_features": max_features(task, p["max_features"]),
        "min_samples_leaf": p["min_samples_leaf"],
        "n_jobs": jobs,
        "random_state": seed,
    }
    if task == "regression":
        return regressor(**options)
    return smoothed(classifier(**options), task, p, TREE_PRIOR_WEIGHT)


def max_features(task: TaskKind, value: Any) -> Any:
    """None means the usual default of the task: sqrt for classes, all features for numbers."""
    if value is None:
        return 1.0 if task == "regression" else "sqrt"
    return value


def task_params(task: TaskKind, params: Params) -> Params:
    """Every parameter, ``max_features`` spelled out for the task."""
    kept = dict(params)
    if "max_features" in kept:
        kept["max_features"] = max_features(task, kept["max_features"])
    return kept


def space(prefix: str, t: optuna.Trial, task: TaskKind) -> Params:
    """The search space of a forest whose parameter names start with ``prefix``."""
    return {
        "n_estimators": t.suggest_int(f"{prefix}.n_estimators", 100, 400, log=True),
        "max_features": t.suggest_categorical(f"{prefix}.max_features", ["sqrt", 0.3, 0.6, 1.0]),
        "min_samples_leaf": t.suggest_int(f"{prefix}.min_samples_leaf", 1, 20, log=True),
    }


FAMILIES = (
    ModelFamily(
        name="extra_trees",
        build=build_extra_trees,
        # max_features None: sqrt of the features for classes, all of them for numbers
        defaults={"n_estimators": 200, "max_features": None, "min_samples_leaf": 1},
        space=functools.partial(space, "et"),  # a partial pickles, a closure does not
        cost_prior=2.0,
        needs_scaling=False,
        portfolio_rank=50,
        task_params=task_params,
    ),
    ModelFamily(
        name="random_forest",
        build=build_random_forest,
        defaults={"n_estimators": 200, "max_features": "sqrt", "min_samples_leaf": 2},
        space=functools.partial(space, "rf"),
        cost_prior=3.0,
        needs_scaling=False,
        portfolio_rank=60,
        task_params=task_params,
    ),
)
