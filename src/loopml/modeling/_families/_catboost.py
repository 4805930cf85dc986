"""CatBoost (the ``[boost]`` extra) on native categoricals, stopping early on a held-out tenth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params, require
from loopml.modeling._families._shared import stopped
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    catboost = require("catboost", "catboost")
    cls = catboost.CatBoostRegressor if task == "regression" else catboost.CatBoostClassifier
    booster = cls(
        iterations=p["n_estimators"],
        learning_rate=p["learning_rate"],
        depth=p["depth"],
        l2_leaf_reg=p["l2_leaf_reg"],
        random_strength=p["random_strength"],
        bagging_temperature=p["bagging_temperature"],
        thread_count=n_jobs,
        random_seed=seed,
        logging_level="Silent",
        allow_writing_files=False,  # no catboost_info/ directory in the project
        # category combinations multiply the cost of native categoricals; single ones keep
        # most of the gain at a fraction of the time
        max_ctr_complexity=1,
    )
    return stopped(task, booster, p, seed)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "learning_rate": t.suggest_float("cb.learning_rate", 0.02, 0.3, log=True),
        "depth": t.suggest_int("cb.depth", 4, 10),
        "l2_leaf_reg": t.suggest_float("cb.l2_leaf_reg", 1.0, 30.0, log=True),
        "random_strength": t.suggest_float("cb.random_strength", 0.1, 10.0, log=True),
        "bagging_temperature": t.suggest_float("cb.bagging_temperature", 0.0, 1.0),
    }


FAMILIES = (
    ModelFamily(
        name="catboost",
        build=build,
        defaults={
            "n_estimators": 1000,  # the cap; early stopping picks the rounds
            "learning_rate": 0.1,
            "depth": 6,
            "l2_leaf_reg": 3.0,
            "random_strength": 1.0,
            "bagging_temperature": 1.0,
        },
        space=space,
        cost_prior=8.0,  # native categoricals: its category statistics cost the most
        needs_scaling=False,
        # strong, but several LightGBM fits on one core: after the forests
        portfolio_rank=70,
        requires=("catboost",),
        # ordinal codes, declared as categorical features once the preprocessing is fitted
        # (NativeCategoricalPipeline): CatBoost's ordered target statistics apply to them
        native_categoricals=True,
    ),
)
