"""Row-level steps of the one fitted pipeline, as scikit-learn transformers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from loopml.config import CleaningConfig, FeaturesConfig
from loopml.data import NumberFormat, normalize_category, to_boolean, to_datetime, to_numeric
from loopml.features._cleaning import CategoryMerger, OutlierClipper
from loopml.features._encoding import (
    CardinalityColumns,
    OtherColumns,
    TextVectorizer,
    make_target_encoder,
)
from loopml.features._expressions import ExpressionFeatures
from loopml.types import TaskKind

#: The parts :class:`DatetimeExpander` derives by default (the pipeline without ``features``).
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "is_weekend", "elapsed_days")
#: Every part it can derive; the pipeline with ``features`` uses all of them.
ALL_DATETIME_PARTS = (
    "year",
    "quarter",
    "month",
    "day",
    "dayofyear",
    "dayofweek",
    "hour",
    "minute",
    "is_weekend",
    "month_sin",
    "month_cos",
    "dayofweek_sin",
    "dayofweek_cos",
    "hour_sin",
    "hour_cos",
    "elapsed_days",
)
#: Parts that place a row on the absolute time line rather than in a calendar cycle.
ABSOLUTE_TIME_PARTS = ("year", "elapsed_days")


class FrameCoercer(TransformerMixin, BaseEstimator):
    """Select the feature columns and give each the type of its role.

    Whatever arrives (CSV chunks whose dtypes differ, JSON requests, numbers as text) leaves as
    float numbers, normalised category labels (trimmed, lower case) or timestamps, so training,
    batch scoring and serving see identical values.

    Parameters
    ----------
    roles
        Column name -> role (numeric, boolean, categorical, datetime, text). ``None`` infers
        from the data at fit time: numbers numeric, everything else categorical.
    normalize_categories
        Trim and lower-case category labels ("Yes ", "YES" -> "yes").
    decimal, thousands
        How numbers written as text are read ('4,5' with ``decimal=","``): the convention of
        the training data, so a scoring file or a request is read as training read its file.
    """

    def __init__(
        self,
        roles: dict[str, str] | None = None,
        normalize_categories: bool = True,
        decimal: str = ".",
        thousands: str = ",",
    ):
        self.roles = roles
        self.normalize_categories = normalize_categories
        self.decimal = decimal
        self.thousands = thousands

    def fit(self, X: Any, y: Any = None) -> FrameCoercer:
        NumberFormat(self.decimal, self.thousands)  # refuses an impossible format
        frame = _as_frame(X)
        if 0 in frame.shape:
            raise ValueError(
                f"FrameCoercer has nothing to learn from: {frame.shape[0]} row(s) and "
                f"{frame.shape[1]} feature(s) (shape={frame.shape}) while a minimum of 1 is "
                "required."
            )
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
        # pipelines pickled before the number format existed read the default one
        numbers = NumberFormat(getattr(self, "decimal", "."), getattr(self, "thousands", ","))
        out = {}
        for name, role in self.roles_.items():
            values = frame[name]
            if role == "numeric":
                out[name] = to_numeric(values, numbers)
            elif role == "boolean":
                out[name] = to_boolean(values)
            elif role == "datetime":
                out[name] = to_datetime(values)
            elif role == "text":
                # free text stays as written (the vectorizer lower-cases); missing is empty
                out[name] = values.astype("string").fillna("").astype(object)
            elif self.normalize_categories:
                out[name] = normalize_category(values)
            else:
                text = values.astype("string")
                out[name] = text.astype(object).where(text.notna(), np.nan)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "roles_")
        return np.asarray(list(self.roles_), dtype=object)

    def __sklearn_tags__(self) -> Any:
        # raw rows arrive with gaps and as text: reading them into typed columns is its job
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


class DatetimeExpander(TransformerMixin, BaseEstimator):
    """Replace each datetime column by calendar parts and the days since the training start.

    Parameters
    ----------
    columns
        The datetime columns (already converted to timestamps by :class:`FrameCoercer`).
    parts
        The parts to derive, in this order, from :data:`ALL_DATETIME_PARTS`; ``None`` gives
        :data:`DATETIME_PARTS`. ``"minute"`` is kept only for a column whose minutes vary in
        the training rows. ``*_sin``/``*_cos`` place month, day of week and hour on a circle
        (December next to January); ``elapsed_days`` counts from the earliest training stamp.
    absolute_time
        Keep the parts that locate a row on the absolute time line (``year``,
        ``elapsed_days``). On time-ordered data they can help or hurt, so the search tries
        both when ``features.absolute_time`` is ``"auto"``.

    Examples
    --------
    >>> frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-06", "2024-03-01"])})
    >>> expander = DatetimeExpander(("d",), parts=("year", "quarter"), absolute_time=False)
    >>> expander.fit(frame).get_feature_names_out().tolist()
    ['d__quarter']
    """

    def __init__(
        self,
        columns: tuple[str, ...] = (),
        parts: tuple[str, ...] | None = None,
        absolute_time: bool = True,
    ):
        self.columns = columns
        self.parts = parts
        self.absolute_time = absolute_time

    def fit(self, X: pd.DataFrame, y: Any = None) -> DatetimeExpander:
        requested = DATETIME_PARTS if self.parts is None else tuple(self.parts)
        unknown = [p for p in requested if p not in ALL_DATETIME_PARTS]
        if unknown:
            raise ValueError(
                f"unknown datetime part(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(ALL_DATETIME_PARTS)}"
            )
        if not self.absolute_time:
            requested = tuple(p for p in requested if p not in ABSOLUTE_TIME_PARTS)
        reference = {}
        parts = {}
        for name in self.columns:
            stamps = pd.to_datetime(X[name])
            first = stamps.min()
            reference[name] = 0.0 if pd.isna(first) else float(first.timestamp())
            varies = stamps.dt.minute.nunique(dropna=True) > 1
            parts[name] = tuple(p for p in requested if p != "minute" or varies)
        self.reference_ = reference
        self.parts_ = parts
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "reference_")
        derived = {}
        for name in self.columns:
            stamps = pd.to_datetime(X[name])
            for part in self._parts_of(name):
                derived[f"{name}__{part}"] = _datetime_part(stamps, part, self.reference_[name])
        kept = X.drop(columns=list(self.columns))
        if not derived:
            return kept
        return pd.concat([kept, pd.DataFrame(derived, index=X.index)], axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "reference_")
        kept = [c for c in self.feature_names_in_ if c not in self.columns]
        parts = [f"{c}__{p}" for c in self.columns for p in self._parts_of(c)]
        return np.asarray(kept + parts, dtype=object)

    def _parts_of(self, name: str) -> tuple[str, ...]:
        # expanders pickled before ``parts_`` existed derived DATETIME_PARTS for every column
        return getattr(self, "parts_", {}).get(name, DATETIME_PARTS)


def _datetime_part(stamps: pd.Series, part: str, reference: float) -> pd.Series:
    """One derived column of ``stamps`` as floats; missing stamps give NaN."""
    when = stamps.dt
    if part == "elapsed_days":
        seconds = stamps.astype("datetime64[s]").astype("int64").astype(float)
        return (seconds.where(stamps.notna()) - reference) / 86400.0
    if part == "is_weekend":
        return (when.day_of_week >= 5).astype(float).where(stamps.notna())
    if part in _CYCLES:
        base, period = _CYCLES[part]
        angle = 2 * np.pi * _datetime_part(stamps, base, reference) / period
        return np.sin(angle) if part.endswith("_sin") else np.cos(angle)
    value = {
        "year": when.year,
        "quarter": when.quarter,
        "month": when.month,
        "day": when.day,
        "dayofyear": when.day_of_year,
        "dayofweek": when.day_of_week,
        "hour": when.hour,
        "minute": when.minute,
    }[part]
    return value.astype(float)


#: cyclical part -> (the part it encodes, its period); months count from 1, so January is 1/12
#: of the way round and December closes the circle
_CYCLES = {
    "month_sin": ("month", 12),
    "month_cos": ("month", 12),
    "dayofweek_sin": ("dayofweek", 7),
    "dayofweek_cos": ("dayofweek", 7),
    "hour_sin": ("hour", 24),
    "hour_cos": ("hour", 24),
}


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    if sparse.issparse(X):
        raise TypeError(
            "FrameCoercer reads rows of raw values; sparse input is not supported. Pass a "
            "DataFrame or a dense array."
        )
    array = np.asarray(X)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])


@dataclass(frozen=True)
class FeatureChoices:
    """Choices of one candidate pipeline that override the ``features`` policy.

    Parameters
    ----------
    absolute_time
        Keep year and elapsed days; None follows ``features.absolute_time`` (``"drop"`` drops,
        ``"keep"`` and ``"auto"`` keep). See :func:`absolute_time_options`.
    target_encoding
        Target-encode categoricals with more than ``features.high_cardinality`` labels; None
        follows ``features.target_encoding`` (on unless ``"never"``).
    selection
        A selection method, or ``"none"``; None follows ``features.selection.method``, with
        ``"auto"`` meaning none (the search tries it, see :func:`selection_options`).
    """

    absolute_time: bool | None = None
    target_encoding: bool | None = None
    selection: str | None = None


def build_preprocessor(
    roles: dict[str, str],
    encoding: str,
    cleaning: CleaningConfig | None = None,
    features: FeaturesConfig | None = None,
    *,
    task: TaskKind | None = None,
    seed: int = 0,
    choices: FeatureChoices | None = None,
    numbers: NumberFormat | None = None,
) -> Pipeline:
    """Coercion, cleaning, feature engineering, imputation and encoding for one model family.

    ``encoding="onehot"`` imputes, adds one-hot categories and scales (linear models);
    ``"ordinal"`` gives integer codes and leaves missing numbers to the model (tree ensembles
    split on raw values and route missing values themselves). ``cleaning`` is the declared
    policy (``cleaning:`` in loopml.yaml); its defaults apply when it is None.

    Without ``features`` the pipeline is the plain one: text columns are dropped and datetimes
    give :data:`DATETIME_PARTS`. With ``features`` (``features:`` in loopml.yaml) it adds the
    declared expressions, every part of :data:`ALL_DATETIME_PARTS`, target encoding of
    high-cardinality categoricals (fitted inside the training folds), TF-IDF terms of text
    columns and, when chosen, a feature selection step.

    Parameters
    ----------
    roles
        Column -> role (numeric, boolean, categorical, datetime, text).
    encoding
        ``"onehot"`` or ``"ordinal"``, as the model family needs.
    cleaning
        The cleaning policy.
    features
        The feature engineering policy; None for the plain pipeline.
    task
        The task, so target encoding and selection treat the target right (an integer
        regression target is not a class label); None infers it from the target.
    seed
        Seeds target encoding's inner folds and the selection models.
    choices
        Choices of one candidate that override ``features`` (see :class:`FeatureChoices`);
        None follows ``features`` throughout.
    numbers
        How numbers written as text are read (the training data's decimal mark and
        thousands separator); None for decimal dot and thousands comma.

    Returns
    -------
    Pipeline
        Fitted with ``fit(X, y)`` on raw rows; needs ``y`` when target encoding or selection
        is on. Fit it with ``fit_transform`` to get the cross-fitted training features.
    """
    policy = cleaning or CleaningConfig()
    choices = choices or FeatureChoices()
    if features is None:
        roles = {c: r for c, r in roles.items() if r != "text"}
    datetimes = tuple(c for c, r in roles.items() if r == "datetime")
    plain_numeric = [c for c, r in roles.items() if r == "numeric"]
    numeric: Any = [c for c, r in roles.items() if r in ("numeric", "boolean")]
    numeric += [f"{c}__{p}" for c in datetimes for p in DATETIME_PARTS]
    categorical = [c for c, r in roles.items() if r == "categorical"]
    text = [c for c, r in roles.items() if r == "text"]
    num, cat = _encoders(policy, encoding)
    low_cardinality: Any = categorical
    extra: list[tuple[str, Any, Any]] = []
    expansion = DatetimeExpander(columns=datetimes)
    if features is not None:
        # which datetime parts exist is known at fit (minute where it varies): select by exclusion
        numeric = OtherColumns(tuple(categorical + text))
        keep_absolute = (
            features.absolute_time != "drop"
            if choices.absolute_time is None
            else choices.absolute_time
        )
        expansion = DatetimeExpander(datetimes, ALL_DATETIME_PARTS, absolute_time=keep_absolute)
        low_cardinality, extra = _engineered_parts(
            features, choices, categorical, text, encoding=encoding, task=task, seed=seed
        )
    parts: list[tuple[str, Any, Any]] = [("cat", cat, low_cardinality), *extra]
    if encoding == "onehot":
        parts.insert(0, ("num", num, numeric))
    else:
        parts.insert(0, ("num", "passthrough", numeric))
        if policy.missing.indicators and numeric:
            parts.append(("missing", num, numeric))
    columns = ColumnTransformer(
        parts,
        remainder="drop",
        verbose_feature_names_out=False,
        sparse_threshold=0.0 if features is not None else 0.3,
    )
    steps = _cleaning_steps(roles, policy, categorical, plain_numeric, numbers)
    if features is not None and features.expressions:
        steps.append(("expressions", ExpressionFeatures(dict(features.expressions))))
    steps += [("datetime", expansion), ("columns", columns)]
    if features is not None:
        steps += _selection_step(features, choices.selection, task, seed)
    return Pipeline(steps)


def _encoders(policy: CleaningConfig, encoding: str) -> tuple[Any, Pipeline]:
    """The numeric part (imputed and scaled, or missing indicators) and the categorical one."""
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
    return num, Pipeline([("impute", cat_impute), ("encode", encoder)])


def _engineered_parts(
    features: FeaturesConfig,
    choices: FeatureChoices,
    categorical: list[str],
    text: list[str],
    *,
    encoding: str,
    task: TaskKind | None,
    seed: int,
) -> tuple[Any, list[tuple[str, Any, Any]]]:
    """The categoricals left to the encoder, and the target-encoding and TF-IDF parts."""
    low_cardinality: Any = categorical
    extra: list[tuple[str, Any, Any]] = []
    encode_target = (
        features.target_encoding != "never"
        if choices.target_encoding is None
        else choices.target_encoding
    )
    if encode_target and categorical:
        threshold = features.high_cardinality
        low_cardinality = CardinalityColumns(tuple(categorical), threshold, high=False)
        target: Any = make_target_encoder(task, seed)
        if encoding == "onehot":
            target = Pipeline([("encode", target), ("scale", StandardScaler())])
        high = CardinalityColumns(tuple(categorical), threshold, high=True)
        extra.append(("target", target, high))
    for i, name in enumerate(text):
        vectorizer = TextVectorizer(features.text.max_features, features.text.ngram_max)
        extra.append((f"text{i}", vectorizer, [name]))
    return low_cardinality, extra


def _cleaning_steps(
    roles: dict[str, str],
    policy: CleaningConfig,
    categorical: list[str],
    plain_numeric: list[str],
    numbers: NumberFormat | None,
) -> list[tuple[str, Any]]:
    """Coercion of raw values, then the declared category merging and outlier clipping."""
    steps: list[tuple[str, Any]] = [
        (
            "coerce",
            FrameCoercer(
                roles=dict(roles),
                normalize_categories=policy.categories.normalize,
                decimal=(numbers or NumberFormat()).decimal,
                thousands=(numbers or NumberFormat()).thousands,
            ),
        )
    ]
    if policy.categories.merge_similar and categorical:
        steps.append(
            ("categories", CategoryMerger(tuple(categorical), policy.categories.similarity))
        )
    if policy.outliers == "clip" and plain_numeric:
        steps.append(("outliers", OutlierClipper(tuple(plain_numeric), policy.outlier_quantiles)))
    return steps


def _selection_step(
    features: FeaturesConfig, selection: str | None, task: TaskKind | None, seed: int
) -> list[tuple[str, Any]]:
    """The feature selection step, when one is chosen; else nothing."""
    method = features.selection.method if selection is None else selection
    if method in ("none", "auto") and selection != "auto":
        return []
    # here, not at the top: selection loads scikit-learn's ensembles, inspection and
    # metrics, which a saved pipeline without a selector (or `loopml score`) never needs
    from loopml.features._selectors import FeatureSelector

    chosen = features.selection
    selector = FeatureSelector(
        method=method,
        correlation_threshold=chosen.correlation_threshold,
        max_features=chosen.max_features,
        task=task,
        random_state=seed,
    )
    return [("select", selector)]


def absolute_time_options(features: FeaturesConfig, roles: dict[str, str]) -> tuple[bool, ...]:
    """The ``absolute_time`` values the search should try for ``build_preprocessor``.

    ``"keep"`` and ``"drop"`` fix it; ``"auto"`` tries both (keeping first) when there is a
    datetime column, since year and elapsed time can help or hurt on time-ordered data.

    Examples
    --------
    >>> from loopml.config import FeaturesConfig
    >>> absolute_time_options(FeaturesConfig(), {"when": "datetime"})
    (True, False)
    """
    if features.absolute_time == "drop":
        return (False,)
    if features.absolute_time == "auto" and "datetime" in roles.values():
        return (True, False)
    return (True,)


def selection_options(features: FeaturesConfig) -> tuple[str, ...]:
    """The ``selection`` values the search should try for ``build_preprocessor``.

    A configured method is applied; ``"auto"`` tries without and with the ``"auto"`` selection
    (correlation filter, then dropping features without mutual information), so selection is
    used when cross-validation shows it helps.

    Examples
    --------
    >>> from loopml.config import FeaturesConfig
    >>> selection_options(FeaturesConfig())
    ('none', 'auto')
    """
    method = features.selection.method
    return ("none", "auto") if method == "auto" else (method,)
