"""The dashboard in Debian's Chromium: every page of a project with two versions, a
promotion, drift and a retraining opens with no console error and no failed or outside
request; comparing runs, opening a version's report, promoting with the key and being
refused without it work by clicking; labels, contrast and keyboard focus are checked
against the DOM (axe-core's full audit: test_ui_axe.py). Screenshots go to
test-artifacts/ui/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _needs as needs
import _ui_demo as demo

pytestmark = [pytest.mark.services, pytest.mark.slow]

PAGES = {
    "overview": "/",
    "runs": "/runs",
    "leaderboard": "/runs?sort=holdout_roc_auc&order=asc&gate=passed",
    "versions": "/versions",
    "version": "/versions/2",
    "data": "/data",
    "monitoring": "/monitoring?version=1",
}

#: Controls without a name a screen reader can say (label, aria-label, or their text).
UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, button, a[href], [role=button]')).filter(el => {
  const label = el.id && document.querySelector(`label[for="${el.id}"]`);
  const name = el.getAttribute('aria-label') || (label && label.textContent.trim())
    || el.textContent.trim() || el.closest('label');
  return !name;
}).map(el => el.outerHTML.slice(0, 120))"""

#: Text whose contrast with its background is below WCAG AA (4.5:1; 3:1 for large text).
LOW_CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll('body *:not(svg *)')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const a = lum(rgb(style.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(style.fontSize) >= 24 ||
      (parseFloat(style.fontSize) >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5))
      bad.push(`${el.tagName} ${ratio.toFixed(2)}: ${el.textContent.trim().slice(0, 40)}`);
  }
  return bad;
}"""

#: The focused element and whether it shows a focus outline.
FOCUSED = """() => { const el = document.activeElement; const s = getComputedStyle(el);
  return [el.tagName, el.getAttribute('href') || el.id || '', s.outlineStyle !== 'none'
    && parseFloat(s.outlineWidth) >= 2]; }"""


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    needs.chromium()
    with demo.running_ui(demo.demo_project()) as base:
        yield base


@pytest.fixture(scope="module")
def shots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "ui"
    folder.mkdir(exist_ok=True)
    return folder


def _clean(seen: Any, base: str, allowed: tuple[str, ...] = ()) -> None:
    """No console error (but ``allowed`` ones), no request off the dashboard."""
    errors = [e for e in seen.errors if not any(a in e for a in allowed)]
    assert errors == []
    assert [r for r in seen.requests if not r.startswith((base, "data:"))] == []


def test_every_page_opens_cleanly_and_is_accessible(url: str, shots: Path) -> None:
    with needs.chromium_page(url + "/") as seen:
        page = seen.page
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        for name, path in PAGES.items():
            page.goto(url + path)
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").count() == 1, name
            assert page.eval_on_selector("html", "e => e.lang") == "en"
            assert page.evaluate(UNLABELLED) == [], name
            assert page.evaluate(LOW_CONTRAST) == [], name
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert failed == []
    _clean(seen, url)


def test_the_keyboard_reaches_every_page_with_a_visible_focus(url: str) -> None:
    with needs.chromium_page(url + "/") as seen:
        page = seen.page
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUSED) == ["A", "#main", True]  # the skip link comes first
        reached = []
        for _ in range(5):
            page.keyboard.press("Tab")
            tag, href, outlined = page.evaluate(FOCUSED)
            assert tag == "A" and outlined, href
            reached.append(href)
        assert reached == ["/", "/runs", "/versions", "/data", "/monitoring"]
        page.keyboard.press("Enter")
        page.wait_for_url("**/monitoring")
    _clean(seen, url)


def test_comparing_two_runs_and_opening_a_report(url: str, shots: Path) -> None:
    with needs.chromium_page(url + "/runs?per_page=1") as seen:
        page = seen.page  # one run a page: the choice is kept from one page to the next
        boxes = page.locator("input[name=run]")
        assert boxes.count() == 1
        boxes.nth(0).check()
        page.click("a[rel=next]")
        page.wait_for_url("**page=2**")
        page.locator("input[name=run]").nth(0).check()
        assert page.inner_text("#chosen") == "(2 chosen, on any page)"
        page.click("#compare")
        page.wait_for_url("**/runs/compare?**")
        assert page.locator("h1").inner_text() == "2 runs compared"
        assert page.locator("tr.differs").count() > 0
        assert page.locator("tr.same").first.is_hidden()  # "only differences" is on
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        page.uncheck("#only-diff")
        assert page.locator("tr.same").first.is_visible()
        page.goto(url + "/versions/2")
        page.click("#report-link")
        page.wait_for_load_state("load")
        assert "training report" in page.title()
        page.screenshot(path=str(shots / "version-report.png"))
    _clean(seen, url)


def test_the_leaderboard_sorts_filters_and_leads_to_a_run_s_trials(url: str, shots: Path) -> None:
    with needs.chromium_page(url + "/runs") as seen:
        page = seen.page
        page.select_option("#sort", "holdout_roc_auc")
        page.select_option("#order", "asc")
        page.select_option("#gate", "passed")
        page.click("#leaderboard-form button[type=submit]")
        page.wait_for_url("**sort=holdout_roc_auc**")
        assert "gate=passed" in page.url and "order=asc" in page.url
        header = page.locator("#leaderboard th[aria-sort]")
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()  # the sorted column's header turns the order round
        page.wait_for_url("**order=desc**")
        assert page.locator("#leaderboard th[aria-sort]").get_attribute("aria-sort") == (
            "descending"
        )
        page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)
        page.locator("#leaderboard td a", has_text="leaderboard").first.click()
        page.wait_for_url("**/report#leaderboard")
        assert page.locator("#leaderboard h2").inner_text().startswith("Leaderboard")
    _clean(seen, url)


def test_a_monitoring_window_opens_on_click_and_with_the_keyboard(url: str, shots: Path) -> None:
    with needs.chromium_page(url + "/monitoring?version=1") as seen:
        page = seen.page
        drifted = page.locator("rect.window[fill='#b3261e']")
        assert drifted.count() > 0
        drifted.first.click()
        page.wait_for_selector("#window-detail h3")
        assert "Drift per feature" in page.inner_text("#window-detail")
        page.locator("rect.window").first.focus()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.querySelector('#window-detail h3').textContent.startsWith('Window 0')"
        )
        page.screenshot(path=str(shots / "monitoring-window.png"), full_page=True)
    _clean(seen, url)


def test_promoting_is_refused_without_the_key_and_done_with_it(url: str, shots: Path) -> None:
    with needs.chromium_page(url + "/versions/1") as seen:
        page = seen.page
        page.click("#promote")
        page.wait_for_function("document.querySelector('#promote-result').className")
        refused = page.inner_text("#promote-result")
        assert refused.startswith("Refused (401)") and "none was sent" in refused
        page.fill("#api-key", demo.KEY)
        page.click("#promote")
        page.wait_for_function("document.querySelector('#promote-result').className === 'ok'")
        assert "Version 1 is now champion" in page.inner_text("#promote-result")
        page.screenshot(path=str(shots / "promoted.png"))
        page.goto(url + "/")
        assert "version 1" in page.inner_text("#h-champion + p")
        page.goto(url + "/versions/2")  # put the champion back for the other tests
        page.fill("#api-key", demo.KEY)
        page.click("#promote")
        page.wait_for_function("document.querySelector('#promote-result').className === 'ok'")
    # the refusal is the one error the browser reports
    _clean(seen, url, allowed=("status of 401",))
    assert sum("status of 401" in e for e in seen.errors) == 1
