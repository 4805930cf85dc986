"""Linear models: logistic regression for classes, ridge regression for numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import class_weight
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "regression":
        return Ridge(alpha=p["alpha"])
    return LogisticRegression(
        C=p["C"], class_weight=class_weight(task, p), max_iter=2000, random_state=seed
    )


def space(t: optuna.Trial, task: TaskKind) -> Params:
    if task == "regression":
        return {"alpha": t.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}
    return {"C": t.suggest_float("linear.C", 1e-3, 1e2, log=True)}


def task_params(task: TaskKind, params: Params) -> Params:
    """Ridge's ``alpha`` for regression, the logistic regression's ``C`` for classes."""
    return {"alpha": params["alpha"]} if task == "regression" else {"C": params["C"]}


FAMILIES = (
    ModelFamily(
        name="linear",
        build=build,
        defaults={"C": 1.0, "alpha": 1.0},
        space=space,
        cost_prior=1.0,
        needs_scaling=True,
        # second: cheap on small data and a different view for the ensemble
        portfolio_rank=20,
        interpretable=True,
        task_params=task_params,
    ),
)
