"""The model card (loopml.evaluation.model_card)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

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
from loopml.evaluation._card import intended_use
from loopml.modeling import make_pipeline

DATA = {
    "origin": "csv:data/customers.csv",
    "fingerprint": "abc123",
    "rows": 502,
    "rows_with_target": 500,
    "train_rows": 300,
    "holdout_rows": 200,
    "split": "stratified",
    "features": 3,
    "ignored_columns": "email (email)",
    "notes": "2 rows without a target value are left out of training",
    "not_a_card_key": "left out",
}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = a + 0.5 * b + rng.normal(size=n) > 0
    return pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n), "y": np.where(y, "yes", "no")})


@pytest.fixture(scope="module")
def evaluated() -> tuple[Problem, Evaluation, Diagnostics]:
    train, hold = _frame(300, 0), _frame(200, 1)
    problem = resolve_problem(train, ProblemConfig(target="y", success="roc_auc >= 0.99"))
    schema = infer_schema(train, "y")
    X, y = train.drop(columns="y"), prepare_target(train["y"], "binary")
    pipeline = make_pipeline(schema.roles(), "linear", "binary", None, 0, 1).fit(X, y)
    X_hold, y_hold = hold.drop(columns="y"), prepare_target(hold["y"], "binary")
    evaluation = evaluate(pipeline, X_hold, y_hold, problem)
    diagnostics = diagnose(
        pipeline, TrainAndHoldout(X, y, X_hold, y_hold), problem, cv_scores=[0.8, 0.82],
        settings=DiagnosisSettings(seed=0, n_bootstrap=200, budget_seconds=10),
    )  # fmt: skip
    return problem, evaluation, diagnostics


def test_the_card_has_every_section(evaluated: tuple[Problem, Evaluation, Diagnostics]) -> None:
    problem, evaluation, diagnostics = evaluated

    card = model_card(problem, evaluation, diagnostics, data=DATA, model="linear")

    assert set(card) == {
        "model",
        "task",
        "target",
        "positive_class",
        "intended_use",
        "intended_use_source",
        "data",
        "metrics",
        "gate",
        "fairness",
        "limitations",
    }
    assert (card["model"], card["task"], card["target"]) == ("linear", "binary", "y")
    assert card["data"] == {k: v for k, v in DATA.items() if k not in ("notes", "not_a_card_key")}
    assert card["gate"] == evaluation.gate.describe()
    assert json.loads(json.dumps(card, allow_nan=False)) == card


def test_metrics_carry_their_intervals(evaluated: tuple[Problem, Evaluation, Diagnostics]) -> None:
    problem, evaluation, diagnostics = evaluated

    metrics = model_card(problem, evaluation, diagnostics, data=DATA, model="linear")["metrics"]

    assert [m["metric"] for m in metrics] == list(evaluation.metrics)
    [primary] = [m for m in metrics if m["primary"]]
    iv = diagnostics.interval
    assert primary == {
        "metric": "roc_auc",
        "value": evaluation.primary,
        "low": iv.low,
        "high": iv.high,
        "level": 0.95,
        "primary": True,
        "greater_is_better": True,
    }


def test_without_diagnostics_the_metrics_have_no_interval(
    evaluated: tuple[Problem, Evaluation, Diagnostics],
) -> None:
    problem, evaluation, _ = evaluated

    card = model_card(problem, evaluation, data=DATA, model="linear")

    assert all(m["low"] is None and m["high"] is None for m in card["metrics"])


def test_a_description_is_the_intended_use(
    evaluated: tuple[Problem, Evaluation, Diagnostics],
) -> None:
    problem, evaluation, diagnostics = evaluated
    text = "Ranks customers for the retention team's weekly call list."

    card = model_card(problem, evaluation, diagnostics, data=DATA, model="linear", description=text)
    default = model_card(problem, evaluation, diagnostics, data=DATA, model="linear")

    assert (card["intended_use"], card["intended_use_source"]) == (text, "description")
    assert default["intended_use_source"] == "default"
    assert default["intended_use"].startswith(
        "Estimates, for each new row, the probability that y is 'yes'"
    )


def test_limitations_follow_the_data_and_the_diagnostics(
    evaluated: tuple[Problem, Evaluation, Diagnostics],
) -> None:
    problem, evaluation, diagnostics = evaluated

    limits = model_card(problem, evaluation, diagnostics, data=DATA, model="linear")["limitations"]

    iv = diagnostics.interval
    assert limits[0].startswith("Trained on 300 rows from csv:data/customers.csv.")
    assert limits[1].startswith("Evaluated on a stratified holdout drawn from the same period")
    assert limits[2] == (
        f"With 200 holdout rows the roc_auc is known only to within {iv.low:.4f}–{iv.high:.4f} "
        "(95% bootstrap interval)."
    )
    assert f"The success gate failed: {evaluation.gate.describe()}." in limits
    assert "Columns not used as features: email (email)." in limits
    assert limits[-1] == "Data notes: 2 rows without a target value are left out of training."
    for note in diagnostics.warnings:
        assert note.message in limits


@pytest.mark.parametrize(
    ("problem", "start"),
    [
        (
            Problem("multiclass", "fruit", "log_loss", None, classes=("apple", "pear")),
            "Predicts which of 2 classes of fruit ('apple', 'pear') a new row belongs to",
        ),
        (Problem("regression", "price", "rmse", None), "Predicts price (a number) for new rows"),
    ],
)
def test_default_intended_use(problem: Problem, start: str) -> None:
    text = intended_use(problem)

    assert text.startswith(start)
    assert text.endswith("It was not evaluated for any other use.")
