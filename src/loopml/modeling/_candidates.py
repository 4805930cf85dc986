"""Candidate model families: each states its strong defaults and its search space in one place.

Every ``build(task, params, seed, n_jobs)`` reads ``params["class_weight"]`` (``"balanced"`` or
None, see :func:`resolve_class_weight`) for classification; regression ignores it. XGBoost and
CatBoost come with the ``[boost]`` extra: when one is missing its family is unavailable, and
:func:`why_unavailable` says why.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from loopml.errors import TrainingError
from loopml.modeling._boosting import EarlyStoppingClassifier, EarlyStoppingRegressor
from loopml.modeling._smoothing import SmoothedClassifier
from loopml.types import TaskKind

Params = dict[str, Any]

#: Early stopping of the boosted trees: share of the training rows held out, and patience.
VALIDATION_FRACTION = 0.1
EARLY_STOPPING_ROUNDS = 50

#: Weight of the class prior mixed into tree and forest probabilities (no hard zeros).
TREE_PRIOR_WEIGHT = 0.01

#: ``class_weight: auto`` balances the classes when the rarest one is below this share.
IMBALANCE_SHARE = 0.10


@dataclass(frozen=True)
class Candidate:
    """A model family: how to build it, its defaults, and where to search."""

    family: str
    encoding: str  # "onehot" (imputed, scaled, one-hot) or "ordinal" (raw numbers, int codes)
    build: Callable[[TaskKind, Params, int, int], Any]
    defaults: Params
    space: Callable[[optuna.Trial, TaskKind], Params]
    requires: str | None = None  # the optional package the family needs, e.g. "xgboost"
    native_categoricals: bool = False  # the model splits on category codes as categories

    def make(self, task: TaskKind, params: Params | None, seed: int, n_jobs: int) -> Any:
        return self.build(task, {**self.defaults, **(params or {})}, seed, n_jobs)


def _class_weight(task: TaskKind, p: Params) -> str | None:
    return None if task == "regression" else p.get("class_weight")


def _require(module: str, family: str) -> Any:
    """Import the optional ``module`` that ``family`` needs, or say how to get it."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install failing to load its library
        raise TrainingError(
            f"model family {family!r} needs the {module} package, which could not be imported "
            f"({type(exc).__name__}: {exc}). Install it with `pip install 'loopml[boost]'`, "
            f"or leave {family} out of training.models."
        ) from exc


def _linear(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    if task == "regression":
        return Ridge(alpha=p["alpha"])
    return LogisticRegression(
        C=p["C"], class_weight=_class_weight(task, p), max_iter=2000, random_state=seed
    )


def _forest(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    return _trees(RandomForestClassifier, RandomForestRegressor, task, p, seed, n_jobs)


def _extra_trees(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    return _trees(ExtraTreesClassifier, ExtraTreesRegressor, task, p, seed, n_jobs)


def _trees(classifier: Any, regressor: Any, task: TaskKind, p: Params, seed: int, jobs: int) -> Any:
    options = {
        "n_estimators": p["n_estimators"],
        "max_features": _max_features(task, p["max_features"]),
        "min_samples_leaf": p["min_samples_leaf"],
        "n_jobs": jobs,
        "random_state": seed,
    }
    if task == "regression":
        return regressor(**options)
    return SmoothedClassifier(
        classifier(**options), prior_weight=TREE_PRIOR_WEIGHT, class_weight=_class_weight(task, p)
    )


def _max_features(task: TaskKind, value: Any) -> Any:
    """None means the usual default of the task: sqrt for classes, all features for numbers."""
    if value is None:
        return 1.0 if task == "regression" else "sqrt"
    return value


def _decision_tree(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    options = {
        "max_depth": p["max_depth"],
        "min_samples_leaf": p["min_samples_leaf"],
        "random_state": seed,
    }
    if task == "regression":
        return DecisionTreeRegressor(**options)
    return SmoothedClassifier(
        DecisionTreeClassifier(**options),
        prior_weight=TREE_PRIOR_WEIGHT,
        class_weight=_class_weight(task, p),
    )


def _hgb(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
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
    return HistGradientBoostingClassifier(**options, class_weight=_class_weight(task, p))


def _stopped(task: TaskKind, booster: Any, p: Params, seed: int) -> Any:
    """``booster`` stopping early on a held-out tenth of the rows it is fitted on."""
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
        class_weight=_class_weight(task, p),
        random_state=seed,
    )


def _lightgbm(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
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
    return _stopped(task, booster, p, seed)


def _xgboost(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    xgboost = _require("xgboost", "xgboost")
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
    return _stopped(task, booster, p, seed)


def _catboost(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    catboost = _require("catboost", "catboost")
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
    return _stopped(task, booster, p, seed)


def _knn(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
    options = {"n_neighbors": p["n_neighbors"], "weights": p["weights"], "p": p["p"]}
    if task == "regression":
        return KNeighborsRegressor(**options, n_jobs=n_jobs)
    return SmoothedClassifier(
        KNeighborsClassifier(**options, n_jobs=n_jobs),
        prior_weight=1.0 / (p["n_neighbors"] + 1),  # the prior counts as one more neighbour
        class_weight=_class_weight(task, p),
    )


def _mlp(task: TaskKind, p: Params, seed: int, n_jobs: int) -> Any:
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
    return SmoothedClassifier(
        MLPClassifier(**options), prior_weight=1e-3, class_weight=_class_weight(task, p)
    )


def _linear_space(t: optuna.Trial, task: TaskKind) -> Params:
    if task == "regression":
        return {"alpha": t.suggest_float("linear.alpha", 1e-3, 1e3, log=True)}
    return {"C": t.suggest_float("linear.C", 1e-3, 1e2, log=True)}


def _hgb_space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "learning_rate": t.suggest_float("hgb.learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": t.suggest_int("hgb.max_leaf_nodes", 8, 128, log=True),
        "min_samples_leaf": t.suggest_int("hgb.min_samples_leaf", 5, 100, log=True),
        "l2_regularization": t.suggest_float("hgb.l2_regularization", 1e-6, 10.0, log=True),
    }


def _lightgbm_space(t: optuna.Trial, task: TaskKind) -> Params:
    # No n_estimators: early stopping picks the number of rounds below the default cap.
    return {
        "learning_rate": t.suggest_float("lgbm.learning_rate", 0.01, 0.2, log=True),
        "num_leaves": t.suggest_int("lgbm.num_leaves", 8, 128, log=True),
        "min_child_samples": t.suggest_int("lgbm.min_child_samples", 5, 100, log=True),
        "subsample": t.suggest_float("lgbm.subsample", 0.5, 1.0),
        "colsample_bytree": t.suggest_float("lgbm.colsample_bytree", 0.4, 1.0),
        "reg_lambda": t.suggest_float("lgbm.reg_lambda", 1e-4, 10.0, log=True),
    }


def _xgboost_space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "learning_rate": t.suggest_float("xgb.learning_rate", 0.01, 0.3, log=True),
        "max_depth": t.suggest_int("xgb.max_depth", 3, 10),
        "min_child_weight": t.suggest_float("xgb.min_child_weight", 0.5, 20.0, log=True),
        "subsample": t.suggest_float("xgb.subsample", 0.5, 1.0),
        "colsample_bytree": t.suggest_float("xgb.colsample_bytree", 0.4, 1.0),
        "reg_lambda": t.suggest_float("xgb.reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": t.suggest_float("xgb.reg_alpha", 1e-4, 1.0, log=True),
    }


def _catboost_space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "learning_rate": t.suggest_float("cb.learning_rate", 0.02, 0.3, log=True),
        "depth": t.suggest_int("cb.depth", 4, 10),
        "l2_leaf_reg": t.suggest_float("cb.l2_leaf_reg", 1.0, 30.0, log=True),
        "random_strength": t.suggest_float("cb.random_strength", 0.1, 10.0, log=True),
        "bagging_temperature": t.suggest_float("cb.bagging_temperature", 0.0, 1.0),
    }


def _forest_space(prefix: str) -> Callable[[optuna.Trial, TaskKind], Params]:
    def space(t: optuna.Trial, task: TaskKind) -> Params:
        return {
            "n_estimators": t.suggest_int(f"{prefix}.n_estimators", 100, 400, log=True),
            "max_features": t.suggest_categorical(
                f"{prefix}.max_features", ["sqrt", 0.3, 0.6, 1.0]
            ),
            "min_samples_leaf": t.suggest_int(f"{prefix}.min_samples_leaf", 1, 20, log=True),
        }

    return space


def _decision_tree_space(t: optuna.Trial, task: TaskKind) -> Params:
    # Shallow on purpose: this family is the readable one (interpretable: true).
    return {
        "max_depth": t.suggest_int("tree.max_depth", 2, 6),
        "min_samples_leaf": t.suggest_int("tree.min_samples_leaf", 1, 100, log=True),
    }


def _knn_space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "n_neighbors": t.suggest_int("knn.n_neighbors", 5, 100, log=True),
        "weights": t.suggest_categorical("knn.weights", ["uniform", "distance"]),
        "p": t.suggest_categorical("knn.p", [1, 2]),
    }


def _mlp_space(t: optuna.Trial, task: TaskKind) -> Params:
    return {
        "layers": t.suggest_int("mlp.layers", 1, 3),
        "width": t.suggest_int("mlp.width", 32, 256, log=True),
        "alpha": t.suggest_float("mlp.alpha", 1e-6, 1e-1, log=True),
        "learning_rate_init": t.suggest_float("mlp.learning_rate_init", 1e-4, 1e-2, log=True),
    }


CANDIDATES: dict[str, Candidate] = {
    "linear": Candidate(
        family="linear",
        encoding="onehot",
        build=_linear,
        defaults={"C": 1.0, "alpha": 1.0},
        space=_linear_space,
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
            "max_iter": 500,
        },
        space=_hgb_space,
    ),
    "lightgbm": Candidate(
        family="lightgbm",
        # codes split as numbers: LightGBM's native categorical splits scored 0.0001-0.001
        # ROC AUC lower on adult, telco_churn and bank_marketing (one 75/25 split each)
        encoding="ordinal",
        build=_lightgbm,
        defaults={
            "n_estimators": 1000,  # the cap; early stopping picks the rounds
            "learning_rate": 0.05,
            "num_leaves": 31,
            "min_child_samples": 20,
            "subsample": 0.9,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
        },
        space=_lightgbm_space,
    ),
    "xgboost": Candidate(
        family="xgboost",
        encoding="ordinal",
        build=_xgboost,
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
        space=_xgboost_space,
        requires="xgboost",
    ),
    "catboost": Candidate(
        family="catboost",
        # ordinal codes, declared as categorical features once the preprocessing is fitted
        # (NativeCategoricalPipeline): CatBoost's ordered target statistics apply to them
        encoding="ordinal",
        native_categoricals=True,
        build=_catboost,
        defaults={
            "n_estimators": 1000,  # the cap; early stopping picks the rounds
            "learning_rate": 0.1,
            "depth": 6,
            "l2_leaf_reg": 3.0,
            "random_strength": 1.0,
            "bagging_temperature": 1.0,
        },
        space=_catboost_space,
        requires="catboost",
    ),
    "random_forest": Candidate(
        family="random_forest",
        encoding="ordinal",
        build=_forest,
        defaults={"n_estimators": 200, "max_features": "sqrt", "min_samples_leaf": 2},
        space=_forest_space("rf"),
    ),
    "extra_trees": Candidate(
        family="extra_trees",
        encoding="ordinal",
        build=_extra_trees,
        # max_features None: sqrt of the features for classes, all of them for numbers
        defaults={"n_estimators": 200, "max_features": None, "min_samples_leaf": 1},
        space=_forest_space("et"),
    ),
    "decision_tree": Candidate(
        family="decision_tree",
        encoding="ordinal",
        build=_decision_tree,
        defaults={"max_depth": 4, "min_samples_leaf": 10},
        space=_decision_tree_space,
    ),
    "knn": Candidate(
        family="knn",
        encoding="onehot",
        build=_knn,
        defaults={"n_neighbors": 25, "weights": "distance", "p": 2},
        space=_knn_space,
    ),
    "mlp": Candidate(
        family="mlp",
        encoding="onehot",
        build=_mlp,
        defaults={
            "layers": 2,
            "width": 128,
            "alpha": 1e-4,
            "learning_rate_init": 1e-3,
            "max_iter": 200,
        },
        space=_mlp_space,
    ),
}

#: Order in which the portfolio of defaults is tried: cheap and strong first (LightGBM is the
#: first model, which always completes; a linear model next, cheap on small data and a
#: different view for the ensemble). CatBoost is strong but costs several LightGBM fits on
#: one core, so it follows the forests; the decision tree is cheap but weak;
#: k-nearest neighbours and the MLP, usually weak on tabular data, come last.
PORTFOLIO_ORDER = (
    "lightgbm",
    "linear",
    "hist_gradient_boosting",
    "xgboost",
    "extra_trees",
    "random_forest",
    "catboost",
    "decision_tree",
    "knn",
    "mlp",
)

#: The families ``interpretable: true`` allows: linear models and shallow trees.
INTERPRETABLE_FAMILIES = ("linear", "decision_tree")

#: Parameters that only mean something for classification.
_CLASSIFICATION_ONLY = ("class_weight",)


def relevant_params(family: str, task: TaskKind, params: Params) -> Params:
    """The parameters that matter for ``family`` on ``task`` (drops C for regression etc.).

    Task-dependent defaults are spelled out (extra trees' ``max_features``), and
    ``class_weight`` is kept only when it is set on a classification task.
    """
    if family == "linear":
        kept = {"alpha": params["alpha"]} if task == "regression" else {"C": params["C"]}
        kept.update({k: params[k] for k in _CLASSIFICATION_ONLY if k in params})
    else:
        kept = dict(params)
    if "max_features" in kept:
        kept["max_features"] = _max_features(task, kept["max_features"])
    for key in _CLASSIFICATION_ONLY:
        if key in kept and (task == "regression" or kept[key] is None):
            del kept[key]
    return kept


#: Metrics that score the probabilities or the plain error rate: reweighting the classes
#: moves the probabilities away from the true frequencies, which these metrics punish.
UNWEIGHTED_METRICS = frozenset({"log_loss", "accuracy"})


def resolve_class_weight(setting: str, y: Any, metric: str | None = None) -> str | None:
    """The class weighting to train with: ``"balanced"`` or None.

    Parameters
    ----------
    setting
        ``training.class_weight``: ``"balanced"``, ``"none"``, or ``"auto"`` (balanced when the
        rarest class is less than 10% of the rows, unless ``metric`` is one that balancing
        hurts: log loss or accuracy).
    y
        The classification target.
    metric
        The metric the search optimises.

    Raises
    ------
    ValueError
        When ``setting`` is none of the three.

    Examples
    --------
    >>> resolve_class_weight("auto", ["a"] * 95 + ["b"] * 5)
    'balanced'
    >>> resolve_class_weight("auto", ["a"] * 80 + ["b"] * 20) is None
    True
    >>> resolve_class_weight("auto", ["a"] * 95 + ["b"] * 5, metric="log_loss") is None
    True
    """
    if setting == "balanced":
        return "balanced"
    if setting == "none":
        return None
    if setting != "auto":
        raise ValueError(f"class_weight must be 'auto', 'balanced' or 'none', got {setting!r}.")
    counts = pd.Series(np.asarray(y, dtype=object).ravel()).value_counts(dropna=True)
    if len(counts) < 2 or metric in UNWEIGHTED_METRICS:
        return None
    return "balanced" if counts.min() / counts.sum() < IMBALANCE_SHARE else None


def why_unavailable(family: str) -> str | None:
    """Why ``family`` cannot be trained here (its optional package is missing), or None.

    Raises
    ------
    ValueError
        When ``family`` is not a known family.
    """
    if family not in CANDIDATES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(PORTFOLIO_ORDER)}.")
    module = CANDIDATES[family].requires
    if module is None:
        return None
    try:
        importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install failing to load its library
        return (
            f"{family} needs the {module} package, which could not be imported "
            f"({type(exc).__name__}: {exc}); install it with `pip install 'loopml[boost]'`."
        )
    return None


def available_families(families: Iterable[str] = PORTFOLIO_ORDER) -> tuple[str, ...]:
    """The families of ``families`` that can be trained here, in the order given."""
    return tuple(f for f in families if why_unavailable(f) is None)


def unavailable_families(families: Iterable[str] = PORTFOLIO_ORDER) -> dict[str, str]:
    """The families of ``families`` that cannot be trained here, each with the reason."""
    reasons = {f: why_unavailable(f) for f in families}
    return {f: reason for f, reason in reasons.items() if reason is not None}


def unwrap(model: Any) -> Any:
    """The fitted library model inside a candidate's wrappers (for SHAP, importances).

    Takes a candidate's fitted model (or the whole pipeline) and follows
    :class:`SmoothedClassifier`, the early-stopping wrappers and ``TransformedTargetRegressor``
    down to, e.g., the ``LGBMClassifier``.
    """
    if isinstance(model, Pipeline):
        model = model.steps[-1][1]
    while True:
        if isinstance(model, SmoothedClassifier | EarlyStoppingClassifier | EarlyStoppingRegressor):
            model = model.estimator_
        elif isinstance(model, TransformedTargetRegressor):
            model = model.regressor_
        else:
            return model
