"""The training report: one self-contained HTML file (Plotly's JavaScript inlined, no CDN)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from loopml.reports._assets import environment, plotly_js

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from loopml.evaluation import Evaluation
    from loopml.modeling import Leaderboard

_LAYOUT = {
    "template": "plotly_white",
    "height": 380,
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
}


def figures(evaluation: Evaluation) -> dict[str, go.Figure]:
    """Plotly figures for the evaluation: ROC, PR, confusion; or residuals, predicted/actual."""
    import plotly.graph_objects as go  # heavy; only training reports need it

    curves = evaluation.curves
    figs: dict[str, go.Figure] = {}
    if evaluation.task == "regression":
        actual, predicted = curves.get("actual", []), curves.get("predicted", [])
        lo = min(actual + predicted, default=0.0)
        hi = max(actual + predicted, default=1.0)
        fig = go.Figure(
            [
                go.Scattergl(
                    x=actual,
                    y=predicted,
                    mode="markers",
                    name="rows",
                    marker={"size": 4, "opacity": 0.5},
                ),
                go.Scatter(
                    x=[lo, hi],
                    y=[lo, hi],
                    mode="lines",
                    name="perfect",
                    line={"dash": "dash", "color": "grey"},
                ),
            ]
        )
        fig.update_layout(
            title="Predicted vs actual", xaxis_title="actual", yaxis_title="predicted", **_LAYOUT
        )
        figs["predicted_vs_actual"] = fig
        residuals = [p - a for a, p in zip(actual, predicted, strict=True)]
        fig = go.Figure(
            [
                go.Scattergl(
                    x=predicted, y=residuals, mode="markers", marker={"size": 4, "opacity": 0.5}
                )
            ]
        )
        fig.add_hline(y=0, line_dash="dash", line_color="grey")
        fig.update_layout(
            title="Residuals (predicted − actual)",
            xaxis_title="predicted",
            yaxis_title="residual",
            **_LAYOUT,
        )
        figs["residuals"] = fig
        return figs
    roc = go.Figure()
    for name, pts in curves.get("roc", {}).items():
        roc.add_trace(go.Scatter(x=pts["fpr"], y=pts["tpr"], mode="lines", name=name))
    roc.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dash", "color": "grey"}
        )
    )
    roc.update_layout(
        title="ROC curve",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        **_LAYOUT,
    )
    figs["roc"] = roc
    pr = go.Figure()
    for name, pts in curves.get("pr", {}).items():
        pr.add_trace(go.Scatter(x=pts["recall"], y=pts["precision"], mode="lines", name=name))
    pr.update_layout(
        title="Precision–recall curve", xaxis_title="recall", yaxis_title="precision", **_LAYOUT
    )
    figs["pr"] = pr
    labels = curves.get("labels", [])
    matrix = curves.get("confusion", [])
    cm = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="actual %{y}<br>predicted %{x}: %{z}",
        )
    )
    cm.update_layout(
        title="Confusion matrix (holdout)",
        xaxis_title="predicted",
        yaxis_title="actual",
        yaxis_autorange="reversed",
        **_LAYOUT,
    )
    figs["confusion"] = cm
    return figs


def render_training_report(
    *,
    title: str,
    evaluation: Evaluation,
    leaderboard: Leaderboard,
    summary: dict[str, Any],
    promotion: str,
) -> str:
    """The HTML text of the training report."""
    figs = figures(evaluation)
    fig_json = {name: json.loads(fig.to_json()) for name, fig in figs.items()}
    template = environment().get_template("training.html")
    rows = [
        {
            "rank": i + 1,
            "family": t.family,
            "source": t.source,
            "status": t.status,
            "mean": t.mean,
            "std": t.std,
            "seconds": t.seconds,
            "params": json.dumps(t.params, default=str),
        }
        for i, t in enumerate(leaderboard.ranked())
    ]
    return template.render(
        title=title,
        evaluation=evaluation,
        leaderboard=leaderboard,
        rows=rows,
        summary=summary,
        promotion=promotion,
        figures=fig_json,
        plotly_js=plotly_js(),
    )
