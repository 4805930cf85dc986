"""Stage 4: feature engineering and preprocessing, all scikit-learn transformers."""

from __future__ import annotations

from loopml.features._cleaning import CategoryMerger, OutlierClipper
from loopml.features._transformers import (
    DATETIME_PARTS,
    DatetimeExpander,
    FrameCoercer,
    build_preprocessor,
)

__all__ = [
    "DATETIME_PARTS",
    "CategoryMerger",
    "DatetimeExpander",
    "FrameCoercer",
    "OutlierClipper",
    "build_preprocessor",
]
