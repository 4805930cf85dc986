"""Stage 2 and 3: collect data into a :class:`DataSet`, infer its schema, settle the problem."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.data._dialect import CsvDialect, model_input_dialect, sniff_dialect
    from loopml.data._draft import draft_config
    from loopml.data._labels import merge_map
    from loopml.data._numbers import NumberFormat
    from loopml.data._privacy import apply_privacy, detect_pii, pii_findings
    from loopml.data._problem import (
        Problem,
        check_target_column,
        infer_task,
        prepare_target,
        resolve_problem,
    )
    from loopml.data._profile import Profile, profile
    from loopml.data._profile_types import Association, ColumnProfile, Histogram, Matrix
    from loopml.data._quality import validate
    from loopml.data._schema import (
        FEATURE_ROLES,
        ColumnSchema,
        Schema,
        infer_schema,
        missing_mask,
        normalize_category,
        reference_statistics,
        to_boolean,
        to_datetime,
        to_numeric,
    )
    from loopml.data._sources import (
        collect,
        file_kind,
        fingerprint,
        load_source,
        read_file,
        read_header,
        source_dialect,
    )
    from loopml.types import DataSet

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.data._dialect": ["CsvDialect", "model_input_dialect", "sniff_dialect"],
        "loopml.data._draft": ["draft_config"],
        "loopml.data._labels": ["merge_map"],
        "loopml.data._numbers": ["NumberFormat"],
        "loopml.data._privacy": ["apply_privacy", "detect_pii", "pii_findings"],
        "loopml.data._problem": [
            "Problem",
            "check_target_column",
            "infer_task",
            "prepare_target",
            "resolve_problem",
        ],
        "loopml.data._profile": ["Profile", "profile"],
        "loopml.data._profile_types": ["Association", "ColumnProfile", "Histogram", "Matrix"],
        "loopml.data._quality": ["validate"],
        "loopml.data._schema": [
            "FEATURE_ROLES",
            "ColumnSchema",
            "Schema",
            "infer_schema",
            "missing_mask",
            "normalize_category",
            "reference_statistics",
            "to_boolean",
            "to_datetime",
            "to_numeric",
        ],
        "loopml.data._sources": [
            "collect",
            "file_kind",
            "fingerprint",
            "load_source",
            "read_file",
            "read_header",
            "source_dialect",
        ],
        "loopml.types": ["DataSet"],
    },
)

__all__ = [
    "FEATURE_ROLES",
    "Association",
    "ColumnProfile",
    "ColumnSchema",
    "CsvDialect",
    "DataSet",
    "Histogram",
    "Matrix",
    "NumberFormat",
    "Problem",
    "Profile",
    "Schema",
    "apply_privacy",
    "check_target_column",
    "collect",
    "detect_pii",
    "draft_config",
    "file_kind",
    "fingerprint",
    "infer_schema",
    "infer_task",
    "load_source",
    "merge_map",
    "missing_mask",
    "model_input_dialect",
    "normalize_category",
    "pii_findings",
    "prepare_target",
    "profile",
    "read_file",
    "read_header",
    "reference_statistics",
    "resolve_problem",
    "sniff_dialect",
    "source_dialect",
    "to_boolean",
    "to_datetime",
    "to_numeric",
    "validate",
]
