"""Stage 4: feature engineering, preprocessing and selection, all scikit-learn transformers."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
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
        make_selector,
        selection_helps,
        selection_result,
    )
    from loopml.features._transformers import (
        ABSOLUTE_TIME_PARTS,
        ALL_DATETIME_PARTS,
        DATETIME_PARTS,
        DatetimeExpander,
        FeatureChoices,
        FrameCoercer,
        absolute_time_options,
        build_preprocessor,
        selection_options,
    )

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.features._cleaning": ["CategoryMerger", "OutlierClipper"],
        "loopml.features._encoding": ["TextVectorizer"],
        "loopml.features._expressions": ["ExpressionFeatures", "check_expressions"],
        "loopml.features._selection": [
            "SelectionResult",
            "correlation_filter",
            "mutual_info_ranking",
            "permutation_ranking",
            "rfe_selection",
            "select_features",
        ],
        "loopml.features._selectors": [
            "CorrelationFilter",
            "FeatureSelector",
            "SelectionCheck",
            "make_selector",
            "selection_helps",
            "selection_result",
        ],
        "loopml.features._transformers": [
            "ABSOLUTE_TIME_PARTS",
            "ALL_DATETIME_PARTS",
            "DATETIME_PARTS",
            "DatetimeExpander",
            "FeatureChoices",
            "FrameCoercer",
            "absolute_time_options",
            "build_preprocessor",
            "selection_options",
        ],
    },
)

__all__ = [
    "ABSOLUTE_TIME_PARTS",
    "ALL_DATETIME_PARTS",
    "DATETIME_PARTS",
    "CategoryMerger",
    "CorrelationFilter",
    "DatetimeExpander",
    "ExpressionFeatures",
    "FeatureChoices",
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
    "make_selector",
    "mutual_info_ranking",
    "permutation_ranking",
    "rfe_selection",
    "select_features",
    "selection_helps",
    "selection_options",
    "selection_result",
]
