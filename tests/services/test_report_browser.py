"""The training report in headless Chromium: offline, no console errors, every chart drawn."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import _needs as needs
from loopml import Project, TrainResult
from loopml.demo import write_demo_project
from loopml.evaluation import DiagnosisSettings, TrainAndHoldout, diagnose, model_card
from loopml.reports import render_training_report

#: Every chart of a binary task's report with diagnostics, in reading order.
BINARY_CHARTS = [
    "roc",
    "pr",
    "confusion",
    "calibration",
    "probability_bins",
    "gains",
    "lift",
    "fit_check",
    "learning_curve",
    "permutation_importance",
    "mean_contributions",
    "contributions",
]

#: Per chart: its id, the traces it declares, and the traces Plotly drew (heatmaps draw an image).
DRAWN = """els => els.map(e => [
    e.id,
    (e.data || []).length,
    e.querySelectorAll('.trace').length + (e.querySelector('.hm') ? 1 : 0),
    e.querySelectorAll('.main-svg').length,
])"""


def _report_with_diagnostics(project: Project, result: TrainResult, directory: Path) -> Path:
    """The training report with every diagnostics section.

    Once ``Project.train`` passes diagnostics and a model card to the report, its own report
    is that report and is used as is; until then the same report is rendered here from the
    registered pipeline and the project's split.
    """
    if 'id="model-card"' in result.report.read_text(encoding="utf-8"):
        return result.report
    bundle, _ = project.registry.load(result.version.version)
    prepared = project.prepare(project.collect())
    split, problem = prepared.split, prepared.problem
    X_train = prepared.X.iloc[split.train].reset_index(drop=True)
    y_train = prepared.y.iloc[split.train].reset_index(drop=True)
    X_hold = prepared.X.iloc[split.holdout].reset_index(drop=True)
    y_hold = prepared.y.iloc[split.holdout].reset_index(drop=True)
    best = result.leaderboard.best
    diagnostics = diagnose(
        bundle.pipeline, TrainAndHoldout(X_train, y_train, X_hold, y_hold), problem,
        cv_scores=best.fold_scores,
        settings=DiagnosisSettings(
            seed=project.config.training.seed, n_bootstrap=500, budget_seconds=5.0
        ),
    )  # fmt: skip
    card = model_card(problem, result.evaluation, diagnostics, data=result.data, model=best.family)
    html = render_training_report(
        title=f"{project.config.name}: training report",
        evaluation=result.evaluation,
        leaderboard=result.leaderboard,
        summary={"task": problem.task, "target": problem.target, "model": best.family,
                 **result.data},
        promotion=f"Alias: {result.alias} — {result.decision.reason}.",
        diagnostics=diagnostics,
        model_card=card,
    )  # fmt: skip
    path = directory / "training-report.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.mark.services
def test_training_report_renders_offline_without_errors(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    needs.chromium()
    config = write_demo_project(tmp_path / "p", rows=1000, budget_seconds=4, cv_folds=3)
    project = Project(config)
    result = project.train()
    report = _report_with_diagnostics(project, result, tmp_path)
    html = report.read_text(encoding="utf-8")
    declared = json.loads(
        re.search(r'id="figure-data">(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
    )
    with needs.chromium_page(report.as_uri()) as seen:
        page = seen.page
        page.wait_for_function(
            "Array.from(document.querySelectorAll('.figure'))"
            ".every(e => e.querySelector('.main-svg'))"
        )
        drawn = page.eval_on_selector_all(".figure", DRAWN)
        sections = page.eval_on_selector_all("main > section", "els => els.map(e => e.id)")
        page.screenshot(path=str(artifacts_dir / "training-report.png"), full_page=True)
    assert seen.errors == []
    # the learning curve, or one sentence why there is none (its refits may not fit the
    # diagnosis budget on a slow or busy machine)
    charts = [
        c for c in BINARY_CHARTS if c != "learning_curve" or 'id="no-learning-curve"' not in html
    ]
    assert [chart for chart, *_ in drawn] == [f"fig-{name}" for name in charts]
    assert sorted(declared) == sorted(charts)
    for chart, traces, rendered, svgs in drawn:
        assert traces > 0 and svgs > 0, chart
        assert rendered >= traces, chart  # every declared trace was drawn
    assert sections == [
        "gate",
        "notes",
        "metrics",
        "plots",
        "calibration",
        "lift",
        "fit",
        "drivers",
        "leaderboard",
        "model-card",
        "data",
    ]
    external = [u for u in seen.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert external == []  # the report fetches nothing from the network
