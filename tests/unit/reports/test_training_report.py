"""loopml.reports.render_training_report: every section, every chart, nothing from outside."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from loopml.config import ProblemConfig
from loopml.data import Problem, infer_schema, prepare_target, resolve_problem
from loopml.evaluation import (
    DiagnosisSettings,
    Diagnostics,
    Evaluation,
    TrainAndHoldout,
    diagnose,
    evaluate,
    model_card,
)
from loopml.modeling import Leaderboard, TrialResult, make_pipeline
from loopml.reports import render_training_report

EVIL = "<script>alert('x')</script>"
SECTIONS = [
    "gate",
    "notes",
    "metrics",
    "plots",
    "fit",
    "drivers",
    "leaderboard",
    "model-card",
    "data",
]


class _Page(HTMLParser):
    """Tags with their attributes, ids, and the text of the figure-data script."""

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

    def ids(self, tag: str | None = None) -> list[str]:
        return [a["id"] or "" for t, a in self.tags if "id" in a and (tag is None or t == tag)]

    def figure_ids(self) -> list[str]:
        return [
            a["id"] or ""
            for _, a in self.tags
            if "figure" in (a.get("class") or "").split() and "id" in a
        ]


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _frame(task: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame({"a": a, EVIL: b, "city": rng.choice(["Paris", "Lyon"], n)})
    signal = a + 0.5 * b + rng.normal(size=n)
    frame["target"] = np.where(signal > 0, "yes", "no") if task == "binary" else 3 * signal
    return frame


Fitted = tuple[Problem, Evaluation, Diagnostics, Leaderboard]


def _fitted(task: str) -> Fitted:
    with threadpool_limits(limits=1):  # tiny fits: spare OpenMP's thread start-up on a busy box
        return _fit(task)


def _fit(task: str) -> Fitted:
    train, hold = _frame(task, 240, 0), _frame(task, 160, 1)
    problem = resolve_problem(train, ProblemConfig(target="target", success=None))
    schema = infer_schema(train, "target")
    X, y = train.drop(columns="target"), prepare_target(train["target"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    X_hold, y_hold = hold.drop(columns="target"), prepare_target(hold["target"], problem.task)
    evaluation = evaluate(pipeline, X_hold, y_hold, problem)
    cv = [0.8, 0.82] if task == "binary" else [3.0, 3.1]
    diagnostics = diagnose(
        pipeline, TrainAndHoldout(X, y, X_hold, y_hold), problem, cv_scores=cv,
        settings=DiagnosisSettings(seed=0, n_bootstrap=200, budget_seconds=10),
    )  # fmt: skip
    trial = TrialResult(
        number=0,
        family="linear",
        params={"C": 1.0},
        fold_scores=tuple(cv),
        seconds=0.4,
        status="ok",
    )
    leaderboard = Leaderboard(
        metric=problem.metric,
        greater_is_better=task == "binary",
        trials=(trial,),
        budget_seconds=10.0,
        elapsed_seconds=0.5,
        n_folds=2,
    )
    return problem, evaluation, diagnostics, leaderboard


SUMMARY = {
    "task": "binary",
    "target": "target",
    "model": "linear",
    "origin": "csv:data/x.csv",
    "fingerprint": "f00d",
    "rows": 400,
    "train_rows": 240,
    "holdout_rows": 160,
    "split": "stratified",
}


def _render(fitted: Fitted, **kwargs: Any) -> str:
    problem, evaluation, _, leaderboard = fitted
    return render_training_report(
        title="demo: training report",
        evaluation=evaluation,
        leaderboard=leaderboard,
        summary={**SUMMARY, "task": problem.task},
        promotion="Alias: champion — first model.",
        **kwargs,
    )


@pytest.fixture(scope="module")
def binary() -> Fitted:
    return _fitted("binary")


@pytest.fixture(scope="module")
def html(binary: Fitted) -> str:
    problem, evaluation, diagnostics, _ = binary
    card = model_card(
        problem,
        evaluation,
        diagnostics,
        data=SUMMARY,
        model="linear",
        description="Ranks customers for the weekly retention calls.",
    )
    return _render(binary, diagnostics=diagnostics, model_card=card)


def test_the_page_has_every_section(html: str) -> None:
    page = _parse(html)

    assert page.ids("section") == [
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
    links = [a["href"] for t, a in page.tags if t == "a"]
    assert links == [f"#{s}" for s in page.ids("section")]  # the navigation reaches each one


def test_every_chart_container_has_its_figure_and_every_figure_a_container(html: str) -> None:
    page = _parse(html)

    figures = json.loads(page.figure_data)

    # containers in reading order; the figure data is keyed by name (sorted by tojson)
    assert sorted(page.figure_ids()) == sorted(f"fig-{name}" for name in figures)
    assert [i.removeprefix("fig-") for i in page.figure_ids()] == [
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
    for name, fig in figures.items():
        assert fig["data"], name  # every figure has at least one trace


def test_metrics_show_their_intervals(html: str, binary: Fitted) -> None:
    _, evaluation, diagnostics, _ = binary
    iv = diagnostics.interval

    header = f"roc_auc</b> = {evaluation.primary:.4f} (95% CI {iv.low:.4f}–{iv.high:.4f})"
    assert header in html
    row = re.search(r'<tr class="primary"><td>roc_auc \(primary\)</td>(.*?)</tr>', html)
    assert row is not None
    assert re.findall(r'<td class="num">([^<]*)</td>', row.group(1)) == [
        f"{iv.value:.4f}",
        f"{iv.low:.4f}",
        f"{iv.high:.4f}",
    ]


def test_notes_and_the_model_card_are_worded_in_the_page(html: str, binary: Fitted) -> None:
    _, _, diagnostics, _ = binary

    for note in diagnostics.notes:
        assert note.message.replace("'", "&#39;") in html
    assert "Ranks customers for the weekly retention calls." in html
    assert "<h3>Limitations</h3>" in html
    assert "Evaluated on a stratified holdout drawn from the same period" in html


def test_nothing_is_loaded_from_outside(html: str) -> None:
    page = _parse(html)

    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith("#"), (tag, key, value)


def test_column_names_are_escaped_in_the_markup_and_in_the_figure_data(html: str) -> None:
    page = _parse(html)

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html  # the explained rows table
    assert EVIL in page.figure_data.encode().decode("unicode_escape")  # escaped as \\u003c
    assert EVIL in json.dumps(json.loads(page.figure_data))


def test_without_diagnostics_the_report_is_as_before(binary: Fitted) -> None:
    page = _parse(_render(binary))

    assert page.ids("section") == ["gate", "metrics", "plots", "leaderboard", "data"]
    assert sorted(json.loads(page.figure_data)) == ["confusion", "pr", "roc"]


def test_diagnostics_alone_bring_a_default_model_card(binary: Fitted) -> None:
    _, _, diagnostics, _ = binary

    html = _render(binary, diagnostics=diagnostics)

    assert 'id="model-card"' in html
    assert "Estimates, for each new row, the probability that target is &#39;yes&#39;" in html


def test_a_regression_report_has_fit_and_drivers_but_no_probability_sections() -> None:
    fitted = _fitted("regression")
    _, _, diagnostics, _ = fitted

    page = _parse(_render(fitted, diagnostics=diagnostics))

    assert page.ids("section") == SECTIONS
    assert sorted(json.loads(page.figure_data)) == sorted(
        i.removeprefix("fig-") for i in page.figure_ids()
    )
    assert [i.removeprefix("fig-") for i in page.figure_ids()] == [
        "predicted_vs_actual",
        "residuals",
        "fit_check",
        "learning_curve",
        "permutation_importance",
        "mean_contributions",
        "contributions",
    ]


def _board(trials: tuple[TrialResult, ...], metric: str = "roc_auc") -> Leaderboard:
    return Leaderboard(
        metric=metric,
        greater_is_better=metric == "roc_auc",
        trials=trials,
        budget_seconds=10.0,
        elapsed_seconds=0.5,
        n_folds=2,
    )


def _trial(number: int, family: str, mean: float, params: dict[str, Any]) -> TrialResult:
    return TrialResult(number, family, params, (mean, mean), 0.4, "ok")


def _leaderboard_rows(html: str) -> list[list[str]]:
    table = html[html.index('<section id="leaderboard">') :]
    table = table[: table.index("</section>")]
    rows = re.findall(r"<tr><td>(.*?)</tr>", table, flags=re.S)
    return [re.findall(r"<td[^>]*>(?:<code>)?(.*?)(?:</code>)?</td>", "<td>" + r) for r in rows]


def test_an_ensemble_is_named_by_the_families_of_its_members(binary: Fitted) -> None:
    problem, evaluation, _, _ = binary
    board = _board(
        (
            _trial(0, "lightgbm", 0.80, {"learning_rate": 0.05}),
            _trial(1, "linear", 0.78, {"C": 1.0}),
            _trial(2, "lightgbm", 0.79, {"learning_rate": 0.13394334706750485}),
            _trial(3, "ensemble", 0.83, {"members": {0: 0.5, 2: 0.3, 1: 0.2}}),
        )
    )

    html = _render((problem, evaluation, None, board))  # type: ignore[arg-type]

    rows = _leaderboard_rows(html)
    assert [r[1] for r in rows] == [
        "ensemble of lightgbm ×2, linear ×1",
        "lightgbm",
        "lightgbm",
        "linear",
    ]
    assert rows[0][-1] == "members: lightgbm (#2) 50%, lightgbm (#3) 30%, linear (#4) 20%"
    assert rows[2][-1] == "{&#34;learning_rate&#34;: 0.1339}"  # rounded for people


def test_errors_in_the_target_s_units_are_rounded_to_four_significant_digits() -> None:
    problem, evaluation, _, _ = _fitted("regression")
    evaluation = dataclasses.replace(
        evaluation, metrics={"mae": 534.123456, "rmse": 12345.6789, "r2": 0.912345, "mape": 0.05}
    )
    board = _board((_trial(0, "linear", 12345.6789, {"alpha": 4.5705630998014515}),), "rmse")

    html = _render((problem, evaluation, None, board))  # type: ignore[arg-type]

    cells = re.findall(r"<td>(mae|rmse|r2|mape)[^<]*</td><td class=\"num\">([^<]*)</td>", html)
    assert cells == [("mae", "534.1"), ("rmse", "12,346"), ("r2", "0.9123"), ("mape", "0.0500")]
    assert "12,346" in _leaderboard_rows(html)[0][4]
    assert "4.571" in _leaderboard_rows(html)[0][-1]


def test_without_a_learning_curve_the_fit_section_says_why_in_one_sentence(
    binary: Fitted,
) -> None:
    diagnostics = binary[2]
    curve = dataclasses.replace(
        diagnostics.learning_curve,
        points=diagnostics.learning_curve.points[-1:],
        absent="No learning curve: no time was left of the 0.0 s the learning curve was given.",
    )
    diagnostics = dataclasses.replace(diagnostics, learning_curve=curve)

    page = _parse(_render(binary, diagnostics=diagnostics))

    assert "fig-learning_curve" not in page.figure_ids()
    assert "learning_curve" not in json.loads(page.figure_data)
    assert "no-learning-curve" in page.ids("p")


def test_a_family_never_started_reads_not_started_without_numbers(binary: Fitted) -> None:
    problem, evaluation, _, leaderboard = binary
    never = TrialResult(1, "catboost", {}, (), 0.0, "not_started")
    board = Leaderboard(**{**leaderboard.__dict__, "trials": (*leaderboard.trials, never)})

    html = _render((problem, evaluation, None, board))  # type: ignore[arg-type]

    section = html[html.index('<section id="leaderboard">') :]
    section = section[: section.index("</section>")]
    row = next(r for r in section.split("<tr>") if "catboost" in r)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
    assert cells[1:7] == ["catboost", "portfolio", "not started", "—", "—", "—"]
    assert "nan" not in section.lower()


def test_latencies_stand_next_to_scores_when_a_limit_measured_them(binary: Fitted) -> None:
    problem, evaluation, _, _ = binary
    slow = TrialResult(
        2,
        "ensemble",
        {"members": {0: 0.5, 1: 0.5}},
        (0.85, 0.85),
        0.0,
        "excluded",
        source="ensemble",
        error="single-row latency 0.50 ms is over problem.constraints.max_latency_ms 0.45",
        latency_ms=0.5,
    )
    board = _board(
        (
            dataclasses.replace(_trial(0, "lightgbm", 0.80, {}), latency_ms=0.3),
            dataclasses.replace(_trial(1, "linear", 0.78, {}), latency_ms=0.2),
            slow,
            TrialResult(3, "lightgbm", {}, (0.83, 0.83), 0.4, "ok", "distilled", latency_ms=0.3),
        )
    )

    html = _render((problem, evaluation, None, board))  # type: ignore[arg-type]

    assert "<th>ms per row</th>" in html
    rows = {(r[1], r[2]): r for r in _leaderboard_rows(html)}
    assert rows[("lightgbm", "distilled")][3:8] == ["ok", "0.8300", "0.0000", "0.4", "0.30"]
    assert rows[("ensemble of lightgbm ×1, linear ×1", "ensemble")][7] == "0.50"
    assert "<th>ms per row</th>" not in _render(binary)  # no limit, no column
