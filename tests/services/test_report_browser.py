"""The training report opened in headless Chromium: offline, no console errors, charts drawn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from loopml import Project
from loopml.demo import write_demo_project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have Chromium: .ci/run installs the Debian package 'chromium'")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    return playwright


@pytest.mark.services
def test_training_report_renders_offline_without_errors(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    sync_api = _browser()
    config = write_demo_project(tmp_path / "p", rows=1000, budget_seconds=4, cv_folds=3)
    result = Project(config).train()
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(result.report.as_uri())
        page.wait_for_function("document.querySelectorAll('.figure .main-svg').length >= 3")
        drawn = page.eval_on_selector_all(
            ".figure", "els => els.map(e => e.querySelectorAll('.main-svg').length)"
        )
        curves = page.eval_on_selector_all(".figure .scatterlayer .trace", "els => els.length")
        page.screenshot(path=str(artifacts_dir / "training-report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert all(n > 0 for n in drawn) and len(drawn) == 3  # ROC, PR, confusion matrix
    assert curves >= 3  # ROC (model + chance) and PR lines
    external = [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]
    assert external == []  # the report fetches nothing from the network
