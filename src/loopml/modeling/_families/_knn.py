"""k-nearest neighbours, their votes smoothed with the class prior."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import smoothed
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    options = {"n_neighbors": p["n_neighbors"], "weights": p["weights"], "p": p["p"]}
    if task == "regression":
        return KNeighborsRegressor(**options, n_jobs=n_jobs)
    # the prior counts as one more neighbour
    return smoothed(
        KNeighborsClassifier(**options, n_jobs=n_jobs), task, p, 1.0 / (p["n_neighbors"] + 1)
    )


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "n_neighbors": t.suggest_int("knn.n_neighbors", 5, 100, log=True),
        "weights": t.suggest_categorical("knn.weights", ["uniform", "distance"]),
        "p": t.suggest_categorical("knn.p", [1, 2]),
    }


FAMILIES = (
    ModelFamily(
        name="knn",
        build=build,
        defaults={"n_neighbors": 25, "weights": "distance", "p": 2},
        space=space,
        cost_prior=1.5,
        needs_scaling=True,
        portfolio_rank=90,  # usually weak on tabular data: near the end
    ),
)
