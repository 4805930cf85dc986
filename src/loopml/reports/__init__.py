"""HTML reports: Jinja2 templates and Plotly figures, self-contained for offline use."""

from __future__ import annotations

from loopml._lazy import lazy_exports as _lazy_exports

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.reports._format": ["model_label"],
        "loopml.reports._profile": ["render_profile_report"],
        "loopml.reports._training": ["figures", "render_training_report"],
    },
)

__all__ = ["figures", "model_label", "render_profile_report", "render_training_report"]
