"""Encoders chosen at fit time: target encoding for high-cardinality categories, TF-IDF for text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import KFold
from sklearn.preprocessing import TargetEncoder
from sklearn.utils.validation import check_is_fitted

#: task -> the ``target_type`` of scikit-learn's TargetEncoder. Stated, not inferred: integer
#: targets of a regression (counts) would otherwise be taken for hundreds of classes.
_TARGET_TYPES = {"binary": "binary", "multiclass": "multiclass", "regression": "continuous"}


def make_target_encoder(task: str | None, seed: int) -> TargetEncoder:
    """scikit-learn's TargetEncoder with seeded, task-agnostic inner folds.

    ``fit_transform`` cross-fits: each training row is encoded by the other folds' rows, so the
    model never sees its own target through the encoding; ``transform`` (validation and new rows)
    uses encodings learned on all training rows.
    """
    return TargetEncoder(
        target_type=_TARGET_TYPES.get(task or "", "auto"),
        cv=KFold(n_splits=5, shuffle=True, random_state=seed),
    )


class CardinalityColumns:
    """Column selector for ColumnTransformer: the categoricals above or up to a cardinality.

    Called once on the training rows at fit; the chosen columns are then fixed.

    Parameters
    ----------
    columns
        The categorical columns to choose from.
    threshold
        Distinct non-missing labels; a column with more is high-cardinality.
    high
        Select the high-cardinality columns (True) or the others (False).
    """

    def __init__(self, columns: tuple[str, ...], threshold: int, high: bool):
        self.columns = columns
        self.threshold = threshold
        self.high = high

    def __call__(self, X: pd.DataFrame) -> list[str]:
        return [
            c for c in self.columns if (X[c].nunique(dropna=True) > self.threshold) == self.high
        ]

    def __repr__(self) -> str:
        side = ">" if self.high else "<="
        return f"CardinalityColumns({list(self.columns)}, {side} {self.threshold})"


class OtherColumns:
    """Column selector for ColumnTransformer: every column except ``excluded``, in order.

    After datetime expansion and expressions, these are the numeric features; which datetime
    parts exist is only known at fit (``minute`` where it varies).
    """

    def __init__(self, excluded: tuple[str, ...]):
        self.excluded = excluded

    def __call__(self, X: pd.DataFrame) -> list[str]:
        return [str(c) for c in X.columns if c not in self.excluded]

    def __repr__(self) -> str:
        return f"OtherColumns(excluding {list(self.excluded)})"


class TextVectorizer(TransformerMixin, BaseEstimator):
    """TF-IDF terms of one free-text column, named ``<column>__<term>``.

    A column without any usable word in the training rows (all missing, say) gives no features
    rather than an error; missing text is an empty document.

    Parameters
    ----------
    max_features
        Terms kept, the most frequent first (``features.text.max_features``).
    ngram_max
        Longest word sequence used as a term (``features.text.ngram_max``).
    """

    def __init__(self, max_features: int = 200, ngram_max: int = 2):
        self.max_features = max_features
        self.ngram_max = ngram_max

    def fit(self, X: Any, y: Any = None) -> TextVectorizer:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> Any:
        frame = _one_column(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = 1
        # here: scikit-learn's text module is needed only by projects with free-text columns
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=(1, self.ngram_max),
            sublinear_tf=True,
            dtype=np.float64,
        )
        try:
            out = vectorizer.fit_transform(_documents(frame))
        except ValueError as exc:
            if "empty vocabulary" not in str(exc):
                raise
            self.vectorizer_ = None
            return np.zeros((len(frame), 0))
        self.vectorizer_ = vectorizer
        return out

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "feature_names_in_")
        frame = _one_column(X)
        if self.vectorizer_ is None:
            return np.zeros((len(frame), 0))
        return self.vectorizer_.transform(_documents(frame))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        if self.vectorizer_ is None:
            return np.asarray([], dtype=object)
        column = self.feature_names_in_[0]
        terms = self.vectorizer_.get_feature_names_out()
        return np.asarray([f"{column}__{t}" for t in terms], dtype=object)


def _one_column(X: Any) -> pd.DataFrame:
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
    if frame.ndim != 2 or frame.shape[1] != 1:
        raise ValueError(f"TextVectorizer takes one text column, got shape {frame.shape}")
    return frame


def _documents(frame: pd.DataFrame) -> list[str]:
    values = frame.iloc[:, 0]
    return ["" if pd.isna(v) else str(v) for v in values]
