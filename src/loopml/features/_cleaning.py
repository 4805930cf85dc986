"""Per-row cleaning steps, fitted inside the pipeline so serving cleans exactly like training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from loopml.data import merge_map


class CategoryMerger(TransformerMixin, BaseEstimator):
    """Map near-duplicate spellings of a category to its most frequent spelling.

    Fitted per column on the training rows: labels are visited from the most to the least
    frequent; a label whose similarity (difflib ratio) to a more frequent one reaches
    ``similarity`` is mapped onto it, as are yes/no abbreviations ("y" onto "yes"). Labels
    arriving trimmed and lower-cased (see ``FrameCoercer``) make "Yes", "yes " and "YES" one
    label before this step; this one catches typos such as "standrad". The rules are
    :func:`loopml.data.merge_map`'s, which the target's labels follow too.

    Parameters
    ----------
    columns
        The categorical columns to clean.
    similarity
        Minimum difflib ratio, in (0.5, 1], for two labels to be the same category.
    """

    def __init__(self, columns: tuple[str, ...] = (), similarity: float = 0.88):
        self.columns = columns
        self.similarity = similarity

    def fit(self, X: pd.DataFrame, y: Any = None) -> CategoryMerger:
        mappings: dict[str, dict[str, str]] = {}
        for name in self.columns:
            counts = X[name].dropna().astype(str).value_counts()
            mappings[name] = merge_map(counts, self.similarity)
        self.mappings_ = mappings
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "mappings_")
        out = X.copy()
        for name, mapping in self.mappings_.items():
            if mapping:
                out[name] = X[name].map(
                    lambda v, m=mapping: m.get(v, v) if isinstance(v, str) else v
                )
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "mappings_")
        return self.feature_names_in_


class OutlierClipper(TransformerMixin, BaseEstimator):
    """Clip numeric columns to quantile bounds learned on the training rows.

    Parameters
    ----------
    columns
        The numeric columns to clip.
    quantiles
        Lower and upper quantile, e.g. (0.001, 0.999).
    """

    def __init__(
        self, columns: tuple[str, ...] = (), quantiles: tuple[float, float] = (0.001, 0.999)
    ):
        self.columns = columns
        self.quantiles = quantiles

    def fit(self, X: pd.DataFrame, y: Any = None) -> OutlierClipper:
        lo, hi = self.quantiles
        bounds = {}
        for name in self.columns:
            values = pd.to_numeric(X[name], errors="coerce").dropna()
            if len(values):
                bounds[name] = (float(values.quantile(lo)), float(values.quantile(hi)))
        self.bounds_ = bounds
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "bounds_")
        out = X.copy()
        for name, (lo, hi) in self.bounds_.items():
            out[name] = X[name].clip(lower=lo, upper=hi)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "bounds_")
        return self.feature_names_in_
