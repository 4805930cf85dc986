"""axe-core (the engine behind Lighthouse's and Deque's accessibility audits), shipped offline
by the axe-playwright-python package, run in Debian's Chromium on every dashboard page and on
a version's training report: no WCAG 2.1 A or AA violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _needs as needs
import _ui_demo as demo

pytestmark = [pytest.mark.services, pytest.mark.slow]

PAGES = (
    "/",
    "/runs",
    "/runs?per_page=2",
    "/versions",
    "/versions/2",
    "/data",
    "/monitoring?version=1",
)
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    needs.chromium()
    with demo.running_ui(demo.demo_project()) as base:
        yield base


@pytest.fixture(scope="module")
def axe_source() -> str:
    package = needs.module("axe_playwright_python")
    return (Path(package.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def _violations(page: Any, axe_source: str) -> list[str]:
    """axe-core's violations of the page: rule, impact and the first offending elements."""
    page.evaluate(axe_source)  # through the DevTools protocol: no request, no CSP in the way
    found = page.evaluate("options => axe.run(document, options)", RULES)["violations"]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}" for v in found]


def test_axe_finds_no_violation_on_any_page(url: str, axe_source: str) -> None:
    with needs.chromium_page(url + "/") as seen:
        page = seen.page
        found = {}
        for path in PAGES:
            page.goto(url + path)
            page.wait_for_load_state("networkidle")
            found[path] = _violations(page, axe_source)
    assert found == {path: [] for path in PAGES}


def test_axe_finds_no_violation_in_a_training_report(url: str, axe_source: str) -> None:
    with needs.chromium_page(url + "/versions/2") as seen:
        page = seen.page
        page.click("#report-link")
        page.wait_for_load_state("networkidle")
        assert "training report" in page.title()
        assert _violations(page, axe_source) == []
