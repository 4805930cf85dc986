"""A shallow decision tree: the readable family (``interpretable: true``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import TREE_PRIOR_WEIGHT, smoothed
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    options = {
        "max_depth": p["max_depth"],
        "min_samples_leaf": p["min_samples_leaf"],
        "random_state": seed,
    }
    if task == "regression":
        return DecisionTreeRegressor(**options)
    return smoothed(DecisionTreeClassifier(**options), task, p, TREE_PRIOR_WEIGHT)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    # Shallow on purpose: this family is the readable one (interpretable: true).
    return {
        "max_depth": t.suggest_int("tree.max_depth", 2, 6),
        "min_samples_leaf": t.suggest_int("tree.min_samples_leaf", 1, 100, log=True),
    }


FAMILIES = (
    ModelFamily(
        name="decision_tree",
        build=build,
        defaults={"max_depth": 4, "min_samples_leaf": 10},
        space=space,
        cost_prior=0.3,
        needs_scaling=False,
        portfolio_rank=80,  # cheap but weak
        interpretable=True,
    ),
)
