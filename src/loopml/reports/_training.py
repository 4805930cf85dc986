"""The training report: one self-contained HTML file (Plotly's JavaScript inlined, no CDN).

Sections: the success gate, the diagnostics' notes, holdout metrics with their bootstrap
intervals, the holdout curves, calibration, lift and gains, the fit checks and learning curve,
what drives the predictions (permutation importance and per-row contributions), the
leaderboard, the model card, and the data's provenance.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from loopml.reports._assets import environment, plotly_js
from loopml.reports._format import ensemble_members, fmt_metric, model_label, round_for_people
from loopml.reports._unsupervised import board_note as _board_note
from loopml.reports._unsupervised import unsupervised_context

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from loopml.evaluation import Diagnostics, Evaluation, UnsupervisedFindings
    from loopml.modeling import Leaderboard

#: Columns shown in the importance charts and the contributions heatmap.
TOP_FEATURES = 20
TOP_CONTRIBUTIONS = 12

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "height": 380,
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
}


def figures(evaluation: Evaluation) -> dict[str, go.Figure]:
    """Plotly figures for the evaluation: ROC, PR, confusion; or residuals, predicted/actual;
    none for clustering and anomaly detection (their report draws its own)."""
    if evaluation.task == "regression":
        return _regression_figures(evaluation.curves)
    if evaluation.task in ("binary", "multiclass"):
        return _classification_figures(evaluation.curves)
    return {}


def _regression_figures(curves: dict[str, Any]) -> dict[str, go.Figure]:
    """Predicted vs actual, and residuals against the prediction."""
    import plotly.graph_objects as go

    figs: dict[str, go.Figure] = {}
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
        [go.Scattergl(x=predicted, y=residuals, mode="markers", marker={"size": 4, "opacity": 0.5})]
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


def _classification_figures(curves: dict[str, Any]) -> dict[str, go.Figure]:
    """ROC and precision–recall curves, and the confusion matrix."""
    import plotly.graph_objects as go

    figs: dict[str, go.Figure] = {}
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


def diagnostic_figures(diagnostics: Diagnostics) -> dict[str, go.Figure]:
    """Plotly figures of the diagnostics, by section.

    Parameters
    ----------
    diagnostics
        The result of :func:`loopml.evaluation.diagnose`.

    Returns
    -------
    dict
        Figure name → figure. Calibration for classification; lift and gains for binary
        tasks; the fit check always; the learning curve when there is one; permutation
        importance and the contributions when they could be computed.
    """
    figs: dict[str, go.Figure] = {}
    if diagnostics.calibration is not None:
        figs["calibration"] = _calibration_figure(diagnostics)
        figs["probability_bins"] = _probability_bins_figure(diagnostics)
    if diagnostics.lift is not None and diagnostics.lift.rows:
        figs["gains"], figs["lift"] = _lift_figures(diagnostics)
    figs["fit_check"] = _fit_figure(diagnostics)
    if diagnostics.learning_curve.absent is None:  # one point is not a curve
        figs["learning_curve"] = _learning_figure(diagnostics)
    if diagnostics.permutation is not None and diagnostics.permutation.features:
        figs["permutation_importance"] = _permutation_figure(diagnostics)
    expl = diagnostics.explanations
    if expl is not None and expl.rows:
        figs["mean_contributions"] = _mean_contribution_figure(diagnostics)
        figs["contributions"] = _contribution_figure(diagnostics)
    return figs


def _go() -> Any:
    import plotly.graph_objects as go  # heavy; only training reports need it

    return go


def _finite(values: list[float]) -> list[float | None]:
    return [v if v is not None and math.isfinite(v) else None for v in values]


def _calibration_figure(d: Diagnostics) -> go.Figure:
    go = _go()
    cal = d.calibration
    assert cal is not None
    fig = go.Figure()
    for curve in cal.curves:
        fig.add_trace(
            go.Scatter(
                x=list(curve.mean_predicted),
                y=list(curve.fraction_positive),
                mode="lines+markers",
                name=f"{curve.label} (Brier {curve.brier:.3f})",
                customdata=list(curve.counts),
                hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata} rows",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line={"dash": "dash", "color": "grey"},
        )
    )
    kind = "multiclass " if len(cal.curves) > 1 else ""
    fig.update_layout(
        title=f"Calibration ({kind}Brier score {cal.brier:.4f})",
        xaxis_title="mean predicted probability (bin)",
        yaxis_title="observed frequency",
        xaxis_range=[0, 1],
        yaxis_range=[0, 1.02],
        **_LAYOUT,
    )
    return fig


def _probability_bins_figure(d: Diagnostics) -> go.Figure:
    go = _go()
    cal = d.calibration
    assert cal is not None
    width = 1.0 / cal.n_bins
    fig = go.Figure()
    for curve in cal.curves:
        centres = [
            (min(int(p / width), cal.n_bins - 1) + 0.5) * width for p in curve.mean_predicted
        ]
        one = len(cal.curves) == 1  # grouped bars of several classes share the bin's width
        fig.add_trace(
            go.Bar(x=centres, y=list(curve.counts), name=curve.label, width=width if one else None)
        )
    fig.update_layout(
        title="Holdout rows per probability bin",
        xaxis_title="predicted probability",
        yaxis_title="rows",
        xaxis_range=[0, 1],
        barmode="group" if len(cal.curves) > 1 else "relative",
        showlegend=len(cal.curves) > 1,
        **_LAYOUT,
    )
    return fig


def _lift_figures(d: Diagnostics) -> tuple[go.Figure, go.Figure]:
    go = _go()
    lift = d.lift
    assert lift is not None
    x, y = lift.gains_curve()
    base = lift.base_rate
    gains = go.Figure(
        [
            go.Scatter(x=x, y=_finite(y), mode="lines+markers", name="model"),
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="random", line={"dash": "dash"}),
            go.Scatter(
                x=[0, base, 1] if base and base < 1 else [0, 1],
                y=[0, 1, 1] if base and base < 1 else [0, 1],
                mode="lines",
                name="perfect",
                line={"dash": "dot", "color": "grey"},
            ),
        ]
    )
    gains.update_layout(
        title=f"Cumulative gains ({lift.positive_class!r} found)",
        xaxis_title="share of rows targeted (highest scores first)",
        yaxis_title=f"share of all {lift.positive_class!r} rows found",
        **_LAYOUT,
    )
    groups = [f"{r.group}" for r in lift.rows]
    bars = go.Figure(
        [
            go.Bar(x=groups, y=_finite([r.lift for r in lift.rows]), name="lift of the group"),
            go.Scatter(
                x=groups,
                y=_finite([r.cumulative_lift for r in lift.rows]),
                mode="lines+markers",
                name="cumulative lift",
            ),
        ]
    )
    bars.add_hline(y=1, line_dash="dash", line_color="grey")
    bars.update_layout(
        title=f"Lift by group of {100 // max(len(lift.rows), 1)}% of rows (base rate {base:.1%})",
        xaxis_title="group (1 = highest scores)",
        yaxis_title="lift (rate ÷ base rate)",
        **_LAYOUT,
    )
    return gains, bars


def _fit_figure(d: Diagnostics) -> go.Figure:
    go = _go()
    fit, iv = d.fit, d.interval
    names = ["dummy baseline (holdout)", "holdout", "cross-validation", "training rows"]
    values = [fit.dummy, iv.value, fit.cv_mean, fit.train]
    plus = [0.0, iv.high - iv.value, fit.cv_std, 0.0]
    minus = [0.0, iv.value - iv.low, fit.cv_std, 0.0]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=_finite(values),
            error_y={
                "type": "data",
                "symmetric": False,
                "array": _finite(plus),
                "arrayminus": _finite(minus),
            },
            marker_color=["#9aa5b1", "#2f80ed", "#27ae60", "#f2994a"],
            text=[fmt_metric(v) if math.isfinite(v) else "n/a" for v in values],
            textposition="inside",
            insidetextanchor="middle",
            textfont={"color": "white"},
        )
    )
    direction = "higher" if d.greater_is_better else "lower"
    fig.update_layout(
        title=f"{d.metric}: baseline, holdout ({iv.level:.0%} CI), CV (± std), train",
        yaxis_title=f"{d.metric} ({direction} is better)",
        showlegend=False,
        **_LAYOUT,
    )
    return fig


def _learning_figure(d: Diagnostics) -> go.Figure:
    go = _go()
    curve = d.learning_curve
    rows = [p.rows for p in curve.points]
    fig = go.Figure(
        [
            go.Scatter(
                x=rows,
                y=_finite([p.holdout for p in curve.points]),
                mode="lines+markers",
                name="holdout",
            ),
            go.Scatter(
                x=rows,
                y=_finite([p.train for p in curve.points]),
                mode="lines+markers",
                name="training rows",
                line={"dash": "dot"},
            ),
            go.Scatter(
                x=[d.n_train],
                y=_finite([d.fit.cv_mean]),
                error_y={"type": "data", "array": _finite([d.fit.cv_std])},
                mode="markers",
                name="cross-validation",
                marker={"symbol": "diamond", "size": 10},
            ),
        ]
    )
    if math.isfinite(d.fit.dummy):
        fig.add_hline(
            y=d.fit.dummy,
            line_dash="dash",
            line_color="grey",
            annotation_text="dummy baseline",
            annotation_position="top left",
        )
    title = "Learning curve"
    if curve.skipped:
        title += f" ({len(curve.skipped)} point(s) skipped, see notes)"
    fig.update_layout(title=title, xaxis_title="training rows", yaxis_title=curve.metric, **_LAYOUT)
    return fig


def _hbar(
    names: list[str], values: list[float], errors: list[float] | None, title: str, axis: str
) -> go.Figure:
    go = _go()
    height = max(_LAYOUT["height"], 90 + 22 * len(names))
    fig = go.Figure(
        go.Bar(
            x=_finite(values),
            y=names,
            orientation="h",
            error_x=None if errors is None else {"type": "data", "array": _finite(errors)},
            marker_color="#2f80ed",
        )
    )
    layout = {**_LAYOUT, "height": height, "margin": {**_LAYOUT["margin"], "l": 140}}
    fig.update_layout(title=title, xaxis_title=axis, yaxis_autorange="reversed", **layout)
    return fig


def _permutation_figure(d: Diagnostics) -> go.Figure:
    perm = d.permutation
    assert perm is not None
    # columns whose shuffling never changed the score (ids the pipeline drops, unused ones)
    moved = [f for f in perm.features if f.mean != 0 or f.std != 0] or list(perm.features)
    top = moved[:TOP_FEATURES]
    unchanged = len(perm.features) - len(moved)
    hidden = f"; {unchanged} unchanged column(s) hidden" if unchanged else ""
    return _hbar(
        [f.feature for f in top],
        [f.mean for f in top],
        [f.std for f in top],
        f"Permutation importance ({perm.n_rows} rows × {perm.n_repeats} shuffles)",
        f"loss of {perm.metric} when shuffled{hidden}",
    )


def _mean_contribution_figure(d: Diagnostics) -> go.Figure:
    expl = d.explanations
    assert expl is not None
    top = list(expl.mean_abs.items())[:TOP_FEATURES]
    return _hbar(
        [k for k, _ in top],
        [v for _, v in top],
        None,
        f"Mean |contribution| over {expl.n_rows} holdout rows",
        f"mean absolute contribution ({expl.output})",
    )


def _contribution_figure(d: Diagnostics) -> go.Figure:
    go = _go()
    expl = d.explanations
    assert expl is not None
    features = list(expl.mean_abs)[:TOP_CONTRIBUTIONS] or list(expl.rows[0].contributions)
    labels = [_row_label(r) for r in expl.rows]
    z = [[r.contributions.get(f, 0.0) for f in features] for r in expl.rows]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=features,
            y=labels,
            zmid=0,
            colorscale="RdBu",
            reversescale=True,
            text=[[f"{v:+.3g}" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="%{y}<br>%{x}: %{z:+.4g}<extra></extra>",
            colorbar={"title": {"text": "contribution"}},
        )
    )
    layout = {**_LAYOUT, "height": max(_LAYOUT["height"], 120 + 48 * len(labels))}
    layout["margin"] = {**_LAYOUT["margin"], "l": 230}
    fig.update_layout(
        title=f"Contributions to the {expl.output}, for {len(labels)} holdout rows",
        yaxis_autorange="reversed",
        **layout,
    )
    return fig


def _row_label(row: Any) -> str:
    prediction = f"{row.prediction:.4g}" if isinstance(row.prediction, float) else row.prediction
    actual = f"{row.actual:.4g}" if isinstance(row.actual, float) else row.actual
    return f"row {row.row}: predicted {prediction}, actual {actual}"


def _metric_rows(evaluation: Evaluation, diagnostics: Diagnostics | None) -> list[dict[str, Any]]:
    rows = []
    for name, value in evaluation.metrics.items():
        iv = diagnostics.intervals.get(name) if diagnostics is not None else None
        if iv is not None and not math.isfinite(iv.low):
            iv = None
        rows.append(
            {
                "name": name,
                "value": value,
                "low": None if iv is None else iv.low,
                "high": None if iv is None else iv.high,
                "primary": name == evaluation.metric,
            }
        )
    return rows


def _headline_interval(diagnostics: Diagnostics | None) -> str:
    if diagnostics is None or not math.isfinite(diagnostics.interval.low):
        return ""
    iv = diagnostics.interval
    return f"{iv.level:.0%} CI {fmt_metric(iv.low)}–{fmt_metric(iv.high)}"


def _default_card(
    evaluation: Evaluation, diagnostics: Diagnostics, summary: dict[str, Any]
) -> dict[str, Any]:
    from loopml.data import Problem
    from loopml.evaluation import model_card

    problem = Problem(
        task=diagnostics.task,
        target=diagnostics.target,
        metric=diagnostics.metric,
        gate=None,
        classes=diagnostics.classes,
        positive_class=diagnostics.positive_class,
    )
    return model_card(
        problem, evaluation, diagnostics, data=summary, model=str(summary.get("model", "?"))
    )


def render_training_report(
    *,
    title: str,
    evaluation: Evaluation,
    leaderboard: Leaderboard,
    summary: dict[str, Any],
    promotion: str,
    diagnostics: Diagnostics | None = None,
    model_card: dict[str, Any] | None = None,
    unsupervised: UnsupervisedFindings | None = None,
) -> str:
    """The HTML text of the training report.

    Parameters
    ----------
    title
        The page title.
    evaluation
        Holdout metrics, curves and the gate.
    leaderboard
        Every trial of the search.
    summary
        Task, target, model and the data's provenance (shown as a table).
    promotion
        The alias decision, one sentence.
    diagnostics
        Holdout diagnostics (:func:`loopml.evaluation.diagnose`): adds the notes, the metric
        intervals, and the calibration, lift, fit, learning-curve, importance and
        contribution sections.
    model_card
        The model card (:func:`loopml.evaluation.model_card`). Without it, a card is built
        from ``summary`` when ``diagnostics`` is given.
    unsupervised
        What a clustering or anomaly model's report explains
        (:func:`loopml.evaluation.unsupervised_findings`): adds the sections on the chosen
        clustering and its clusters, or on the detector, its threshold and the most
        anomalous holdout rows.

    Returns
    -------
    str
        A complete HTML page that loads nothing from the network.
    """
    figs = figures(evaluation)
    extra = diagnostic_figures(diagnostics) if diagnostics is not None else {}
    found, found_figs = (None, {}) if unsupervised is None else unsupervised_context(unsupervised)
    every = {**figs, **extra, **found_figs}
    fig_json = {name: json.loads(fig.to_json()) for name, fig in every.items()}
    if model_card is None and diagnostics is not None:
        model_card = _default_card(evaluation, diagnostics, summary)
    template = environment().get_template("training.html")
    ranked = leaderboard.ranked()
    ranks = {t.number: i + 1 for i, t in enumerate(ranked)}
    rows = [
        {
            "rank": ranks[t.number],
            "family": model_label(t, leaderboard.trials),
            "source": t.source,
            "status": t.label,  # "not started" for a family the budget left no time for
            "mean": t.mean if t.fold_scores else None,
            "std": t.std if len(t.fold_scores) > 1 else None,  # one score has no spread
            "seconds": t.seconds if t.started else None,
            "latency_ms": getattr(t, "latency_ms", None),  # max_latency_ms set: measured
            "params": (
                "members: " + ensemble_members(t, leaderboard.trials, ranks)
                if t.family in ("ensemble", "bag")
                else json.dumps(round_for_people(t.params), default=str)
            ),
        }
        for t in ranked
    ]
    return template.render(
        title=title,
        evaluation=evaluation,
        diagnostics=diagnostics,
        card=model_card,
        headline_interval=_headline_interval(diagnostics),
        metric_rows=_metric_rows(evaluation, diagnostics),
        leaderboard=leaderboard,
        rows=rows,
        timed=any(r["latency_ms"] is not None for r in rows),
        summary=summary,
        promotion=promotion,
        figures=fig_json,
        curve_figures=list(figs),
        unsupervised=found,
        board_note=_board_note(leaderboard, unsupervised),
        plotly_js=plotly_js(),
    )
