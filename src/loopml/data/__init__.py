"""Stage 2 and 3: collect data into a :class:`DataSet`, infer its schema, settle the problem."""

from __future__ import annotations

from loopml._lazy import lazy_exports as _lazy_exports

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.data._draft": ["draft_config"],
        "loopml.data._privacy": ["apply_privacy", "detect_pii", "pii_findings"],
        "loopml.data._problem": ["Problem", "infer_task", "prepare_target", "resolve_problem"],
        "loopml.data._profile": ["Profile", "profile"],
        "loopml.data._quality": ["validate"],
        "loopml.data._schema": [
            "FEATURE_ROLES",
            "ColumnSchema",
            "Schema",
            "infer_schema",
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
        ],
        "loopml.types": ["DataSet"],
    },
)

__all__ = [
    "FEATURE_ROLES",
    "ColumnSchema",
    "DataSet",
    "Problem",
    "Profile",
    "Schema",
    "apply_privacy",
    "collect",
    "detect_pii",
    "draft_config",
    "file_kind",
    "fingerprint",
    "infer_schema",
    "infer_task",
    "load_source",
    "normalize_category",
    "pii_findings",
    "prepare_target",
    "profile",
    "read_file",
    "read_header",
    "reference_statistics",
    "resolve_problem",
    "to_boolean",
    "to_datetime",
    "to_numeric",
    "validate",
]
