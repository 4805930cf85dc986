"""HTML reports: Jinja2 templates and Plotly figures, self-contained for offline use."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.reports._format import model_label
    from loopml.reports._monitoring import render_monitoring_report
    from loopml.reports._profile import render_profile_report
    from loopml.reports._training import figures, render_training_report

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.reports._format": ["model_label"],
        "loopml.reports._monitoring": ["render_monitoring_report"],
        "loopml.reports._profile": ["render_profile_report"],
        "loopml.reports._training": ["figures", "render_training_report"],
    },
)

__all__ = [
    "figures",
    "model_label",
    "render_monitoring_report",
    "render_profile_report",
    "render_training_report",
]
