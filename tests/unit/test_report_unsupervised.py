"""The training report of clustering and anomaly models (issue 14): why this clustering, its
candidates, each cluster's profile and a projection; the detector, its threshold, the
holdout's scores and its most anomalous rows. Built from real searches on synthetic data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from loopml.data import Problem
from loopml.evaluation import (
    Evaluation,
    UnsupervisedFindings,
    evaluate_unsupervised,
    model_card,
    unsupervised_findings,
)
from loopml.modeling import UnsupervisedFit, fit_anomaly, fit_clustering
from loopml.reports import figures, render_training_report

EVIL = "<i>odd&col</i>"  # a column name that must reach the page escaped
ESCAPED = "&lt;i&gt;odd&amp;col&lt;/i&gt;"


@pytest.fixture(autouse=True, scope="module")
def one_native_thread() -> Iterator[None]:
    """Tiny fits on one OpenMP/BLAS thread (oversubscribed thread teams are slow)."""
    with threadpool_limits(limits=1):
        yield


class _Page(HTMLParser):
    """Element ids, and the JSON of the figures."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self._in_data = False
        self.figure_data = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(found["id"] or "")
        self._in_data = tag == "script" and found.get("id") == "figure-data"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.figure_data += data


def _parse(html: str) -> tuple[_Page, dict[str, Any]]:
    page = _Page()
    page.feed(html)
    return page, json.loads(page.figure_data)


def _table(html: str, table_id: str) -> list[list[str]]:
    """The cells' text of each row of the table ``table_id`` (tags stripped)."""
    body = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert body is not None, f"no table {table_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)
        ]
        for r in rows
    ]


@dataclass
class Built:
    fit: UnsupervisedFit
    evaluation: Evaluation
    findings: UnsupervisedFindings
    problem: Problem
    html: str


def _render(built: Built, **kwargs: Any) -> str:
    return render_training_report(
        title="test: training report",
        evaluation=built.evaluation,
        leaderboard=built.fit.leaderboard,
        summary={"task": built.problem.task, "target": built.problem.target, "model": "m"},
        promotion="Alias: champion — first model.",
        **kwargs,
    )


# --------------------------------------------------------------------------------------------
# clustering


def _groups(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three groups: one apart on ``spend``, one on ``visits``, one on neither; ``EVIL`` is
    noise."""
    rng = np.random.default_rng(seed)
    group = np.arange(rows) % 3
    frame = pd.DataFrame(
        {
            "spend": rng.normal(np.where(group == 1, 12.0, 0.0), 1.0),
            "visits": rng.normal(np.where(group == 2, 12.0, 0.0), 1.0),
            EVIL: rng.normal(size=rows),
        }
    )
    return frame, group


@pytest.fixture(scope="module")
def clustered() -> Built:
    frame, _ = _groups()
    roles = {c: "numeric" for c in frame}
    train, holdout = frame.iloc[:240], frame.iloc[240:].reset_index(drop=True)
    fit = fit_clustering(train, roles, budget_seconds=5, max_clusters=5, seed=0)
    assert fit.clustering is not None
    problem = Problem(task="clustering", target="", metric="silhouette", gate=None)
    search = {"stability": fit.clustering.best.stability, "agreement": fit.clustering.agreement}
    evaluation = evaluate_unsupervised(
        fit.pipeline, holdout, pd.Series(dtype=float), problem, search
    )
    findings = unsupervised_findings(
        fit.pipeline, train, holdout, roles, model=fit.model, clustering=fit.clustering
    )
    built = Built(fit, evaluation, findings, problem, "")
    built.html = _render(built, unsupervised=findings)
    return built


def test_a_clustering_report_has_its_sections_and_no_supervised_ones(clustered: Built) -> None:
    page, figs = _parse(clustered.html)
    for section in ("gate", "metrics", "clustering", "clusters", "leaderboard", "data"):
        assert section in page.ids
    assert {"plots", "fit", "drivers", "calibration", "anomaly"}.isdisjoint(page.ids)
    assert set(figs) == {"projection", "cluster_sizes"}
    assert {f"fig-{name}" for name in figs} <= set(page.ids)
    result = clustered.fit.clustering
    assert result is not None
    rows = _table(clustered.html, "candidates")[1:]
    assert len(rows) == len(result.candidates)
    assert {r[0].removesuffix(" chosen") for r in rows} == {c.algorithm for c in result.candidates}
    assert "target <b>" not in clustered.html  # a clustering has none
    assert "silhouette on a sample of the training rows" in clustered.html


def test_the_chosen_clustering_is_marked_and_explained(clustered: Built) -> None:
    result = clustered.fit.clustering
    assert result is not None and result.best.n_clusters == 3 and result.structure
    chosen = [r for r in _table(clustered.html, "candidates")[1:] if r[0].endswith("chosen")]
    assert len(chosen) == 1
    assert chosen[0][:2] == [f"{result.best.algorithm} chosen", "3"]
    assert f"{result.best.algorithm} with 3 clusters" in clustered.html
    assert "Structure found" in clustered.html
    sizes = clustered.html.count('class="profile"')
    assert sizes == 3


def test_each_cluster_profile_names_the_feature_that_sets_it_apart(clustered: Built) -> None:
    found = {}
    for profile in clustered.findings.profiles:
        block = re.search(
            rf'<div class="profile" id="profile-{profile.cluster}">(.*?)</div>',
            clustered.html,
            re.S,
        )
        assert block is not None
        assert f"{profile.rows} rows" in block.group(1)
        assert f"medoid: training row {profile.medoid}" in block.group(1)
        first = re.search(r"<tr><td>(.*?)</td>", block.group(1))
        assert first is not None
        found[round(profile.centroid["spend"]), round(profile.centroid["visits"])] = first.group(1)
    # the group high on spend is set apart by spend, the one high on visits by visits
    spend_group = next(v for (s, _), v in found.items() if s > 8)
    visits_group = next(v for (_, v_), v in found.items() if v_ > 8)
    assert (spend_group, visits_group) == ("spend", "visits")
    centroids = _table(clustered.html, "centroids")
    assert centroids[0][0] == "feature" and len(centroids[0]) == 4  # feature + 3 clusters
    assert {r[0] for r in centroids[1:]} == {"spend", "visits", ESCAPED}


def test_the_projection_shows_every_row_coloured_by_cluster(clustered: Built) -> None:
    _, figs = _parse(clustered.html)
    traces = figs["projection"]["data"]
    assert len(traces) == 3 and all(t["name"].startswith("cluster ") for t in traces)
    assert sum(len(t["x"]) for t in traces) == 240  # every training row: fewer than 2,000
    assert len({t["marker"]["color"] for t in traces}) == 3
    assert sum(figs["cluster_sizes"]["data"][0]["y"]) == 240


def test_column_names_are_escaped(clustered: Built) -> None:
    assert EVIL not in clustered.html
    assert ESCAPED in clustered.html


def test_an_unsupervised_evaluation_renders_without_findings_diagnostics_or_card(
    clustered: Built,
) -> None:
    assert figures(clustered.evaluation) == {}
    html = _render(clustered)
    page, figs = _parse(html)
    assert figs == {} and "plots" not in page.ids and "clustering" not in page.ids
    assert "metrics" in page.ids and "silhouette (primary)" in html
    assert "model-card" not in page.ids


def test_no_structure_is_said_so() -> None:
    noise = pd.DataFrame(np.random.default_rng(0).uniform(size=(200, 3)), columns=["a", "b", "c"])
    roles = {c: "numeric" for c in noise}
    fit = fit_clustering(noise, roles, budget_seconds=5, max_clusters=4, seed=0)
    assert fit.clustering is not None and not fit.clustering.structure
    findings = unsupervised_findings(
        fit.pipeline, noise, noise, roles, model=fit.model, clustering=fit.clustering
    )
    problem = Problem(task="clustering", target="", metric="silhouette", gate=None)
    evaluation = evaluate_unsupervised(fit.pipeline, noise, pd.Series(dtype=float), problem)
    html = _render(Built(fit, evaluation, findings, problem, ""), unsupervised=findings)
    assert "No clear structure" in html and "Structure found" not in html


# --------------------------------------------------------------------------------------------
# anomaly detection


def _planted(rows: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Correlated rows, and 5% of them pushed far off on ``c``."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rows)
    frame = pd.DataFrame(
        {
            "a": a,
            EVIL: a * 0.9 + rng.normal(scale=0.3, size=rows),
            "c": rng.normal(size=rows),
            "kind": rng.choice(["x", "<y>"], rows),
        }
    )
    odd = np.zeros(rows, dtype=bool)
    odd[rng.choice(rows, rows // 20, replace=False)] = True
    frame.loc[odd, "c"] += rng.choice([-6.0, 6.0], odd.sum())
    return frame, odd


def _anomaly(labelled: bool) -> Built:
    frame, odd = _planted()
    roles = {"a": "numeric", EVIL: "numeric", "c": "numeric", "kind": "categorical"}
    train, holdout = frame.iloc[:300], frame.iloc[300:].reset_index(drop=True)
    labels = pd.Series(odd[:300]) if labelled else None
    fit = fit_anomaly(train, roles, labels=labels, contamination=None, seed=0)
    problem = Problem(
        task="anomaly",
        target="odd" if labelled else "",
        metric="pr_auc" if labelled else "anomaly_rate",
        gate=None,
        classes=(False, True),
        positive_class=True,
    )
    evaluation = evaluate_unsupervised(fit.pipeline, holdout, pd.Series(odd[300:]), problem)
    findings = unsupervised_findings(
        fit.pipeline, train, holdout, roles, model=fit.model, anomaly=fit.anomaly
    )
    return Built(fit, evaluation, findings, problem, "")


@pytest.fixture(scope="module")
def labelled() -> Built:
    built = _anomaly(labelled=True)
    card = model_card(built.problem, built.evaluation, data={"rows": 400}, model=built.fit.model)
    built.html = _render(built, unsupervised=built.findings, model_card=card)
    return built


def test_an_anomaly_report_has_its_sections(labelled: Built) -> None:
    page, figs = _parse(labelled.html)
    for section in ("metrics", "anomaly", "anomalous-rows", "leaderboard", "model-card"):
        assert section in page.ids
    assert {"plots", "clustering", "clusters", "fit"}.isdisjoint(page.ids)
    assert set(figs) == {"anomaly_scores"}


def test_with_labels_each_detector_is_scored_and_the_chosen_one_marked(labelled: Built) -> None:
    result = labelled.fit.anomaly
    assert result is not None
    rows = _table(labelled.html, "detectors")
    assert rows[0] == ["detector", "PR-AUC", "precision", "recall", "threshold"]
    names = [r[0].removesuffix(" chosen") for r in rows[1:]]
    assert sorted(names) == sorted(n.replace("_", " ") for n in result.evaluation)
    chosen = [r for r in rows[1:] if r[0].endswith(" chosen")]
    assert [r[0] for r in chosen] == [result.detector.replace("_", " ") + " chosen"]
    assert chosen[0][1] == f"{result.evaluation[result.detector]['pr_auc']:.4f}"
    assert result.threshold_rule in labelled.html


def test_the_score_histogram_counts_every_holdout_row_and_marks_the_threshold(
    labelled: Built,
) -> None:
    _, figs = _parse(labelled.html)
    fig = figs["anomaly_scores"]
    assert sum(fig["data"][0]["y"]) == len(labelled.findings.holdout_scores) == 100
    (line,) = fig["layout"]["shapes"]
    assert line["x0"] == line["x1"] == pytest.approx(labelled.findings.threshold)


def test_the_most_anomalous_rows_are_listed_highest_first_and_escaped(labelled: Built) -> None:
    rows = _table(labelled.html, "anomalous-table")
    assert rows[0] == ["anomaly_score", "a", ESCAPED, "c", "kind"]
    assert len(rows) == 21  # the header and 20 rows
    scores = [float(r[0]) for r in rows[1:]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(max(labelled.findings.holdout_scores), rel=1e-3)  # 4 digits
    flagged = labelled.html.count('<tr class="flagged">')
    threshold = labelled.findings.threshold
    assert threshold is not None
    assert flagged == sum(s > threshold for s in scores) > 0
    assert {r[4] for r in rows[1:]} <= {"x", "&lt;y&gt;"}
    assert "<y>" not in labelled.html and EVIL not in labelled.html


def test_without_labels_the_rule_is_shown_and_no_detector_table() -> None:
    built = _anomaly(labelled=False)
    html = _render(built, unsupervised=built.findings)
    page, figs = _parse(html)
    assert "detectors" not in page.ids and "anomalous-table" in page.ids
    assert "robust z-score above 3.5" in html
    assert "share of training rows the detector flags" in html
    assert set(figs) == {"anomaly_scores"}
