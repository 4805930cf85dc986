"""The profile report: one self-contained HTML page of a :class:`~loopml.data.Profile`.

Figures are plain Plotly JSON specifications (no ``plotly.graph_objects`` round trip, which
costs more than the profile itself on wide tables); the page draws each chart only when its
section is open, so a table of hundreds of columns still opens at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml.data import Profile
from loopml.reports._assets import environment, plotly_js
from loopml.reports._format import fmt, fmt_bytes, fmt_label, fmt_pct, fmt_score
from loopml.reports._profile_figures import (
    BLUE,
    ROLE_COLOURS,
    association_figure,
    column_figure,
    heatmap,
    missing_figures,
    scores_figure,
)
from loopml.types import Finding

if TYPE_CHECKING:
    from loopml.data import ColumnProfile, Matrix

_SAMPLED_PARTS = {
    "quantiles": "quantiles",
    "correlations": "correlations",
    "target": "the relationships to the target",
    "roles": "column roles",
    "text words": "word counts of text",
}


def render_profile_report(profile: Profile, *, title: str, findings: Sequence[Finding] = ()) -> str:
    """The HTML text of the profile report.

    Parameters
    ----------
    profile
        From :func:`loopml.data.profile`.
    title
        The page title, e.g. the project name or the file profiled.
    findings
        Quality findings to list (e.g. ``QualityReport.findings``); each also shows in its
        column's section.

    Returns
    -------
    str
        A complete HTML document with Plotly's JavaScript inlined: it opens offline.
    """
    figures: dict[str, dict[str, Any]] = {}
    columns = _column_sections(profile, findings, figures)
    missing = missing_figures(profile)
    figures.update(missing)
    correlations = _correlation_sections(profile, figures)
    target = _target_section(profile, figures)
    overview = _overview(profile, findings)
    return (
        environment()
        .get_template("profile.html")
        .render(
            title=title,
            profile=profile,
            overview=overview,
            columns=columns,
            findings=list(findings),
            missing=profile.missingness,
            missing_figures=list(missing),
            patterns=[
                {
                    "columns": ", ".join(p.columns),
                    "n": len(p.columns),
                    "count": f"{p.count:,}",
                    "share": fmt_pct(p.count / profile.n_rows if profile.n_rows else 0),
                }
                for p in profile.missingness.patterns
            ],
            correlations=correlations,
            target=target,
            sample_note=_sample_note(profile),
            figures=figures,
            plotly_js=plotly_js(),
        )
    )


def _column_sections(
    profile: Profile, findings: Sequence[Finding], figures: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One section per column, with its findings; adds each column's figure to ``figures``."""
    by_column: dict[str, list[Finding]] = {}
    for f in findings:
        if f.column is not None:
            by_column.setdefault(f.column, []).append(f)
    columns = []
    for i, col in enumerate(profile.columns):
        fig = column_figure(col)
        if fig is not None:
            figures[f"col-{i}"] = fig
        columns.append(
            {
                "index": i,
                "name": col.name,
                "role": col.role,
                "colour": ROLE_COLOURS.get(col.role, BLUE),
                "dtype": col.dtype,
                "is_target": col.is_target,
                "pii": col.pii,
                "missing": fmt_pct(col.missing_share),
                "missing_high": col.missing_share >= 0.2,
                "distinct": f"{col.distinct:,}",
                "brief": _brief(col),
                "stats": _stats(col, profile),
                "figure": f"col-{i}" if fig is not None else None,
                "findings": by_column.get(col.name, []),
            }
        )
    return columns


def _correlation_sections(
    profile: Profile, figures: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Pearson, Spearman and Cramér's V: top pairs, and a heatmap where two columns or more."""
    correlations = []
    for key, label, matrix, lo in (
        ("pearson", "Pearson", profile.correlations.pearson, -1.0),
        ("spearman", "Spearman", profile.correlations.spearman, -1.0),
        ("cramers-v", "Cramér's V", profile.correlations.cramers_v, 0.0),
    ):
        if len(matrix.columns) >= 2:
            figures[f"corr-{key}"] = heatmap(matrix, label, lo)
        correlations.append(
            {
                "key": key,
                "label": label,
                "n": len(matrix.columns),
                "figure": f"corr-{key}" if len(matrix.columns) >= 2 else None,
                "top": _top_pairs(matrix),
            }
        )
    return correlations


def _target_section(profile: Profile, figures: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The target's relationships to each feature, with their plots; None without a target."""
    if profile.target is None:
        return None
    logs = {c.name for c in profile.columns if c.numeric is not None and c.numeric.histogram.log}
    t = profile.target
    if t.associations:
        figures["target-scores"] = scores_figure(t.associations, t.name)
    plots = []
    for j, a in enumerate(t.associations):
        figures[f"target-{j}"] = association_figure(a, logs)
        plots.append(
            {
                "figure": f"target-{j}",
                "feature": a.feature,
                "role": a.role,
                "method": a.method,
                "score": fmt_score(a.score),
                "rows": f"{a.rows:,}",
            }
        )
    return {
        "name": t.name,
        "task": t.task,
        "classes": ", ".join(t.classes[:20]) + (" …" if len(t.classes) > 20 else ""),
        "positive": t.positive,
        "rows": f"{t.rows:,}",
        "plots": plots,
    }


def _overview(profile: Profile, findings: Sequence[Finding]) -> list[tuple[str, str]]:
    roles: dict[str, int] = {}
    for col in profile.columns:
        roles[col.role] = roles.get(col.role, 0) + 1
    complete = profile.missingness.complete_rows
    return [
        ("rows", f"{profile.n_rows:,}"),
        (
            "columns",
            f"{profile.n_columns:,} (" + ", ".join(f"{n} {r}" for r, n in roles.items()) + ")",
        ),
        ("memory", fmt_bytes(profile.memory)),
        ("missing cells", f"{profile.missingness.cells:,} ({fmt_pct(profile.missingness.share)})"),
        (
            "complete rows",
            f"{complete:,} ({fmt_pct(complete / profile.n_rows if profile.n_rows else 0)})",
        ),
        ("quality findings", _finding_counts(findings)),
    ]


# --------------------------------------------------------------------------------------------
# text


def _finding_counts(findings: Sequence[Finding]) -> str:
    if not findings:
        return "none listed"
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    return ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)


def _sample_note(profile: Profile) -> str:
    estimated = " ".join(
        f"{part[:1].upper()}{part[1:]}: {how}." for part, how in profile.estimated.items()
    )
    if not profile.sampled:
        return estimated
    names = [_SAMPLED_PARTS.get(p, p) for p in profile.sampled]
    parts = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return (
        f"The table has {profile.n_rows:,} rows, so {parts} use a random sample of "
        f"{profile.sample_size:,} rows (seed {profile.seed}). Counts, missing values, distinct "
        "values, minimum, maximum, mean, histograms and top values use every row. " + estimated
    ).strip()


def _brief(col: ColumnProfile) -> str:
    if col.pii is not None:
        return f"values withheld: personal data ({col.pii})"
    if col.numeric is not None and not math.isnan(col.numeric.mean):
        n = col.numeric
        return f"mean {fmt(n.mean)} · {fmt(n.minimum)} to {fmt(n.maximum)}"
    if col.categories is not None and col.categories.top and col.count:
        label, count = col.categories.top[0]
        return f"most common: {label} ({fmt_pct(count / col.count)})"
    if col.datetime is not None and col.datetime.minimum:
        return f"{col.datetime.minimum[:10]} to {col.datetime.maximum[:10]}"
    if col.text is not None and col.count:
        return f"{fmt(col.text.mean_length, 3)} characters on average"
    return ""


def _stats(col: ColumnProfile, profile: Profile) -> list[tuple[str, str]]:
    rows = [
        ("role", f"{col.role}" + (f" ({col.reason})" if col.reason else "")),
        ("type", col.dtype),
        ("present", f"{col.count:,}"),
        ("missing", f"{col.missing:,} ({fmt_pct(col.missing_share)})"),
        ("distinct", f"{col.distinct:,}"),
    ]
    if col.invalid:
        rows.append(("unreadable as " + col.role, f"{col.invalid:,}"))
    if col.pii is not None:
        rows.append(("values", f"withheld: personal data ({col.pii})"))
    sample = " (sample)" if "quantiles" in profile.sampled else ""
    if col.numeric is not None:
        n = col.numeric
        rows += [
            ("minimum", fmt(n.minimum)),
            ("maximum", fmt(n.maximum)),
            ("mean", fmt(n.mean)),
            ("standard deviation", fmt(n.std)),
            ("skewness", fmt(round(n.skew, 3))),
        ]
        rows += [(f"{q} quantile{sample}", fmt(v)) for q, v in n.quantiles.items()]
        rows += [("zeros", f"{n.zeros:,}"), ("negative", f"{n.negatives:,}")]
        if n.infinite:
            rows.append(("infinite", f"{n.infinite:,}"))
    if col.categories is not None:
        c = col.categories
        shown = ", ".join(f"{fmt_label(label)} ({count:,})" for label, count in c.top[:5])
        rows.append(("most common", shown or "—"))
        if c.other:
            rows.append((f"outside the top {len(c.top)}", f"{c.other:,}"))
    if col.datetime is not None:
        rows += [("earliest", col.datetime.minimum or "—"), ("latest", col.datetime.maximum or "—")]
    if col.text is not None:
        t = col.text
        rows += [
            (
                "length min / mean / max",
                f"{t.min_length:,} / {fmt(t.mean_length, 3)} / {t.max_length:,}",
            ),
            (
                "words on average" + (" (sample)" if "text words" in profile.sampled else ""),
                fmt(t.mean_words, 3),
            ),
        ]
        if t.top:
            rows.append(("most common", ", ".join(f"{v[:60]} ({c:,})" for v, c in t.top[:3])))
    return rows


def _top_pairs(matrix: Matrix, limit: int = 10) -> list[dict[str, str]]:
    """The strongest pairs of a matrix, for a table under its heatmap."""
    pairs = []
    cols = matrix.columns
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            v = matrix.values[i][j]
            if not math.isnan(v):
                pairs.append((abs(v), cols[i], cols[j], v))
    pairs.sort(key=lambda p: -p[0])
    return [{"a": a, "b": b, "value": f"{v:+.3f}"} for _, a, b, v in pairs[:limit]]
