"""scikit-learn's histogram gradient boosting, stopping early on a held-out tenth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import VALIDATION_FRACTION, class_weight
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    options = {
        "learning_rate": p["learning_rate"],
        "max_leaf_nodes": p["max_leaf_nodes"],
        "min_samples_leaf": p["min_samples_leaf"],
        "l2_regularization": p["l2_regularization"],
        "max_iter": p["max_iter"],
        "early_stopping": True,
        "validation_fraction": VALIDATION_FRACTION,
        "n_iter_no_change": 20,
        "random_state": seed,
    }
    if task == "regression":
        return HistGradientBoostingRegressor(**options)
    return HistGradientBoostingClassifier(**options, class_weight=class_weight(task, p))


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "learning_rate": t.suggest_float("hgb.learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": t.suggest_int("hgb.max_leaf_nodes", 8, 128, log=True),
        "min_samples_leaf": t.suggest_int("hgb.min_samples_leaf", 5, 100, log=True),
        "l2_regularization": t.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
    }


FAMILIES = (
    ModelFamily(
        name="hist_gradient_boosting",
        build=build,
        defaults={
            "learning_rate": 0.1,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
            "max_iter": 500,
        },
        space=space,
        cost_prior=1.0,
        needs_scaling=False,
        portfolio_rank=30,
    ),
)
