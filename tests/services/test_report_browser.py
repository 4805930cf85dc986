"""The training report in headless Chromium: offline, no console errors, every chart drawn."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import _needs as needs
from loopml import Project
from loopml.demo import write_demo_project

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


@pytest.mark.services
def test_training_report_renders_offline_without_errors(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    needs.chromium()
    config = write_demo_project(tmp_path / "p", rows=1000, budget_seconds=4, cv_folds=3)
    project = Project(config)
    result = project.train()
    report = result.report  # training's own report: diagnostics and model card included
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
