"""LightGBM, stopping early on a held-out tenth: the first model of every search."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import stopped
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    cls = LGBMRegressor if task == "regression" else LGBMClassifier
    booster = cls(
        n_estimators=p["n_estimators"],
        learning_rate=p["learning_rate"],
        num_leaves=p["num_leaves"],
        min_child_samples=p["min_child_samples"],
        subsample=p["subsample"],
        subsample_freq=1,
        colsample_bytree=p["colsample_bytree"],
        reg_lambda=p["reg_lambda"],
        n_jobs=n_jobs,
        random_state=seed,
        verbose=-1,
    )
    return stopped(task, booster, p, seed)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    # No n_estimators: early stopping picks the number of rounds below the default cap.
    return {
        "learning_rate": t.suggest_float("lgbm.learning_rate", 0.01, 0.2, log=True),
        "num_leaves": t.suggest_int("lgbm.num_leaves", 8, 128, log=True),
        "min_child_samples": t.suggest_int("lgbm.min_child_samples", 5, 100, log=True),
        "subsample": t.suggest_float("lgbm.subsample", 0.5, 1.0),
        "colsample_bytree": t.suggest_float("lgbm.colsample_bytree", 0.4, 1.0),
        "reg_lambda": t.suggest_float("lgbm.reg_lambda", 1e-4, 10.0, log=True),
    }


FAMILIES = (
    ModelFamily(
        name="lightgbm",
        # codes split as numbers: LightGBM's native categorical splits scored 0.0001-0.001
        # ROC AUC lower on adult, telco_churn and bank_marketing (one 75/25 split each)
        build=build,
        defaults={
            "n_estimators": 1000,  # the cap; early stopping picks the rounds
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 0.9,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        },
        space=space,
        cost_prior=1.0,  # the unit of every cost prior
        needs_scaling=False,
        # first: cheap and strong, and the first model always completes
        portfolio_rank=10,
    ),
)
