"""Early stopping for LightGBM, XGBoost and CatBoost inside a plain ``fit(X, y)``.

Each library stops early only against an evaluation set passed to ``fit``, which a
scikit-learn pipeline cannot pass. :class:`EarlyStoppingClassifier` and
:class:`EarlyStoppingRegressor` hold out a share of the rows they are given (stratified by class
for classification, every class kept in the training part), fit the wrapped booster with the
library's own early stopping on that share, and keep the model at its best round.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

#: The libraries whose scikit-learn estimators the wrappers know how to stop early.
LIBRARIES = ("lightgbm", "xgboost", "catboost")

#: Below this many held-out rows early stopping is noise: fit every round on all rows instead.
MIN_VALIDATION_ROWS = 5


def library_of(estimator: Any) -> str:
    """The boosting library ``estimator`` comes from: ``"lightgbm"``, ``"xgboost"`` or
    ``"catboost"``.

    Raises
    ------
    ValueError
        When ``estimator`` is not a scikit-learn estimator of one of these libraries.
    """
    library = type(estimator).__module__.split(".")[0]
    if library not in LIBRARIES:
        raise ValueError(
            f"early stopping supports estimators of {', '.join(LIBRARIES)}, got "
            f"{type(estimator).__name__} from {library!r}. Wrap an LGBM*, XGB* or CatBoost* "
            "estimator instead."
        )
    return library


def holdout_mask(
    n_rows: int, fraction: float, codes: np.ndarray | None, rng: np.random.RandomState
) -> np.ndarray | None:
    """Which rows to hold out for early stopping, or None when too few rows would be held out.

    With class ``codes`` the hold-out is stratified and each class keeps at least one row in the
    training part, so the booster sees every class.
    """
    if codes is None:
        n_valid = round(n_rows * fraction)
        chosen = rng.choice(n_rows, n_valid, replace=False) if n_valid else np.empty(0, int)
    else:
        parts = []
        for code in range(int(codes.max()) + 1 if len(codes) else 0):
            members = np.flatnonzero(codes == code)
            take = min(round(len(members) * fraction), len(members) - 1)
            if take > 0:
                parts.append(rng.choice(members, take, replace=False))
        chosen = np.concatenate(parts) if parts else np.empty(0, int)
    if len(chosen) < MIN_VALIDATION_ROWS or n_rows - len(chosen) < MIN_VALIDATION_ROWS:
        return None
    mask = np.zeros(n_rows, dtype=bool)
    mask[chosen] = True
    return mask


def row_weights(sample_weight: Any, n_rows: int) -> np.ndarray:
    """``sample_weight`` as a float array of ``n_rows`` non-negative finite weights.

    Raises
    ------
    ValueError
        When the weights have the wrong length or contain negative or non-finite values.
    """
    weight = np.asarray(sample_weight, dtype=float).reshape(-1)
    if weight.shape == (1,):
        weight = np.full(n_rows, weight[0])
    if len(weight) != n_rows:
        raise ValueError(f"sample_weight has {len(weight)} values but X has {n_rows} rows.")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if not np.any(weight > 0):
        raise ValueError("sample_weight is zero for every row; at least one must be positive.")
    return weight


def drop_unweighted(
    X: np.ndarray, y: np.ndarray, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``X``, ``y`` and the weights without the rows of weight 0 (as if they were not there)."""
    if sample_weight is None:
        return X, y, None
    weight = row_weights(sample_weight, len(X))
    keep = weight > 0
    return X[keep], y[keep], weight[keep]


def _rounds(model: Any, library: str) -> int:
    """How many boosting rounds a fitted model uses."""
    if library == "lightgbm":
        best = int(getattr(model, "best_iteration_", 0) or 0)
        return best if best > 0 else int(model.n_iter_)
    if library == "xgboost":
        last = getattr(model, "best_iteration", None)
        return int(last) + 1 if last is not None else model.get_booster().num_boosted_rounds()
    best = model.get_best_iteration()
    return int(best) + 1 if best is not None else int(model.tree_count_)


def _fit_stopping(
    model: Any,
    library: str,
    train: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    valid: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    rounds: int,
    categorical: tuple[int, ...] = (),
) -> None:
    """Fit ``model`` on ``train`` with the library's early stopping on ``valid``."""
    X_tr, y_tr, w_tr = train
    X_va, y_va, w_va = valid
    if library == "lightgbm":
        import lightgbm

        # LightGBM 4.7 renamed eval_set to eval_X/eval_y and warns about the old name.
        evaluation: dict[str, Any] = (
            {"eval_X": (X_va,), "eval_y": (y_va,)}
            if "eval_X" in inspect.signature(model.fit).parameters
            else {"eval_set": [(X_va, y_va)]}
        )
        model.fit(
            X_tr,
            y_tr,
            sample_weight=w_tr,
            eval_sample_weight=None if w_va is None else [w_va],
            callbacks=[lightgbm.early_stopping(rounds, first_metric_only=True, verbose=False)],
            **evaluation,
            **_native_fit_params(library, categorical),
        )
    elif library == "xgboost":
        model.set_params(early_stopping_rounds=rounds)
        model.fit(
            X_tr,
            y_tr,
            sample_weight=w_tr,
            eval_set=[(X_va, y_va)],
            sample_weight_eval_set=None if w_va is None else [w_va],
            verbose=False,
        )
    else:
        from catboost import Pool

        model.fit(
            X_tr,
            y_tr,
            sample_weight=w_tr,
            eval_set=Pool(X_va, y_va, weight=w_va, cat_features=list(categorical) or None),
            early_stopping_rounds=rounds,
            use_best_model=True,
            **_native_fit_params(library, categorical),
        )


def _native_fit_params(library: str, categorical: tuple[int, ...]) -> dict[str, Any]:
    """``fit`` keywords that declare the categorical columns to ``library``."""
    if not categorical:
        return {}
    if library == "lightgbm":
        return {"categorical_feature": list(categorical)}
    if library == "catboost":
        return {"cat_features": list(categorical)}
    return {}  # XGBoost needs pandas categories for that; it sees the codes as numbers


def native_frame(X: np.ndarray, library: str, categorical: tuple[int, ...]) -> Any:
    """``X`` as ``library`` wants it with categorical columns: CatBoost takes category codes
    only as integers (or text), so those columns become integers in a frame; others get ``X``.
    """
    if library != "catboost" or not categorical:
        return X
    import pandas as pd

    frame = pd.DataFrame(X)
    for j in categorical:
        # ordinal codes; an unseen category is -1 and a missing value its own code already
        frame[j] = np.nan_to_num(frame[j].to_numpy(dtype=float), nan=-1.0).astype(np.int64)
    return frame


class _EarlyStopping(BaseEstimator):
    """Shared fitting logic; see :class:`EarlyStoppingClassifier`."""

    _is_classifier = False

    def __init__(
        self,
        estimator: Any = None,
        *,
        validation_fraction: float = 0.1,
        early_stopping_rounds: int = 50,
        random_state: int | None = None,
        categorical_features: tuple[int, ...] = (),
    ) -> None:
        self.estimator = estimator
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.categorical_features = categorical_features

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # every supported booster routes missing values
        return tags

    def _check_params(self) -> str:
        if self.estimator is None:
            raise ValueError(
                f"{type(self).__name__} needs an estimator to wrap, e.g. "
                f"{type(self).__name__}(LGBMClassifier())."
            )
        if not 0.0 < float(self.validation_fraction) < 1.0:
            raise ValueError(
                "validation_fraction must be between 0 and 1 (exclusive), got "
                f"{self.validation_fraction!r}; 0.1 holds out a tenth of the rows."
            )
        if int(self.early_stopping_rounds) < 1:
            raise ValueError(
                f"early_stopping_rounds must be at least 1, got {self.early_stopping_rounds!r}"
            )
        return library_of(self.estimator)

    def _fit_model(
        self, X: np.ndarray, target: np.ndarray, weight: np.ndarray | None, codes: Any
    ) -> None:
        library = self._check_params()
        if len(X) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 rows to fit, got 1 sample.")
        rng = check_random_state(self.random_state)
        model = clone(self.estimator)
        categorical = tuple(int(j) for j in self.categorical_features or ())
        if any(j < 0 or j >= X.shape[1] for j in categorical):
            raise ValueError(
                f"categorical_features {categorical} name columns outside the {X.shape[1]} "
                "columns of X"
            )
        mask = holdout_mask(len(X), float(self.validation_fraction), codes, rng)
        if mask is None:
            model.fit(
                native_frame(X, library, categorical),
                target,
                sample_weight=weight,
                **_native_fit_params(library, categorical),
            )
            self.early_stopped_ = False
        else:
            keep = ~mask
            _fit_stopping(
                model,
                library,
                (
                    native_frame(X[keep], library, categorical),
                    target[keep],
                    None if weight is None else weight[keep],
                ),
                (
                    native_frame(X[mask], library, categorical),
                    target[mask],
                    None if weight is None else weight[mask],
                ),
                int(self.early_stopping_rounds),
                categorical,
            )
            self.early_stopped_ = True
        self.library_ = library
        self.categorical_ = categorical
        self.estimator_ = model
        self.best_iteration_ = _rounds(model, library)

    def _native(self, X: np.ndarray) -> Any:
        # models saved before categorical features existed have neither attribute
        library = getattr(self, "library_", None) or library_of(self.estimator_)
        return native_frame(X, library, getattr(self, "categorical_", ()))

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("categorical_features", ())  # pickled before the parameter existed
        super().__setstate__(state)

    @property
    def feature_importances_(self) -> np.ndarray:
        """The wrapped booster's feature importances."""
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.feature_importances_)


class EarlyStoppingClassifier(ClassifierMixin, _EarlyStopping):
    """A LightGBM, XGBoost or CatBoost classifier that stops early on a held-out share of ``fit``.

    Parameters
    ----------
    estimator
        The unfitted booster; its number of rounds is the upper limit.
    validation_fraction
        Share of the rows held out (stratified) to decide when to stop.
    early_stopping_rounds
        Stop when the held-out loss has not improved for this many rounds.
    class_weight
        ``"balanced"`` weights each class inversely to its frequency; None leaves rows equal.
    random_state
        Seed of the hold-out draw.
    categorical_features
        Positions of columns holding category codes (0, 1, ...; -1 for unknown), which
        LightGBM and CatBoost then split on as categories; XGBoost sees them as numbers.

    Attributes
    ----------
    estimator_
        The fitted booster, at its best round.
    best_iteration_
        How many rounds the fitted booster uses (1-based, like LightGBM's ``best_iteration_``).
    early_stopped_
        False when there were too few rows to hold any out; every round was then fitted.

    Examples
    --------
    >>> from lightgbm import LGBMClassifier
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = EarlyStoppingClassifier(LGBMClassifier(n_estimators=500, verbose=-1),
    ...                                 random_state=0).fit(X, y)
    >>> model.best_iteration_ < 500
    True
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        validation_fraction: float = 0.1,
        early_stopping_rounds: int = 50,
        class_weight: str | None = None,
        random_state: int | None = None,
        categorical_features: tuple[int, ...] = (),
    ) -> None:
        super().__init__(
            estimator,
            validation_fraction=validation_fraction,
            early_stopping_rounds=early_stopping_rounds,
            random_state=random_state,
            categorical_features=categorical_features,
        )
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EarlyStoppingClassifier:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan")
        check_classification_targets(y)
        X, y, weight = drop_unweighted(X, y, sample_weight)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y, got 1 class: "
                f"{self.classes_[0]!r}."
            )
        if self.class_weight is not None:
            balance = compute_sample_weight(self.class_weight, y)
            weight = balance if weight is None else weight * balance
        self._fit_model(X, codes, weight, codes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        X = self._native(X)
        return np.asarray(self.estimator_.predict_proba(X), dtype=float)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class EarlyStoppingRegressor(RegressorMixin, _EarlyStopping):
    """A LightGBM, XGBoost or CatBoost regressor that stops early on a held-out share of ``fit``.

    Parameters and attributes as :class:`EarlyStoppingClassifier`, without ``class_weight``;
    the hold-out is a random share of the rows.
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EarlyStoppingRegressor:
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", y_numeric=True)
        X, y, weight = drop_unweighted(X, y, sample_weight)
        self._fit_model(X, np.asarray(y, dtype=float), weight, None)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        X = self._native(X)
        return np.asarray(self.estimator_.predict(X), dtype=float)
