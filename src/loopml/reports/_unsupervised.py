"""The training report's sections for clustering and anomaly detection (issue 14).

Clustering: why this clustering (the search's reason, whether it is structure, how new rows
are assigned), every candidate scored, the clusters' sizes, what sets each cluster apart
(its distinguishing features, centroid and medoid) and a 2-D projection of the rows.
Anomaly detection: the detector and its threshold, each detector's held-out scores when
there are labels, the holdout's anomaly scores against the threshold and its most anomalous
rows.

:func:`unsupervised_context` turns :class:`~loopml.evaluation.UnsupervisedFindings` into
plain values for the template (text is escaped there) and Plotly figures.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from loopml.reports._format import fmt_sig

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from loopml.evaluation import ClusterProfile, UnsupervisedFindings
    from loopml.modeling import AnomalyResult, ClusteringResult, Leaderboard

#: Features of the centroid table; the rest are counted, not shown.
CENTROID_FEATURES = 30
#: Bars of the holdout scores' histogram.
SCORE_BINS = 60
#: Algorithms that assign new rows themselves (the others through a surrogate classifier).
SELF_ASSIGNING = ("kmeans", "gmm")

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "height": 380,
    "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
}
_NOISE_COLOUR = "#9aa5b1"
_FLAG_COLOUR = "#d64545"
_PLAIN_COLOUR = "#2f80ed"


def unsupervised_context(
    findings: UnsupervisedFindings,
) -> tuple[dict[str, Any], dict[str, go.Figure]]:
    """The template's values for ``findings`` and their figures (name → figure).

    Returns
    -------
    tuple
        ``({"task", "model", "reason", "clustering" | "anomaly": {...}}, figures)``;
        figures ``projection`` and ``cluster_sizes`` for clustering, ``anomaly_scores`` for
        anomaly detection.
    """
    context: dict[str, Any] = {
        "task": findings.task,
        "model": findings.model,
        "reason": findings.reason,
        "clustering": None,
        "anomaly": None,
    }
    figs: dict[str, go.Figure] = {}
    if findings.clustering is not None:
        colours = _cluster_colours(findings.clustering)
        context["clustering"] = _clustering_context(findings.clustering, findings.profiles)
        for profile in context["clustering"]["profiles"]:
            profile["colour"] = colours.get(profile["cluster"], _NOISE_COLOUR)
        if findings.clustering.projection.get("x"):
            figs["projection"] = _projection_figure(findings.clustering, colours)
        figs["cluster_sizes"] = _sizes_figure(findings.clustering, colours)
    if findings.anomaly is not None:
        context["anomaly"] = _anomaly_context(findings)
        if findings.holdout_scores:
            figs["anomaly_scores"] = _scores_figure(findings)
    return context, figs


def board_note(leaderboard: Leaderboard, findings: UnsupervisedFindings | None) -> str:
    """How the leaderboard's candidates were scored, and the time it took, for its heading."""
    spent = f"{leaderboard.elapsed_seconds:.1f} s"
    budget = f"{spent} of a {leaderboard.budget_seconds:.0f} s budget"
    if findings is None:
        return f"{leaderboard.n_folds}-fold cross-validation on the training part, {budget}"
    if findings.clustering is not None:
        return f"each candidate's silhouette on a sample of the training rows, {budget}"
    if findings.anomaly is not None and findings.anomaly.evaluation:
        return f"each detector's PR-AUC on labelled training rows held out from its fit, {spent}"
    return f"the share of training rows the detector flags, {spent}"


# --------------------------------------------------------------------------------------------
# clustering


def cluster_name(cluster: int) -> str:
    """A cluster as the report names it (``-1``: the rows HDBSCAN left as noise)."""
    return "noise" if cluster < 0 else f"cluster {cluster}"


def _clustering_context(
    result: ClusteringResult, profiles: tuple[ClusterProfile, ...]
) -> dict[str, Any]:
    best = result.best
    candidates = [
        {
            "algorithm": c.algorithm,
            "n_clusters": c.n_clusters,
            "silhouette": _finite(c.silhouette),
            "calinski_harabasz": _finite(c.calinski_harabasz),
            "davies_bouldin": _finite(c.davies_bouldin),
            "stability": _finite(c.stability),
            "noise_share": c.noise_share,
            "seconds": c.seconds,
            "chosen": c == best,
        }
        for c in result.candidates
    ]
    if best.algorithm in SELF_ASSIGNING:
        assigned = f"New rows are assigned by the fitted {best.algorithm} model itself."
    else:
        assigned = (
            f"{best.algorithm} cannot assign new rows itself: a classifier trained on its "
            f"clusters does, and gives {result.agreement:.1%} of the training rows their own "
            "cluster (cross-validated)."
        )
    return {
        "reason": result.reason.rstrip("."),
        "structure": result.structure,
        "agreement": result.agreement,
        "assigned": assigned,
        "best": {"algorithm": best.algorithm, "n_clusters": best.n_clusters},
        "candidates": candidates,
        "n_rows": len(result.labels),
        "shown_points": len(result.projection.get("x", [])),
        "profiles": [_profile_context(p) for p in profiles],
        "centroids": _centroid_table(profiles),
    }


def _profile_context(profile: ClusterProfile) -> dict[str, Any]:
    distinct = []
    for feature, what, strength in profile.distinct:
        if feature in profile.centroid:  # a number: the standardised difference of means
            effect = f"{strength:+.2f} sd"
        else:  # a category: the log of its lift in the cluster
            effect = f"×{math.exp(strength):.2f}" if math.isfinite(strength) else "—"
        distinct.append({"feature": feature, "what": what, "effect": effect})
    return {
        "cluster": profile.cluster,
        "name": cluster_name(profile.cluster),
        "rows": profile.rows,
        "share": profile.share,
        "medoid": profile.medoid,
        "distinct": distinct,
    }


def _centroid_table(profiles: tuple[ClusterProfile, ...]) -> dict[str, Any]:
    """Features × clusters of the centroids' values, the first :data:`CENTROID_FEATURES`
    features (those setting some cluster apart first)."""
    features: list[str] = []
    for p in profiles:
        features += [f for f, _, _ in p.distinct if f in p.centroid and f not in features]
    for p in profiles:
        features += [f for f in p.centroid if f not in features]
    shown = features[:CENTROID_FEATURES]
    return {
        "clusters": [cluster_name(p.cluster) for p in profiles],
        "rows": [
            {"feature": f, "values": [fmt_sig(p.centroid.get(f)) for p in profiles]} for f in shown
        ],
        "hidden": len(features) - len(shown),
    }


def _cluster_colours(result: ClusteringResult) -> dict[int, str]:
    from plotly.colors import qualitative

    palette = qualitative.Plotly + qualitative.D3 + qualitative.Set2
    clusters = sorted({int(c) for c in np.unique(result.labels)})
    named = [c for c in clusters if c >= 0]
    colours = {c: palette[i % len(palette)] for i, c in enumerate(named)}
    colours[-1] = _NOISE_COLOUR
    return colours


def _projection_figure(result: ClusteringResult, colours: dict[int, str]) -> go.Figure:
    import plotly.graph_objects as go

    x, y = result.projection["x"], result.projection["y"]
    clusters = np.asarray(result.projection["cluster"], dtype=int)
    fig = go.Figure()
    for cluster in sorted(set(clusters.tolist()), key=lambda c: (c < 0, c)):
        mine = np.flatnonzero(clusters == cluster)
        fig.add_trace(
            go.Scatter(
                x=[x[i] for i in mine],
                y=[y[i] for i in mine],
                mode="markers",
                name=f"{cluster_name(cluster)} ({len(mine)})",
                marker={"size": 5, "opacity": 0.7, "color": colours.get(cluster, _NOISE_COLOUR)},
                hovertemplate=f"{cluster_name(cluster)}<br>(%{{x:.3g}}, %{{y:.3g}})<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Rows in two dimensions, by cluster ({len(x)} shown)",
        xaxis_title="first principal component",
        yaxis_title="second principal component",
        legend_title_text="cluster (rows shown)",
        **{**_LAYOUT, "height": 480},
    )
    return fig


def _sizes_figure(result: ClusteringResult, colours: dict[int, str]) -> go.Figure:
    import plotly.graph_objects as go

    clusters, sizes = np.unique(result.labels, return_counts=True)
    order = sorted(zip(clusters.tolist(), sizes.tolist(), strict=True), key=lambda cs: -cs[1])
    total = max(len(result.labels), 1)
    fig = go.Figure(
        go.Bar(
            x=[cluster_name(int(c)) for c, _ in order],
            y=[int(n) for _, n in order],
            marker_color=[colours.get(int(c), _NOISE_COLOUR) for c, _ in order],
            text=[f"{n / total:.1%}" for _, n in order],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(
        title=f"Cluster sizes ({total} training rows)",
        xaxis_title="cluster",
        yaxis_title="training rows",
        showlegend=False,
        **_LAYOUT,
    )
    return fig


# --------------------------------------------------------------------------------------------
# anomaly detection


def _anomaly_context(findings: UnsupervisedFindings) -> dict[str, Any]:
    result = findings.anomaly
    assert result is not None  # the caller checked
    threshold = findings.threshold if findings.threshold is not None else result.threshold
    scores = np.asarray(findings.holdout_scores, dtype=float)
    detectors = [
        {
            "detector": name.replace("_", " "),
            "pr_auc": _finite(values.get("pr_auc", math.nan)),
            "precision": _finite(values.get("precision", math.nan)),
            "recall": _finite(values.get("recall", math.nan)),
            "threshold": _finite(values.get("threshold", math.nan)),
            "chosen": name == result.detector,
        }
        for name, values in sorted(result.evaluation.items(), key=lambda kv: -kv[1]["pr_auc"])
    ]
    return {
        "detector": result.detector.replace("_", " "),
        "reason": result.reason.rstrip("."),
        "threshold": float(threshold),
        "rule": result.threshold_rule,
        "train_flagged": float(np.mean(result.flags)) if len(result.scores) else 0.0,
        "holdout_rows": len(scores),
        "holdout_flagged": int((scores > threshold).sum()),
        "detectors": detectors,
        "rows": _rows_table(findings.most_anomalous, float(threshold)),
    }


def _rows_table(frame: pd.DataFrame | None, threshold: float) -> dict[str, Any] | None:
    """The most anomalous rows as text cells, ``anomaly_score`` first; which columns hold
    numbers (right-aligned)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if frame is None or frame.empty:
        return None
    columns = ["anomaly_score"] + [c for c in frame.columns if c != "anomaly_score"]
    shown = frame[columns]
    rows = [
        {"flagged": bool(record[0] > threshold), "cells": [_cell(v) for v in record]}
        for record in shown.itertuples(index=False, name=None)
    ]
    numeric = [is_numeric_dtype(t) and not is_bool_dtype(t) for t in shown.dtypes]
    return {"columns": [str(c) for c in columns], "numeric": numeric, "rows": rows}


def _cell(value: Any) -> str:
    """A value of a shown row as text: numbers to 4 significant digits, missing as a dash."""
    import pandas as pd

    missing = value is None or pd.isna(value)
    if isinstance(missing, bool | np.bool_) and missing:  # array-like values are shown as text
        return "—"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return fmt_sig(float(value))
    return str(value)


def _scores_figure(findings: UnsupervisedFindings) -> go.Figure:
    import plotly.graph_objects as go

    result: AnomalyResult | None = findings.anomaly
    assert result is not None
    threshold = findings.threshold if findings.threshold is not None else result.threshold
    scores = np.asarray(findings.holdout_scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    span = np.concatenate([scores, [threshold]])
    edges = np.histogram_bin_edges(span, bins=min(SCORE_BINS, max(len(scores) // 2, 5)))
    counts, _ = np.histogram(scores, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(
        go.Bar(
            x=centres.tolist(),
            y=counts.tolist(),
            width=float(edges[1] - edges[0]),
            marker_color=[_FLAG_COLOUR if c > threshold else _PLAIN_COLOUR for c in centres],
            hovertemplate="score %{x:.3g}: %{y} rows<extra></extra>",
        )
    )
    fig.add_vline(
        x=threshold,
        line_dash="dash",
        line_color="#1f2933",
        annotation_text=f"threshold {fmt_sig(threshold)}",
        annotation_position="top right",
    )
    flagged = int((scores > threshold).sum())
    most = max(int(counts.max(initial=1)), 1)
    top = math.log10(most * 1.5)
    ticks = [m * 10**e for e in range(len(str(most)) + 1) for m in (1, 2, 5) if m * 10**e <= most]
    fig.update_layout(
        title=f"Anomaly scores of the {len(scores)} holdout rows ({flagged} above the threshold)",
        xaxis_title="anomaly score (robust z-score; higher: more anomalous)",
        yaxis_title="holdout rows (log scale)",
        yaxis_type="log",
        yaxis_tickvals=ticks,
        yaxis_range=[math.log10(0.5), top],  # a bin of one row stays visible
        showlegend=False,
        bargap=0.05,
        **_LAYOUT,
    )
    return fig


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
