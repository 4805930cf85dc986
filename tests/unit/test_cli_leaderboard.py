"""The leaderboard as the console prints it after training (loopml._cli_print.print_train)."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console

from loopml._cli_print import print_train
from loopml.loop import PromotionDecision
from loopml.modeling import Leaderboard, TrialResult


def _result(board: Leaderboard) -> SimpleNamespace:
    gate = SimpleNamespace(passed=True, describe=lambda: "roc_auc >= 0.7: 0.8100 → passed")
    return SimpleNamespace(
        leaderboard=board,
        evaluation=SimpleNamespace(n_rows=40, metrics={"roc_auc": 0.81}, gate=gate, fairness=None),
        version=SimpleNamespace(name="churn", version="1", family="lightgbm"),
        alias="champion",
        decision=PromotionDecision(alias="champion", reason="first model to pass the gate"),
        promotion_reason="first model to pass the gate",
        report="report.html",
    )


def test_a_family_never_started_is_not_started_not_timeout_nan() -> None:
    board = Leaderboard(
        metric="roc_auc",
        greater_is_better=True,
        trials=(
            TrialResult(0, "lightgbm", {}, (0.8, 0.82), 1.25, "ok"),
            TrialResult(1, "xgboost", {}, (0.7,), 0.6, "timeout"),
            TrialResult(2, "catboost", {}, (), 0.0, "not_started"),
            TrialResult(3, "knn", {}, (), 0.3, "failed", error="ValueError: x"),
        ),
        budget_seconds=6.0,
        elapsed_seconds=5.9,
        n_folds=2,
    )
    console = Console(width=200, record=True)

    print_train(console, _result(board))

    lines = {line.split("│")[2].strip(): line for line in console.export_text().splitlines()
             if line.count("│") > 3}  # fmt: skip
    cells = {name: [c.strip() for c in line.split("│")[1:-1]] for name, line in lines.items()}
    assert cells["catboost"][3:] == ["not started", "—", "—", "—"]
    assert cells["knn"][3:] == ["failed", "—", "—", "0.3"]
    assert cells["xgboost"][3:] == ["timeout", "0.7000", "0.0000", "0.6"]
    assert cells["lightgbm"][3:] == ["ok", "0.8100", "0.0100", "1.2"]
    assert "nan" not in console.export_text()


def test_latencies_are_shown_next_to_scores_when_measured() -> None:
    board = Leaderboard(
        metric="roc_auc",
        greater_is_better=True,
        trials=(
            TrialResult(0, "lightgbm", {}, (0.8, 0.82), 1.25, "ok", latency_ms=0.4),
            TrialResult(1, "linear", {}, (0.7, 0.72), 0.5, "ok", latency_ms=0.1),
            TrialResult(
                2,
                "ensemble",
                {"members": {0: 0.5, 1: 0.5}},
                (0.84, 0.86),
                0.0,
                "excluded",
                source="ensemble",
                error="single-row latency 0.50 ms is over problem.constraints.max_latency_ms 0.45",
                latency_ms=0.5,
            ),
            TrialResult(3, "lightgbm", {}, (0.83, 0.85), 1.0, "ok", "distilled", latency_ms=0.4),
        ),
        budget_seconds=6.0,
        elapsed_seconds=5.9,
        n_folds=2,
    )
    console = Console(width=200, record=True)

    print_train(console, _result(board))

    text = console.export_text()
    assert "ms/row" in text
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()
            if line.count("│") > 3]  # fmt: skip
    by_source = {r[2]: r for r in rows if r[2] in ("ensemble", "distilled")}
    assert by_source["ensemble"][3:] == ["excluded", "0.8500", "0.0100", "0.0", "0.50"]
    assert by_source["distilled"][3:] == ["ok", "0.8400", "0.0100", "1.0", "0.40"]


def test_no_latency_column_without_a_latency_limit() -> None:
    board = Leaderboard(
        metric="rmse",
        greater_is_better=False,
        trials=(TrialResult(0, "linear", {}, (1.0, 1.2), 0.5, "ok"),),
        budget_seconds=6.0,
        elapsed_seconds=1.0,
        n_folds=2,
    )
    console = Console(width=200, record=True)
    print_train(console, _result(board))
    assert "ms/row" not in console.export_text()
