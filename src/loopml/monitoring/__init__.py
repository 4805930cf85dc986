"""Stage 8: monitoring over the prediction log: reference statistics, drift with FDR control,
data quality, performance on late labels and estimated before them, alerts (issue 11)."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.monitoring._contract import (
        EXIT_DRIFT,
        REFERENCE_FORMAT,
        DriftReport,
        FeatureDrift,
        Performance,
        QualityDrift,
        VariantComparison,
        WindowReport,
    )
    from loopml.monitoring._drift import data_quality, feature_drift, prediction_drift
    from loopml.monitoring._monitor import (
        MonitorResult,
        MonitorSpan,
        finish_monitoring,
        log_span,
        monitor,
        monitor_log,
        open_log,
    )
    from loopml.monitoring._performance import estimated_performance, realised_performance
    from loopml.monitoring._reference import Reference, build_reference
    from loopml.monitoring._sketch import (
        merge_stats,
        partitioned_stats,
        reference_from_partitions,
        sketch_drift,
    )
    from loopml.monitoring._variants import compare_variants
    from loopml.monitoring._window_store import (
        WINDOW_STORE,
        WindowKey,
        WindowStore,
        window_from_dict,
    )

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.monitoring._contract": [
            "EXIT_DRIFT",
            "REFERENCE_FORMAT",
            "DriftReport",
            "FeatureDrift",
            "Performance",
            "QualityDrift",
            "VariantComparison",
            "WindowReport",
        ],
        "loopml.monitoring._drift": ["data_quality", "feature_drift", "prediction_drift"],
        "loopml.monitoring._monitor": [
            "MonitorResult",
            "MonitorSpan",
            "finish_monitoring",
            "log_span",
            "monitor",
            "monitor_log",
            "open_log",
        ],
        "loopml.monitoring._performance": ["estimated_performance", "realised_performance"],
        "loopml.monitoring._reference": ["Reference", "build_reference"],
        "loopml.monitoring._sketch": [
            "merge_stats",
            "partitioned_stats",
            "reference_from_partitions",
            "sketch_drift",
        ],
        "loopml.monitoring._variants": ["compare_variants"],
        "loopml.monitoring._window_store": [
            "WINDOW_STORE",
            "WindowKey",
            "WindowStore",
            "window_from_dict",
        ],
    },
)

__all__ = [
    "EXIT_DRIFT",
    "REFERENCE_FORMAT",
    "WINDOW_STORE",
    "DriftReport",
    "FeatureDrift",
    "MonitorResult",
    "MonitorSpan",
    "Performance",
    "QualityDrift",
    "Reference",
    "VariantComparison",
    "WindowKey",
    "WindowReport",
    "WindowStore",
    "build_reference",
    "compare_variants",
    "data_quality",
    "estimated_performance",
    "feature_drift",
    "finish_monitoring",
    "log_span",
    "merge_stats",
    "monitor",
    "monitor_log",
    "open_log",
    "partitioned_stats",
    "prediction_drift",
    "realised_performance",
    "reference_from_partitions",
    "sketch_drift",
    "window_from_dict",
]
