"""Row-level steps of the one fitted pipeline, as scikit-learn transformers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from loopml.config import CleaningConfig
from loopml.data import normalize_category, to_boolean, to_datetime, to_numeric
from loopml.features._cleaning import CategoryMerger, OutlierClipper

DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "is_weekend", "elapsed_days")


class FrameCoercer(TransformerMixin, BaseEstimator):
    """Select the feature columns and give each the type of its role.

    Whatever arrives (CSV chunks whose dtypes differ, JSON requests, numbers as text) leaves as
    float numbers, normalised category labels (trimmed, lower case) or timestamps, so training,
    batch scoring and serving see identical values.

    Parameters
    ----------
    roles
        Column name -> role (numeric, boolean, categorical, datetime). ``None`` infers from the
        data at fit time: numbers numeric, everything else categorical.
    normalize_categories
        Trim and lower-case category labels ("Yes ", "YES" -> "yes").
    """

    def __init__(self, roles: dict[str, str] | None = None, normalize_categories: bool = True):
        self.roles = roles
        self.normalize_categories = normalize_categories

    def fit(self, X: Any, y: Any = None) -> FrameCoercer:
        frame = _as_frame(X)
        if self.roles is None:
            roles = {
                str(c): "numeric" if pd.api.types.is_numeric_dtype(frame[c]) else "categorical"
                for c in frame.columns
            }
        else:
            missing = [c for c in self.roles if c not in frame.columns]
            if missing:
                raise ValueError(f"columns missing from the input: {', '.join(missing)}")
            roles = dict(self.roles)
        self.roles_ = roles
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "roles_")
        frame = _as_frame(X)
        missing = [c for c in self.roles_ if c not in frame.columns]
        if missing:
            raise ValueError(f"columns missing from the input: {', '.join(missing)}")
        out = {}
        for name, role in self.roles_.items():
            values = frame[name]
            if role == "numeric":
                out[name] = to_numeric(values)
            elif role == "boolean":
                out[name] = to_boolean(values)
            elif role == "datetime":
                out[name] = to_datetime(values)
            elif self.normalize_categories:
                out[name] = normalize_category(values)
            else:
                text = values.astype("string")
                out[name] = text.astype(object).where(text.notna(), np.nan)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "roles_")
        return np.asarray(list(self.roles_), dtype=object)


class DatetimeExpander(TransformerMixin, BaseEstimator):
    """Replace each datetime column by calendar parts and the days since the training start.

    Parameters
    ----------
    columns
        The datetime columns (already converted to timestamps by :class:`FrameCoercer`).
    """

    def __init__(self, columns: tuple[str, ...] = ()):
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> DatetimeExpander:
        reference = {}
        for name in self.columns:
            stamps = pd.to_datetime(X[name])
            first = stamps.min()
            reference[name] = 0.0 if pd.isna(first) else float(first.timestamp())
        self.reference_ = reference
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "reference_")
        out = X.drop(columns=list(self.columns))
        for name in self.columns:
            stamps = pd.to_datetime(X[name])
            out[f"{name}__year"] = stamps.dt.year.astype(float)
            out[f"{name}__month"] = stamps.dt.month.astype(float)
            out[f"{name}__day"] = stamps.dt.day.astype(float)
            out[f"{name}__dayofweek"] = stamps.dt.day_of_week.astype(float)
            out[f"{name}__hour"] = stamps.dt.hour.astype(float)
            out[f"{name}__is_weekend"] = (
                (stamps.dt.day_of_week >= 5).astype(float).where(stamps.notna())
            )
            seconds = stamps.astype("datetime64[s]").astype("int64").astype(float)
            seconds = seconds.where(stamps.notna())
            out[f"{name}__elapsed_days"] = (seconds - self.reference_[name]) / 86400.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "reference_")
        kept = [c for c in self.feature_names_in_ if c not in self.columns]
        parts = [f"{c}__{p}" for c in self.columns for p in DATETIME_PARTS]
        return np.asarray(kept + parts, dtype=object)


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    array = np.asarray(X)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


def build_preprocessor(
    roles: dict[str, str], encoding: str, cleaning: CleaningConfig | None = None
) -> Pipeline:
    """Coercion, cleaning, datetime expansion, imputation and encoding for one model family.

    ``encoding="onehot"`` imputes, adds one-hot categories and scales (linear models);
    ``"ordinal"`` gives integer codes and leaves missing numbers to the model (tree ensembles
    split on raw values and route missing values themselves). ``cleaning`` is the declared
    policy (``cleaning:`` in loopml.yaml); its defaults apply when it is None.
    """
    policy = cleaning or CleaningConfig()
    datetimes = tuple(c for c, r in roles.items() if r == "datetime")
    plain_numeric = [c for c, r in roles.items() if r == "numeric"]
    numeric = [c for c, r in roles.items() if r in ("numeric", "boolean")]
    numeric += [f"{c}__{p}" for c in datetimes for p in DATETIME_PARTS]
    categorical = [c for c, r in roles.items() if r == "categorical"]
    num_strategy = {"median": "median", "mean": "mean", "zero": "constant"}[policy.missing.numeric]
    num_impute = SimpleImputer(
        strategy=num_strategy,
        fill_value=0.0,
        add_indicator=policy.missing.indicators,
        keep_empty_features=True,
    )
    cat_impute = SimpleImputer(
        strategy=policy.missing.categorical,
        fill_value="__missing__",
        keep_empty_features=True,
    )
    if encoding == "onehot":
        num: Any = Pipeline([("impute", num_impute), ("scale", StandardScaler())])
        encoder: Any = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=5,
            max_categories=40,
            sparse_output=False,
        )
    else:
        num = (
            MissingIndicator(features="missing-only", error_on_new=False)
            if policy.missing.indicators
            else "drop"
        )
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            min_frequency=5,
            max_categories=250,
        )
    parts: list[tuple[str, Any, list[str]]] = [
        ("cat", Pipeline([("impute", cat_impute), ("encode", encoder)]), categorical)
    ]
    if encoding == "onehot":
        parts.insert(0, ("num", num, numeric))
    else:
        parts.insert(0, ("num", "passthrough", numeric))
        if policy.missing.indicators and numeric:
            parts.append(("missing", num, numeric))
    columns = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    steps: list[tuple[str, Any]] = [
        (
            "coerce",
            FrameCoercer(roles=dict(roles), normalize_categories=policy.categories.normalize),
        )
    ]
    if policy.categories.merge_similar and categorical:
        steps.append(
            ("categories", CategoryMerger(tuple(categorical), policy.categories.similarity))
        )
    if policy.outliers == "clip" and plain_numeric:
        steps.append(("outliers", OutlierClipper(tuple(plain_numeric), policy.outlier_quantiles)))
    steps += [("datetime", DatetimeExpander(columns=datetimes)), ("columns", columns)]
    return Pipeline(steps)
