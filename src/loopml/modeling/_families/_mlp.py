"""A multi-layer perceptron, stopping early on a held-out tenth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.modeling._families._registry import ModelFamily, Params
from loopml.modeling._families._shared import VALIDATION_FRACTION, smoothed
from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna


def build(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.preprocessing import StandardScaler

    options = {
        "hidden_layer_sizes": (p["width"],) * p["layers"],
        "alpha": p["alpha"],
        "learning_rate_init": p["learning_rate_init"],
        "max_iter": p["max_iter"],
        "early_stopping": True,
        "validation_fraction": VALIDATION_FRACTION,
        "n_iter_no_change": 10,
        "random_state": seed,
    }
    if task == "regression":
        # The network learns a standardised target; raw prices or counts stall its training.
        return TransformedTargetRegressor(MLPRegressor(**options), transformer=StandardScaler())
    return smoothed(MLPClassifier(**options), task, p, 1e-3)


def space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "layers": t.suggest_int("mlp.layers", 1, 3),
        "width": t.suggest_int("mlp.width", 32, 256, log=True),
        "alpha": t.suggest_float("mlp.alpha", 1e-6, 1e-1, log=True),
        "learning_rate_init": t.suggest_float("mlp.learning_rate_init", 1e-4, 1e-2, log=True),
    }


FAMILIES = (
    ModelFamily(
        name="mlp",
        build=build,
        defaults={
            "layers": 2,
            "width": 128,
            "alpha": 1e-4,
            "learning_rate_init": 1e-3,
            "max_iter": 200,
        },
        space=space,
        cost_prior=2.5,
        needs_scaling=True,
        portfolio_rank=100,  # usually weak on tabular data: last
    ),
)
