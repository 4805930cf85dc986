"""Stage 2 and 3: collect data into a :class:`DataSet`, infer its schema, settle the problem."""

from __future__ import annotations

from loopml.data._dialect import CsvDialect, model_input_dialect, sniff_dialect
from loopml.data._draft import draft_config
from loopml.data._numbers import NumberFormat
from loopml.data._privacy import apply_privacy, detect_pii, pii_findings
from loopml.data._problem import Problem, infer_task, prepare_target, resolve_problem
from loopml.data._profile import Profile, profile
from loopml.data._quality import validate
from loopml.data._schema import (
    FEATURE_ROLES,
    ColumnSchema,
    Schema,
    infer_schema,
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

__all__ = [
    "FEATURE_ROLES",
    "ColumnSchema",
    "CsvDialect",
    "DataSet",
    "NumberFormat",
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
