"""Probabilities without hard zeros, and class weights for any classifier.

k-nearest neighbours, trees and forests give a class exactly 0 probability whenever no
neighbour or leaf holds it; one such row costs a log loss of 34 after clipping at 1e-15.
:class:`SmoothedClassifier` mixes the wrapped model's probabilities with the class prior, so a
class seen in training never gets 0, and applies class weights either through ``fit``'s
``sample_weight`` or, for models without one (k-nearest neighbours), by weighting their votes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from loopml.modeling._boosting import drop_unweighted


class SmoothedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are mixed with the class prior.

    ``predict_proba`` returns ``(1 - prior_weight) * p + prior_weight * prior``, where ``p``
    is the wrapped model's probability and ``prior`` the (weighted) class frequency in
    training. Within a class column this is an increasing affine map, so rankings (ROC AUC)
    are unchanged.

    Parameters
    ----------
    estimator
        The unfitted classifier to wrap.
    prior_weight
        Weight of the prior in the mix, in [0, 1). For k-nearest neighbours ``1 / (k + 1)``
        counts the prior as one more neighbour.
    class_weight
        ``"balanced"`` weights each class inversely to its frequency: through ``sample_weight``
        when the wrapped ``fit`` accepts it, otherwise by weighting the predicted
        probabilities (for k-nearest neighbours the same as weighting each neighbour's vote).

    Attributes
    ----------
    estimator_
        The fitted wrapped classifier (trained on class codes ``0 .. n_classes - 1``).
    classes_
        The class labels, sorted.
    prior_
        The class prior the probabilities are mixed with.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> X, y = np.arange(8.0).reshape(-1, 1), np.array([0, 0, 0, 0, 0, 0, 1, 1])
    >>> model = SmoothedClassifier(DecisionTreeClassifier(), prior_weight=0.1).fit(X, y)
    >>> model.predict_proba([[0.0]]).round(3).tolist()
    [[0.975, 0.025]]
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        prior_weight: float = 0.01,
        class_weight: str | None = None,
    ) -> None:
        self.estimator = estimator
        self.prior_weight = prior_weight
        self.class_weight = class_weight

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        if self.estimator is not None:
            tags.input_tags.allow_nan = get_tags(self.estimator).input_tags.allow_nan
        return tags

    def _finite(self) -> bool | str:
        return "allow-nan" if self.__sklearn_tags__().input_tags.allow_nan else True

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SmoothedClassifier:
        if self.estimator is None:
            raise ValueError(
                "SmoothedClassifier needs an estimator to wrap, e.g. "
                "SmoothedClassifier(KNeighborsClassifier())."
            )
        if not 0.0 <= float(self.prior_weight) < 1.0:
            raise ValueError(
                f"prior_weight must be in [0, 1), got {self.prior_weight!r}; 0.01 mixes in "
                "1% of the class prior."
            )
        X, y = validate_data(self, X, y, ensure_all_finite=self._finite())
        check_classification_targets(y)
        accepts_weights = has_fit_parameter(self.estimator, "sample_weight")
        if sample_weight is not None and not accepts_weights:
            raise ValueError(
                f"{type(self.estimator).__name__} cannot fit with sample_weight; fit without "
                "it or wrap a classifier whose fit accepts sample_weight."
            )
        X, y, given = drop_unweighted(X, y, sample_weight)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        per_class = np.ones(n_classes)
        if self.class_weight is not None:
            per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
        weight = per_class[codes] * (1.0 if given is None else given)
        model = clone(self.estimator)
        if accepts_weights and (given is not None or self.class_weight is not None):
            model.fit(X, codes, sample_weight=weight)
            self.vote_weight_ = np.ones(n_classes)
        else:
            model.fit(X, codes)
            self.vote_weight_ = per_class
        self.estimator_ = model
        prior = np.bincount(codes, weights=weight, minlength=n_classes)
        self.prior_ = prior / prior.sum() if prior.sum() > 0 else np.full(n_classes, 1 / n_classes)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, ensure_all_finite=self._finite())
        raw = np.zeros((X.shape[0], len(self.classes_)))
        raw[:, self.estimator_.classes_.astype(int)] = self.estimator_.predict_proba(X)
        raw *= self.vote_weight_
        total = raw.sum(axis=1, keepdims=True)
        raw = np.divide(raw, total, out=np.tile(self.prior_, (len(raw), 1)), where=total > 0)
        weight = float(self.prior_weight)
        return (1.0 - weight) * raw + weight * self.prior_

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    @property
    def feature_importances_(self) -> np.ndarray:
        """The wrapped model's feature importances (trees and forests)."""
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.feature_importances_)
