"""The one training entry point (loopml.modeling._training): both callers reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml import Project
from loopml.config import FeaturesConfig
from loopml.modeling import (
    AutoClassifier,
    TrainingData,
    TrainingSpec,
    _training,
    train_model,
)

CONFIG = """\
name: same-folds
problem: {target: churned, task: binary, metric: roc_auc}
data:
  source: {type: csv, path: data.csv}
training: {split: stratified, cv_folds: 3, seed: 7, budget_seconds: 60, max_trials: 1,
           models: [linear], n_jobs: 1}
"""


class _Planned(Exception):
    """Stops a training run once its folds are planned."""


def _frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=n)
    return pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, size=n),
            "spend": np.round(50 + 10 * x1, 2),
            "plan": rng.choice(["basic", "plus", "pro"], size=n),
            "churned": np.where(x1 + rng.normal(scale=0.7, size=n) > 0.3, "yes", "no"),
        }
    )


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each fold plan made through train_model: its labels, settings and folds."""
    seen: list[dict[str, Any]] = []
    real = _training.plan_folds

    def spy(y: pd.Series, **kwargs: Any) -> Any:
        plan = real(y, **kwargs)
        seen.append({"y": list(y), **kwargs, "folds": plan.folds})
        raise _Planned

    monkeypatch.setattr(_training, "plan_folds", spy)
    return seen


def test_project_train_and_auto_classifier_fit_plan_the_same_folds(
    tmp_path: Path, planned: list[dict[str, Any]]
) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    project = Project(tmp_path)

    with pytest.raises(_Planned):
        project.train()
    (through_project,) = planned
    # the estimator, on the project's training rows, with the project's settings
    prepared = project.prepare()
    X_train = prepared.X.iloc[prepared.split.train].reset_index(drop=True)
    y_train = prepared.y.iloc[prepared.split.train].reset_index(drop=True)
    estimator = AutoClassifier(cv_folds=3, random_state=7, max_trials=1, models=["linear"])
    with pytest.raises(_Planned):
        estimator.fit(X_train, y_train)
    through_estimator = planned[1]

    assert through_project["y"] == through_estimator["y"] == list(y_train)
    for key in ("task", "strategy", "n_folds", "seed"):
        assert through_project[key] == through_estimator[key], key
    assert len(through_project["folds"]) == 3
    for (a_train, a_valid), (b_train, b_valid) in zip(
        through_project["folds"], through_estimator["folds"], strict=True
    ):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_valid, b_valid)


def test_train_model_finds_time_ordered_rows_when_no_strategy_is_given() -> None:
    n = 60
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"day": pd.date_range("2024-01-01", periods=n, freq="D"), "x": rng.normal(size=n)}
    )
    y = pd.Series(2.0 * X["x"] + 0.05 * np.arange(n))
    spec = TrainingSpec(
        task="regression",
        metric="rmse",
        budget_seconds=600.0,
        max_trials=1,
        families=("linear",),
        features=FeaturesConfig(),
        seed=0,
        n_jobs=1,
    )
    roles = {"day": "datetime", "x": "numeric"}

    found = train_model(TrainingData(X=X, y=y, roles=roles), spec)
    told = train_model(TrainingData(X=X, y=y, roles=roles, strategy="random"), spec)

    assert found.time_column == "day"
    assert [len(train) for train, _ in found.folds] == [10, 20, 30, 40, 50]  # later rows validate
    assert told.time_column is None
    assert sorted(len(train) for train, _ in told.folds) == [48] * 5
    assert found.leaderboard.n_folds == told.leaderboard.n_folds == 5


def test_training_spec_from_config_reads_the_project(tmp_path: Path) -> None:
    _frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "loopml.yaml").write_text(
        CONFIG.replace("cv_folds: 3", "cv_folds: auto"), encoding="utf-8"
    )
    project = Project(tmp_path)
    problem = project.prepare().problem

    spec = TrainingSpec.from_config(project.config, problem)

    assert (spec.task, spec.metric, spec.cv_folds, spec.seed) == ("binary", "roc_auc", "auto", 7)
    assert (spec.families, spec.max_trials, spec.n_jobs) == (("linear",), 1, 1)
    assert (spec.classes, spec.positive_class) == (("no", "yes"), "yes")
    assert spec.features == project.config.features


@pytest.mark.parametrize(("split", "expected"), [("auto", "time"), ("stratified", "stratified")])
def test_project_folds_follow_time_ordered_rows_when_split_is_auto(
    tmp_path: Path, planned: list[dict[str, Any]], split: str, expected: str
) -> None:
    # no time_column is declared, but the rows arrive in the order of their dates
    frame = _frame()
    frame.insert(0, "visited", pd.date_range("2024-01-01", periods=len(frame), freq="D"))
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = CONFIG.replace("split: stratified", f"split: {split}")
    (tmp_path / "loopml.yaml").write_text(config, encoding="utf-8")

    with pytest.raises(_Planned):
        Project(tmp_path).train()

    (plan,) = planned
    assert plan["strategy"] == expected
    sizes = [len(train) for train, _ in plan["folds"]]
    if expected == "time":  # expanding windows: each fold trains on everything before it
        assert sizes == sorted(set(sizes))
