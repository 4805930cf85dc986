"""loopml.reports.render_profile_report: a self-contained page with every section."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from loopml.data import Profile, profile
from loopml.reports import render_profile_report
from loopml.types import Finding

EVIL = "<script>alert('x')</script>"


class _Tags(HTMLParser):
    """Collects tags with their attributes, and the text of the figure-data script."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_data = False
        self.figure_data = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_data = tag == "script" and dict(attrs).get("id") == "figure-data"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.figure_data += data


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": rng.lognormal(3, 1.2, n),
            "plan": rng.choice(["basic", "pro", "gold"], n),
            "signup": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 400, n), "D"),
            "comment": [f"the parcel number {i} arrived late" for i in range(n)],
            "email": [f"person{i}@example.com" for i in range(n)],
            EVIL: rng.normal(size=n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "income"] = np.nan
    frame["churned"] = np.where(frame["age"] > 50, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def sampled(frame: pd.DataFrame) -> Profile:
    return profile(frame, target="churned", sample_rows=1000)


@pytest.fixture(scope="module")
def findings() -> list[Finding]:
    return [
        Finding(
            "missing-values",
            "warning",
            f"income has missing values {EVIL}",
            column="income",
            count=300,
            suggestion="impute & add an indicator",
        ),
        Finding("duplicate-rows", "error", "2 rows repeat", count=2),
    ]


@pytest.fixture(scope="module")
def html(sampled: Profile, findings: list[Finding]) -> str:
    return render_profile_report(sampled, title="Churn <profile>", findings=findings)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_the_page_has_every_section(html: str) -> None:
    ids = {attrs.get("id") for _, attrs in _parse(html).tags}
    assert {"overview", "findings", "columns", "missing", "correlations", "target"} <= ids
    for heading in ("Overview", "Quality findings", "Missing values", "Correlations"):
        assert f"<h2>{heading}</h2>" in html
    assert "Relationship to the target: churned" in html
    for label in ("Pearson", "Spearman", "Cramér&#39;s V"):
        assert f"<b>{label}</b>" in html


def test_each_column_has_a_collapsed_section_with_its_stats(html: str, sampled: Profile) -> None:
    tags = _parse(html).tags
    sections = [a for t, a in tags if t == "details" and "column" in (a.get("class") or "")]
    assert len(sections) == sampled.n_columns
    assert all("open" not in a for a in sections)
    assert html.count('<table class="kv stats">') == sampled.n_columns


def test_every_chart_container_has_its_figure(html: str, sampled: Profile) -> None:
    parser = _parse(html)
    figures = json.loads(parser.figure_data)
    containers = [a["data-fig"] for t, a in parser.tags if "data-fig" in a]
    assert containers and len(containers) == len(set(containers))
    assert set(containers) == set(figures)
    # a histogram or bar chart per column except the withheld e-mail column
    assert sum(c.startswith("col-") for c in containers) == sampled.n_columns - 1
    assert {"missing-columns", "missing-rows", "target-scores"} <= set(containers)
    assert {"corr-pearson", "corr-spearman", "corr-cramers-v"} <= set(containers)
    assert sum(c.startswith("target-") for c in containers) == 1 + len(sampled.target.associations)  # type: ignore[union-attr]
    kinds = {figures[c]["data"][0]["type"] for c in containers}
    assert {"bar", "heatmap", "box", "scatter"} <= kinds


def test_nothing_is_loaded_from_outside(html: str) -> None:
    for tag, attrs in _parse(html).tags:
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value is not None and tag in ("script", "link", "img", "iframe", "a"):
                assert value.startswith("#"), f"<{tag} {attr}={value!r}>"
    assert "Plotly" in html and len(html) > 3_000_000  # plotly.js is inlined


def test_findings_are_listed_and_escaped(html: str) -> None:
    assert EVIL not in html
    assert "income has missing values &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "impute &amp; add an indicator" in html
    assert html.count('<tr class="finding">') == 2
    assert "duplicate-rows" in html and "missing-values" in html


def test_column_names_are_escaped_in_the_markup_and_in_the_figure_data(html: str) -> None:
    figure_data = _parse(html).figure_data
    assert "<script>" not in figure_data.lower()
    assert EVIL in json.dumps(json.loads(figure_data), ensure_ascii=False)
    assert re.search(r"<script>alert", html) is None


def test_samples_are_noted(html: str, frame: pd.DataFrame, findings: list[Finding]) -> None:
    assert html.count('class="note sample-note"') == 4  # overview, columns, correlations, target
    assert "random sample of 1,000 rows (seed 0)" in html
    assert "quantile (sample)" in html
    exact = render_profile_report(profile(frame, target="churned"), title="t", findings=findings)
    assert "sample-note" not in exact
    assert "quantile (sample)" not in exact


def test_personal_data_is_withheld(html: str) -> None:
    assert "@example.com" not in html
    assert "withheld: personal data (email)" in html


def test_labels_with_spaces_at_their_ends_are_quoted() -> None:
    frame = pd.DataFrame({"plan": ["basic", "Basic ", "basic", "pro"] * 5})
    html = render_profile_report(profile(frame), title="labels")
    assert "&#39;Basic &#39; (5)" in html  # the stats table
    figures = json.loads(_parse(html).figure_data)
    assert "'Basic '" in figures["col-0"]["data"][0]["y"]


def test_without_target_or_findings() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.0, 6.0, 9.0]})
    html = render_profile_report(profile(frame), title="plain")
    ids = {attrs.get("id") for _, attrs in _parse(html).tags}
    assert "target" not in ids
    assert "No quality findings were passed" in html
    assert "No missing values" in html
    assert "Needs at least two categorical columns" in html


def test_fifty_columns_stay_reasonably_sized() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    cols = {f"num_{i:02d}": rng.normal(size=n) for i in range(30)}
    cols |= {f"cat_{i:02d}": rng.choice(list("abcdefghij"), n) for i in range(19)}
    cols["target"] = rng.choice(["yes", "no"], n)
    wide = profile(pd.DataFrame(cols), target="target")
    html = render_profile_report(wide, title="wide")
    plotly_js = len(html) - len(re.sub(r"<script>.*?</script>", "", html, count=1, flags=re.S))
    assert len(html) - plotly_js < 2_000_000  # the report itself, beyond plotly.js
    assert html.count('<details class="column"') == 50
