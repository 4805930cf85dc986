"""What several families share: class weights, early stopping of the boosters, tree smoothing."""

from __future__ import annotations

from typing import Any

from loopml.modeling._families._registry import Params
from loopml.types import TaskKind

#: Early stopping of the boosted trees: share of the training rows held out, and patience.
VALIDATION_FRACTION = 0.1
EARLY_STOPPING_ROUNDS = 50

#: Weight of the class prior mixed into tree and forest probabilities (no hard zeros).
TREE_PRIOR_WEIGHT = 0.01


def class_weight(task: TaskKind, p: Params) -> str | None:
    """The class weighting of ``p`` (``"balanced"`` or None); None for regression."""
    return None if task == "regression" else p.get("class_weight")


def stopped(task: TaskKind, booster: Any, p: Params, seed: int) -> Any:
    """``booster`` stopping early on a held-out tenth of the rows it is fitted on."""
    from loopml.modeling._boosting import EarlyStoppingClassifier, EarlyStoppingRegressor

    if task == "regression":
        return EarlyStoppingRegressor(
            booster,
            validation_fraction=VALIDATION_FRACTION,
            early_stopping_rounds=EARLY_STOPPING_ROUNDS,
            random_state=seed,
        )
    return EarlyStoppingClassifier(
        booster,
        validation_fraction=VALIDATION_FRACTION,
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        class_weight=class_weight(task, p),
        random_state=seed,
    )


def smoothed(classifier: Any, task: TaskKind, p: Params, prior_weight: float) -> Any:
    """``classifier`` with the class prior mixed into its probabilities (no hard zeros)."""
    from loopml.modeling._smoothing import SmoothedClassifier

    return SmoothedClassifier(
        classifier, prior_weight=prior_weight, class_weight=class_weight(task, p)
    )
