"""HTML reports: Jinja2 templates and Plotly figures, self-contained for offline use."""

from __future__ import annotations

from loopml.reports._format import model_label
from loopml.reports._profile import render_profile_report
from loopml.reports._training import figures, render_training_report

__all__ = ["figures", "model_label", "render_profile_report", "render_training_report"]
