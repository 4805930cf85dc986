"""Stage 4: feature engineering, preprocessing and selection, all scikit-learn transformers."""

from __future__ import annotations

from loopml.features._cleaning import CategoryMerger, OutlierClipper
from loopml.features._encoding import TextVectorizer
from loopml.features._expressions import ExpressionFeatures, check_expressions
from loopml.features._selection import (
    SelectionResult,
    correlation_filter,
    mutual_info_ranking,
    permutation_ranking,
    rfe_selection,
    select_features,
)
from loopml.features._selectors import (
    CorrelationFilter,
    FeatureSelector,
    SelectionCheck,
    selection_helps,
    selection_result,
)
from loopml.features._transformers import (
    ABSOLUTE_TIME_PARTS,
    ALL_DATETIME_PARTS,
    DATETIME_PARTS,
    DatetimeExpander,
    FrameCoercer,
    absolute_time_options,
    build_preprocessor,
    selection_options,
)

__all__ = [
    "ABSOLUTE_TIME_PARTS",
    "ALL_DATETIME_PARTS",
    "DATETIME_PARTS",
    "CategoryMerger",
    "CorrelationFilter",
    "DatetimeExpander",
    "ExpressionFeatures",
    "FeatureSelector",
    "FrameCoercer",
    "OutlierClipper",
    "SelectionCheck",
    "SelectionResult",
    "TextVectorizer",
    "absolute_time_options",
    "build_preprocessor",
    "check_expressions",
    "correlation_filter",
    "mutual_info_ranking",
    "permutation_ranking",
    "rfe_selection",
    "select_features",
    "selection_helps",
    "selection_options",
    "selection_result",
]
