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
        WindowReport,
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
            "WindowReport",
        ],
    },
)

__all__ = [
    "EXIT_DRIFT",
    "REFERENCE_FORMAT",
    "DriftReport",
    "FeatureDrift",
    "Performance",
    "QualityDrift",
    "WindowReport",
]
