"""Candidate model families: each states its strong defaults and its search space in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge

from loopml.types import TaskKind

Params = dict[str, Any]


@dataclass(frozen=True)
class Candidate:
    """A model family: how to build it, its defaults, and where to search."""

    family: str
    encoding: str  # "onehot" or "ordinal": what the preprocessor gives this family
    build: Callable[[TaskKind, Params, int, int], Any]
    defaults: Params
    space: Callable[[optuna.Trial, TaskKind], Params]

    def make(self, task: TaskKind, params: Params | None, seed: int, n_jobs: int) -> Any:
        return self.build(task, {**self.defaults, **(params or {})}, seed, n_jobs)


def _linear(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    if task == "regression":
        return Ridge(alpha=p["alpha"])
    return LogisticRegression(C=p["C"], max_iter=2000, random_state=seed)


def _forest(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
    return cls(
        n_estimators=p["n_estimators"],
        max_features=p["max_features"],
        min_samples_leaf=p["min_samples_leaf"],
        n_jobs=n_jobs,
        random_state=seed,
    )


def _hgb(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return cls(
        learning_rate=p["learning_rate"],
        max_leaf_nodes=p["max_leaf_nodes"],
        min_samples_leaf=p["min_samples_leaf"],
        l2_regularization=p["l2_regularization"],
        max_iter=500,
        early_stopping=True,
        random_state=seed,
    )


def _lightgbm(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    cls = LGBMRegressor if task == "regression" else LGBMClassifier
    return cls(
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


CANDIDATES: dict[str, Candidate] = {
    "linear": Candidate(
        family="linear",
        encoding="onehot",
        build=_linear,
        defaults={"C": 1.0, "alpha": 1.0},
        space=lambda t, task: (
            {"alpha": t.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}
            if task == "regression"
            else {"C": t.suggest_float("linear.C", 1e-3, 1e2, log=True)}
        ),
    ),
    "hist_gradient_boosting": Candidate(
        family="hist_gradient_boosting",
        encoding="ordinal",
        build=_hgb,
        defaults={
            "learning_rate": 0.1,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
        },
        space=lambda t, task: {
            "learning_rate": t.suggest_float("hgb.learning_rate", 0.02, 0.3, log=True),
            "max_leaf_nodes": t.suggest_int("hgb.max_leaf_nodes", 8, 128, log=True),
            "min_samples_leaf": t.suggest_int("hgb.min_samples_leaf", 5, 100, log=True),
            "l2_regularization": t.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
        },
    ),
    "lightgbm": Candidate(
        family="lightgbm",
        encoding="ordinal",
        build=_lightgbm,
        defaults={
            "n_estimators": 300,
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 0.9,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        },
        space=lambda t, task: {
            "n_estimators": t.suggest_int("lgbm.n_estimators", 100, 1000, log=True),
            "learning_rate": t.suggest_float("lgbm.learning_rate", 0.01, 0.2, log=True),
            "num_leaves": t.suggest_int("lgbm.num_leaves", 8, 128, log=True),
            "min_child_samples": t.suggest_int("lgbm.min_child_samples", 5, 100, log=True),
            "subsample": t.suggest_float("lgbm.subsample", 0.5, 1.0),
            "colsample_bytree": t.suggest_float("lgbm.colsample_bytree", 0.4, 1.0),
            "reg_lambda": t.suggest_float("lgbm.reg_lambda", 1e-4, 10.0, log=True),
        },
    ),
    "random_forest": Candidate(
        family="random_forest",
        encoding="ordinal",
        build=_forest,
        defaults={"n_estimators": 200, "max_features": "sqrt", "min_samples_leaf": 2},
        space=lambda t, task: {
            "n_estimators": t.suggest_int("rf.n_estimators", 100, 400, log=True),
            "max_features": t.suggest_categorical("rf.max_features", ["sqrt", 0.3, 0.6, 1.0]),
            "min_samples_leaf": t.suggest_int("rf.min_samples_leaf", 1, 20, log=True),
        },
    ),
}

#: Order in which the portfolio of defaults is tried: cheap and strong first.
PORTFOLIO_ORDER = ("linear", "hist_gradient_boosting", "lightgbm", "random_forest")


def relevant_params(family: str, task: TaskKind, params: Params) -> Params:
    """The parameters that matter for ``family`` on ``task`` (drops C for regression etc.)."""
    if family == "linear":
        return {"alpha": params["alpha"]} if task == "regression" else {"C": params["C"]}
    return params
