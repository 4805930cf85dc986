"""The monitoring report, built from the contract's dataclasses as `loopml monitor` makes them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import _needs as needs
from loopml.monitoring._contract import (
    DriftReport,
    FeatureDrift,
    Performance,
    QualityDrift,
    WindowReport,
)
from loopml.reports import render_monitoring_report

DAY = 86_400.0
START = 1_772_323_200.0  # 2026-03-01 00:00 UTC
EVIL = "<script>alert('x')</script>&co"


def _feature(
    name: str, effect: float, *, drifted: bool = False, numeric: bool = True
) -> FeatureDrift:
    return FeatureDrift(
        name=name,
        test="ks" if numeric else "chi2",
        statistic=round(effect / 3, 4),
        p_value=1e-9 if drifted else 0.42,
        adjusted_p_value=4e-9 if drifted else 0.77,
        effect=effect,
        effect_measure="psi",
        drifted=drifted,
        rows=1000,
    )


def _quality(
    name: str, *, missing: float = 0.0, unseen: float = 0.0, flagged: bool = False
) -> QualityDrift:
    return QualityDrift(
        name=name,
        missing_rate=missing,
        reference_missing_rate=0.02 if name == "income" else 0.0,
        unseen_rate=unseen,
        out_of_range_rate=0.0,
        invalid_rate=0.0,
        drifted=flagged,
    )


def _window(i: int, *, labelled: bool, shift: bool, estimate: bool = True) -> WindowReport:
    features = [
        _feature("income", 0.3 if shift else 0.01, drifted=shift),
        _feature("tenure", 0.02),
        _feature("plan", 0.015, numeric=False),
        _feature(EVIL, 0.01, numeric=False),
    ]
    return WindowReport(
        start=START + i * DAY,
        end=START + (i + 1) * DAY,
        rows=1000 + 10 * i,
        labelled=800 if labelled else 0,
        features=features,
        prediction_drift=_feature("prediction", 0.2 if shift else 0.02, drifted=shift),
        data_quality=[
            _quality("income", missing=0.3 if shift else 0.02, flagged=shift),
            _quality("plan", unseen=0.01),
            _quality("tenure"),
            _quality(EVIL),
        ],
        performance=Performance(
            "roc_auc", 0.81 - 0.01 * i, 0.78 - 0.01 * i, 0.84 - 0.01 * i, 800, "labels"
        )
        if labelled
        else None,
        estimated_performance=Performance("roc_auc", 0.8, 0.79, 0.81, 1000, "cbpe")
        if estimate
        else None,
        alarms=["income drifted (PSI 0.3, adjusted p 4e-09)", "income: 30% missing"]
        if shift
        else [],
    )


def _report(windows: list[WindowReport]) -> dict[str, Any]:
    return DriftReport("churn", "3", 0.01, 0.1, DAY, windows).to_dict()


def binary_report() -> dict[str, Any]:
    """Six days: labels for the first four, drift in income on days five and six."""
    return _report([_window(i, labelled=i < 4, shift=i >= 4) for i in range(6)])


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data = ""
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_data = dict(attrs).get("id") == "report-data"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data += data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _without_plotly(html: str) -> str:
    return re.sub(r"<script>.*?</script>", "", html, count=1, flags=re.S)


@pytest.fixture(scope="module")
def html() -> str:
    return render_monitoring_report(binary_report(), title="Churn monitoring")


def test_the_header_names_the_model_the_settings_and_the_span(html: str) -> None:
    page = _without_plotly(html)
    assert "<title>Churn monitoring</title>" in page
    assert "model <b>churn</b> version <b>3</b>" in page
    assert "6 windows of 1 day · 2026-03-01 to 2026-03-06" in page
    assert "<tr><td>alpha (false discovery rate)</td><td>0.01</td></tr>" in page
    assert "<tr><td>min_effect</td><td>0.1</td></tr>" in page
    assert "Alarm in 2 of 6 windows. Latest, 2026-03-06: income drifted" in page


def test_alarms_are_listed_with_their_window(html: str) -> None:
    page = _without_plotly(html)
    assert page.count('<tr class="alarm">') == 2
    assert "<td>2026-03-05</td>" in page and "<li>income: 30% missing</li>" in page


def test_every_chart_container_is_known_and_features_wait_in_closed_sections(html: str) -> None:
    page = _parse(html)
    figs = [a["data-fig"] for _, a in page.tags if "data-fig" in a]
    assert figs[:3] == ["performance", "prediction", "heatmap"]
    assert [f for f in figs if f and f.startswith("f-")] == ["f-0", "f-1", "f-2", "f-3"]
    features = [a for t, a in page.tags if t == "details" and a.get("class") == "feature"]
    assert len(features) == 4 and all("open" not in a for a in features)
    data = json.loads(page.data)
    assert data["features"][0]["name"] == "income"  # the drifting feature first
    assert data["features"][0]["drifted"] == [0, 0, 0, 0, 1, 1]


def test_performance_pairs_realised_and_estimated_and_leaves_gaps_without_labels(html: str) -> None:
    data = json.loads(_parse(html).data)
    realised, estimated = data["performance"]["realised"], data["performance"]["estimated"]
    assert realised["metric"] == estimated["metric"] == "roc_auc"
    assert realised["value"] == [0.81, 0.8, 0.79, 0.78, None, None]
    assert realised["low"][0] == 0.78 and realised["high"][0] == 0.84
    assert estimated["value"] == [0.8] * 6
    assert data["windows"]["labelled"] == [800, 800, 800, 800, 0, 0]
    assert "0.8100 [0.7800, 0.8400]" in html and "0.8000 [0.7900, 0.8100]" in html


def test_the_latest_window_table_lists_the_tests(html: str) -> None:
    page = _without_plotly(html)
    assert "Latest window: 2026-03-06" in page
    row = re.search(r'<tr class="flag"><td><a href="#f-0".*?</tr>', page, re.S)
    assert row is not None
    for cell in ("income", "Kolmogorov–Smirnov", "0.1", "1e-09", "4e-09", "0.3 <span", "1,000"):
        assert cell in row.group(0)


def test_data_quality_flags_and_lists_quiet_columns(html: str) -> None:
    page = _without_plotly(html)
    quality = re.search(r'<table class="quality">.*?</table>', page, re.S).group(0)  # type: ignore[union-attr]
    assert quality.index("income") < quality.index("plan")  # flagged first
    assert '<tr class="flag"><td><a href="#q-0" data-open="q-0">income</a>' in quality
    assert "tenure" not in quality
    assert "No missing, unseen, out-of-range or invalid values in any window: " in page
    data = json.loads(_parse(html).data)
    assert data["quality"][0]["flagged"] == [0, 0, 0, 0, 1, 1]
    assert data["quality"][0]["reference"] == 0.02


def test_column_names_are_escaped_in_the_markup_and_in_the_data(html: str) -> None:
    page = _without_plotly(html)
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;co" in page
    data = _parse(html).data
    assert "<script" not in data.lower()
    assert EVIL in json.dumps(json.loads(data), ensure_ascii=False)


def test_nothing_is_loaded_from_outside(html: str) -> None:
    for tag, attrs in _parse(html).tags:
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value is not None and tag in ("script", "link", "img", "iframe", "a"):
                assert value.startswith("#"), f"<{tag} {attr}={value!r}>"
    assert "Plotly" in html and len(html) > 3_000_000  # plotly.js is inlined


def test_the_page_explains_the_statistics(html: str) -> None:
    reading = re.search(r'<section id="reading">.*?</section>', html, re.S).group(0)  # type: ignore[union-attr]
    for term in ("Kolmogorov–Smirnov", "Chi-square", "PSI", "Jensen–Shannon", "Wasserstein"):
        assert term in reading
    assert "Benjamini–Hochberg" in reading and "min_effect" in reading and "CBPE" in reading


def test_a_regression_report_shows_the_realised_metric_only() -> None:
    windows = [_window(i, labelled=i != 1, shift=False, estimate=False) for i in range(3)]
    html = render_monitoring_report(_report(windows), title="regression")
    data = json.loads(_parse(html).data)
    assert data["performance"]["estimated"] is None
    assert data["performance"]["realised"]["value"] == [0.81, None, 0.79]
    assert "No estimated performance: CBPE estimates classifiers" in html
    assert "No alarm in 3 windows." in html


def test_before_any_labels_the_estimate_stands_alone() -> None:
    windows = [_window(i, labelled=False, shift=False) for i in range(3)]
    html = render_monitoring_report(_report(windows), title="no labels")
    data = json.loads(_parse(html).data)
    assert data["performance"]["realised"] is None
    assert data["performance"]["estimated"]["value"] == [0.8, 0.8, 0.8]
    assert "No labels yet: the estimate (CBPE) stands in" in html


def test_an_empty_report_says_there_is_nothing_to_test() -> None:
    html = render_monitoring_report(_report([]), title="empty")
    page = _without_plotly(html)
    assert "No windows: the prediction log holds no traffic" in page
    assert "windows of 1 day · no traffic yet" in page
    assert "<button" not in page
    assert "data-fig=" not in page
    assert "No feature tests in this report." in page
    assert "No performance in this report" in page
    data = json.loads(_parse(html).data)
    assert data["windows"]["mid"] == [] and data["features"] == []


def test_hours_long_windows_read_with_their_times() -> None:
    windows = [
        WindowReport(START + i * 21_600, START + (i + 1) * 21_600, 10, 0, [], None, [], None, None)
        for i in range(2)
    ]
    report = DriftReport("m", "1", 0.05, 0.2, 21_600, windows).to_dict()
    html = _without_plotly(render_monitoring_report(report, title="t"))
    assert "2 windows of 6 hours · 2026-03-01 00:00 to 12:00 UTC" in html
    assert "<td>2026-03-01 06:00 to 12:00 UTC</td>" in html


def test_week_long_windows_read_by_their_first_and_last_day() -> None:
    week = 7 * DAY
    windows = [
        WindowReport(START + i * week, START + (i + 1) * week, 10, 0, [], None, [], None, None)
        for i in range(2)
    ]
    html = render_monitoring_report(_report(windows), title="t")
    assert "2026-03-01 to 2026-03-14" in html and "<td>2026-03-08 to 2026-03-14</td>" in html


def test_too_few_labels_and_hostile_alarms_are_shown_as_such() -> None:
    window = WindowReport(
        START,
        START + DAY,
        100,
        12,
        [],
        None,
        [],
        Performance("roc_auc", None, None, None, 12, "labels"),
        None,
        alarms=[f"{EVIL} drifted"],
    )
    html = _without_plotly(render_monitoring_report(_report([window]), title="t"))
    assert "<td>— (12 rows: too few)</td>" in html
    assert EVIL not in html
    assert "<li>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;co drifted</li>" in html


def wide_report(n_features: int = 100, n_windows: int = 30) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    windows = []
    for i in range(n_windows):
        features = [
            _feature(
                f"feature_{j:03d}",
                float(rng.uniform(0, 0.08)) if j else 0.05 + 0.01 * i,
                drifted=j == 0 and i > 20,
            )
            for j in range(n_features)
        ]
        windows.append(
            WindowReport(
                start=START + i * DAY,
                end=START + (i + 1) * DAY,
                rows=5000,
                labelled=4000 if i < n_windows - 3 else 0,
                features=features,
                prediction_drift=_feature("prediction", 0.01),
                data_quality=[
                    _quality(f.name, missing=0.01 * (j % 3)) for j, f in enumerate(features)
                ],
                performance=Performance("accuracy", 0.9, 0.88, 0.92, 4000, "labels")
                if i < n_windows - 3
                else None,
                estimated_performance=Performance("accuracy", 0.9, 0.89, 0.91, 5000, "cbpe"),
                alarms=["feature_000 drifted"] if i > 20 else [],
            )
        )
    return _report(windows)


def test_a_wide_report_stays_compact_and_holds_each_number_once() -> None:
    html = render_monitoring_report(wide_report(), title="wide")
    page = _parse(html)
    assert len(_without_plotly(html)) < 600_000
    assert len(page.data) < 250_000
    data = json.loads(page.data)
    first = data["windows"]["mid"][0]
    assert page.data.count(f'"{first}"') == 1  # the windows' times once, shared by every chart
    assert len(data["features"]) == 100
    assert data["features"][0]["name"] == "feature_000"
    assert html.count('<details class="feature"') == 100


# --------------------------------------------------------------------------------------------
# in headless Chromium

#: Per chart: its key, the traces it declares, and whether Plotly drew it.
DRAWN = (
    "els => els.map(e => [e.dataset.fig, (e.data || []).length, !!e.querySelector('.main-svg')])"
)


#: The hover text of the first feature's latest window.
HOVER = """() => {
    const el = document.querySelector('[data-fig="f-0"]');
    Plotly.Fx.hover(el, [{curveNumber: 0, pointNumber: el.data[0].x.length - 1}]);
    const box = el.querySelector('.hovertext');
    return box ? box.textContent : '';
}"""


def _open(report: dict[str, Any], path: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Open the report, then its first feature's and column's sections; what was drawn when."""
    needs.chromium()
    path.write_text(render_monitoring_report(report, title="Churn monitoring"), encoding="utf-8")
    with needs.chromium_page(path.as_uri()) as seen:
        page = seen.page
        page.wait_for_load_state("load")
        at_load = page.eval_on_selector_all(".figure", DRAWN)
        for key in ("f-0", "q-0"):
            if page.query_selector(f"#{key} > summary"):
                page.click(f"#{key} > summary")
                page.wait_for_function(
                    f"document.querySelector('[data-fig=\"{key}\"] .main-svg') !== null"
                )
        opened = page.eval_on_selector_all(".figure", DRAWN)
        hover = page.evaluate(HOVER) if page.query_selector("#f-0") else ""
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    assert seen.errors == []
    external = [u for u in seen.requests if not u.startswith(("file:", "data:", "blob:"))]
    assert external == []  # the report fetches nothing from the network
    return {"at_load": at_load, "opened": opened, "hover": hover}


@pytest.mark.services
def test_the_report_draws_performance_at_once_and_a_feature_when_opened(tmp_path: Path) -> None:
    drawn = _open(binary_report(), tmp_path / "monitoring.html", tmp_path / "monitoring.png")
    at_load = {key: (traces, is_drawn) for key, traces, is_drawn in drawn["at_load"]}
    # two bands, two lines, predictions and labelled rows
    assert at_load["performance"] == (6, True)
    assert at_load["prediction"] == (2, True)
    assert at_load["heatmap"] == (2, True)
    assert not any(is_drawn for key, _, is_drawn in drawn["at_load"] if key[:2] in ("f-", "q-"))
    opened = {key: (traces, is_drawn) for key, traces, is_drawn in drawn["opened"]}
    assert opened["f-0"] == (2, True)  # the effect and the drifted windows
    assert opened["q-0"][1] and not opened["f-1"][1]
    assert drawn["hover"] == (
        "2026-03-06PSI 0.3Kolmogorov–Smirnov statistic 0.1p-value 1e-9 · adjusted 4e-91,000 rows"
    )
    assert (tmp_path / "monitoring.png").stat().st_size > 10_000


@pytest.mark.services
def test_a_wide_report_opens_with_only_its_overview_drawn(tmp_path: Path) -> None:
    drawn = _open(wide_report(), tmp_path / "wide.html", tmp_path / "wide.png")
    at_load = [key for key, _, is_drawn in drawn["at_load"] if is_drawn]
    assert at_load == ["performance", "prediction", "heatmap"]
    opened = [key for key, _, is_drawn in drawn["opened"] if is_drawn]
    assert opened == ["performance", "prediction", "heatmap", "f-0", "q-0"]


@pytest.mark.services
def test_an_empty_report_opens_without_errors(tmp_path: Path) -> None:
    drawn = _open(_report([]), tmp_path / "empty.html", tmp_path / "empty.png")
    assert drawn["at_load"] == []
