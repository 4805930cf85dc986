"""XGBoost (the ``[boost]`` extra), stopping early on a held-out tenth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params, require
from loopml.modeling._families._shared import stopped
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    xgboost = require("xgboost", "xgboost")
    cls = xgboost.XGBRegressor if task == "regression" else xgboost.XGBClassifier
    booster = cls(
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        max_depth=p["max_depth"],
        min_child_weight=p["min_child_weight"],
        subsample=p["subsample"],
        colsample_bytree=p["colsample_bytree"],
        reg_lambda=p["reg_lambda"],
        reg_alpha=p["reg_alpha"],
        tree_method="hist",
        n_jobs=n_jobs,
        random_state=seed,
        verbosity=0,
    )
    return stopped(task, booster, p, seed)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "learning_rate": t.suggest_float("xgb.learning_rate", 0.01, 0.3, log=True),
        "max_depth": t.suggest_int("xgb.max_depth", 3, 10),
        "min_child_weight": t.suggest_float("xgb.min_child_weight", 0.5, 20.0, log=True),
        "subsample": t.suggest_float("xgb.subsample", 0.5, 1.0),
        "colsample_bytree": t.suggest_float("xgb.colsample_bytree", 0.4, 1.0),
        "reg_lambda": t.suggest_float("xgb.reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": t.suggest_float("xgb.reg_alpha", 1e-4, 1.0, log=True),
    }


FAMILIES = (
    ModelFamily(
        name="xgboost",
        build=build,
        defaults={
            "n_estimators": 1000,  # the cap; early stopping picks the rounds
            "learning_rate": 0.05,
            "max_depth": 6,
            "min_child_weight": 1.0,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "reg_alpha": 0.0,
        },
        space=space,
        cost_prior=2.0,
        needs_scaling=False,
        portfolio_rank=40,
        requires=("xgboost",),
    ),
)
