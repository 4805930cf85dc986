"""The profile report opened in headless Chromium: offline, no console errors, every chart drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import _needs as needs
from loopml.data import profile
from loopml.reports import render_profile_report
from loopml.types import Finding


def _table(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 72, n)
    plan = rng.choice(["basic", "pro", "gold", "Basic "], n, p=[0.5, 0.3, 0.15, 0.05])
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(10_000, 10_000 + n),
            "tenure_months": tenure,
            "monthly_fee": rng.normal(45, 12, n).round(2),
            "income": rng.lognormal(10, 1.1, n),
            "support_calls": rng.poisson(1.5, n),
            "plan": plan,
            "region": rng.choice([f"region_{i}" for i in range(30)], n),
            "has_partner": rng.random(n) < 0.4,
            "signup": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            "comment": [f"call {i} about the invoice, resolved in {i % 7} days" for i in range(n)],
            "email": [f"customer{i}@example.com" for i in range(n)],
        }
    )
    for col, share in (("monthly_fee", 0.08), ("income", 0.15), ("region", 0.05)):
        frame.loc[rng.random(n) < share, col] = None
    risk = -0.05 * tenure + 0.6 * frame["support_calls"] + (plan == "basic") + rng.normal(0, 1, n)
    frame["churned"] = np.where(risk > np.quantile(risk, 0.7), "yes", "no")
    return frame


FINDINGS = [
    Finding(
        "missing-values",
        "warning",
        "income is missing in 15% of rows <b>not bold</b>",
        column="income",
        count=600,
        suggestion="impute with the median and add a missing indicator",
    ),
    Finding(
        "inconsistent-spelling",
        "warning",
        "plan has spellings that differ only in case or spaces: 'basic', 'Basic '",
        column="plan",
        count=200,
        suggestion="normalise categories",
    ),
    Finding("id-like", "info", "customer_id is unique in every row", column="customer_id"),
]


def _open_and_check(html_path: Path, screenshot: Path) -> tuple[list[int], int]:
    with needs.chromium_page(html_path.as_uri()) as seen:
        page = seen.page
        page.wait_for_function("document.querySelectorAll('.figure .main-svg').length > 0")
        closed = page.eval_on_selector_all(
            ".figure", "els => els.filter(e => e.closest('details:not([open])')).length"
        )
        for button in page.query_selector_all("button[data-expand]"):
            button.click()
        page.eval_on_selector_all("details", "ds => ds.forEach(d => { d.open = true; })")
        page.wait_for_function(
            "[...document.querySelectorAll('.figure')].every(e => e.querySelector('.main-svg'))",
            timeout=60_000,
        )
        drawn = page.eval_on_selector_all(
            ".figure", "els => els.map(e => e.querySelectorAll('.main-svg').length)"
        )
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(screenshot), full_page=True)
    assert seen.errors == []
    external = [u for u in seen.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert external == []  # the report fetches nothing from the network
    return drawn, closed


@pytest.mark.services
def test_profile_report_renders_offline_without_errors(tmp_path: Path, artifacts_dir: Path) -> None:
    needs.chromium()
    frame = _table()
    result = profile(frame, target="churned", sample_rows=2500)
    html_path = tmp_path / "profile.html"
    html_path.write_text(
        render_profile_report(result, title="Churn data profile", findings=FINDINGS),
        encoding="utf-8",
    )
    drawn, closed = _open_and_check(html_path, artifacts_dir / "profile-report.png")
    n_columns = frame.shape[1] - 1  # the e-mail column's values are withheld: no chart
    n_target = len(result.target.associations)  # type: ignore[union-attr]
    # columns + 2 missingness + 3 correlation heatmaps + the score chart + one per feature
    assert len(drawn) == n_columns + 2 + 3 + 1 + n_target
    assert all(n > 0 for n in drawn)
    assert closed >= n_columns  # column charts waited in collapsed sections until opened


@pytest.mark.services
def test_profile_report_with_a_numeric_target_renders(tmp_path: Path, artifacts_dir: Path) -> None:
    needs.chromium()
    frame = _table(n=1500, seed=1).drop(columns="churned")
    result = profile(frame, target="monthly_fee", task="regression")
    html_path = tmp_path / "profile-regression.html"
    html_path.write_text(render_profile_report(result, title="Fee profile"), encoding="utf-8")
    drawn, _ = _open_and_check(html_path, artifacts_dir / "profile-report-regression.png")
    assert drawn and all(n > 0 for n in drawn)
