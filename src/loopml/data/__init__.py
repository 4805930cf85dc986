"""Stage 2 and 3: collect data into a :class:`DataSet`, infer its schema, settle the problem."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.data._dataset import dataset_files, is_dataset
    from loopml.data._dialect import CsvDialect, model_input_dialect, sniff_dialect
    from loopml.data._draft import draft_config
    from loopml.data._labels import merge_map
    from loopml.data._numbers import NumberFormat
    from loopml.data._prepare import (
        LabelledRows,
        PreparedData,
        check_declared_columns,
        check_quality,
        holdout_mismatch,
        labelled_rows,
        prepare_data,
        profile_data,
        protect,
        quality_report,
    )
    from loopml.data._privacy import (
        PrivacyReplay,
        apply_privacy,
        detect_pii,
        hash_text,
        pii_findings,
        privacy_replay,
    )
    from loopml.data._problem import (
        Problem,
        check_target_column,
        infer_task,
        prepare_target,
        resolve_problem,
    )
    from loopml.data._profile import Profile, profile
    from loopml.data._profile_parts import profile_parquet, profile_partitions
    from loopml.data._profile_types import Association, ColumnProfile, Histogram, Matrix
    from loopml.data._quality import TableSpec, validate
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
    from loopml.data._split import Split, choose_strategy, holdout_split
    from loopml.data._watermark import read_watermark, write_watermark
    from loopml.types import DataSet

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.data._dialect": ["CsvDialect", "model_input_dialect", "sniff_dialect"],
        "loopml.data._draft": ["draft_config"],
        "loopml.data._labels": ["merge_map"],
        "loopml.data._numbers": ["NumberFormat"],
        "loopml.data._prepare": [
            "LabelledRows",
            "PreparedData",
            "check_declared_columns",
            "check_quality",
            "holdout_mismatch",
            "labelled_rows",
            "prepare_data",
            "profile_data",
            "protect",
            "quality_report",
        ],
        "loopml.data._privacy": [
            "PrivacyReplay",
            "apply_privacy",
            "detect_pii",
            "hash_text",
            "pii_findings",
            "privacy_replay",
        ],
        "loopml.data._problem": [
            "Problem",
            "check_target_column",
            "infer_task",
            "prepare_target",
            "resolve_problem",
        ],
        "loopml.data._dataset": ["dataset_files", "is_dataset"],
        "loopml.data._profile": ["Profile", "profile"],
        "loopml.data._profile_parts": ["profile_parquet", "profile_partitions"],
        "loopml.data._profile_types": ["Association", "ColumnProfile", "Histogram", "Matrix"],
        "loopml.data._quality": ["TableSpec", "validate"],
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
        "loopml.data._split": ["Split", "choose_strategy", "holdout_split"],
        "loopml.data._sources": [
            "collect",
            "file_kind",
            "fingerprint",
            "load_source",
            "read_file",
            "read_header",
            "source_dialect",
        ],
        "loopml.data._watermark": ["read_watermark", "write_watermark"],
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
    "LabelledRows",
    "Matrix",
    "NumberFormat",
    "PreparedData",
    "PrivacyReplay",
    "Problem",
    "Profile",
    "Schema",
    "Split",
    "TableSpec",
    "apply_privacy",
    "check_declared_columns",
    "check_quality",
    "check_target_column",
    "choose_strategy",
    "collect",
    "dataset_files",
    "detect_pii",
    "draft_config",
    "file_kind",
    "fingerprint",
    "hash_text",
    "holdout_mismatch",
    "holdout_split",
    "infer_schema",
    "infer_task",
    "is_dataset",
    "labelled_rows",
    "load_source",
    "merge_map",
    "missing_mask",
    "model_input_dialect",
    "normalize_category",
    "pii_findings",
    "prepare_data",
    "prepare_target",
    "privacy_replay",
    "profile",
    "profile_data",
    "profile_parquet",
    "profile_partitions",
    "protect",
    "quality_report",
    "read_file",
    "read_header",
    "read_watermark",
    "reference_statistics",
    "resolve_problem",
    "sniff_dialect",
    "source_dialect",
    "to_boolean",
    "to_datetime",
    "to_numeric",
    "validate",
    "write_watermark",
]
