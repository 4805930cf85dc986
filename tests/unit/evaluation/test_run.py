"""The evaluation stage of a run (loopml.evaluation._run): holdout metrics, diagnosis on its own
budget, business metrics, and evaluating a registered model on labelled rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import loopml.evaluation._run as run
from loopml.config import Costs, Gate, ProjectConfig
from loopml.data import LabelledRows, Problem
from loopml.errors import DataError
from loopml.evaluation import AssessSettings, DiagnosisSettings, assess, evaluate_labelled
from loopml.modeling import TrialResult

PROBLEM = Problem("binary", "label", "roc_auc", None, ("no", "yes"), "yes")
FOLDS = [(np.arange(50), np.arange(50, 100)), (np.arange(100), np.arange(100, 150))]


@pytest.fixture(scope="module")
def parts() -> tuple[Pipeline, LabelledRows, LabelledRows]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = pd.Series(np.where(X["a"] + rng.normal(scale=0.5, size=200) > 0, "yes", "no"))
    train = LabelledRows(X.iloc[:150], y.iloc[:150])
    holdout = LabelledRows(X.iloc[150:].reset_index(drop=True), y.iloc[150:].reset_index(drop=True))
    pipeline = Pipeline([("model", LogisticRegression())]).fit(train.X, train.y)
    return pipeline, holdout, train


def _trial(family: str = "linear", seconds: float = 3.0) -> TrialResult:
    return TrialResult(0, family, {}, (0.9, 0.92), seconds, "ok")


@pytest.mark.parametrize(("budget", "seconds"), [(10, 5.0), (120, 30.0), (240, 60.0), (900, 60.0)])
def test_diagnosis_gets_a_quarter_of_the_budget_between_5_s_and_a_minute(
    budget: float, seconds: float
) -> None:
    assert AssessSettings(seed=0, budget_seconds=budget).diagnosis_seconds == seconds


def test_settings_come_from_the_project() -> None:
    config = ProjectConfig.model_validate(
        {
            "name": "churn",
            "problem": {"target": "label", "costs": {"false_positive": 1, "false_negative": 4}},
            "data": {"source": {"type": "csv", "path": "x.csv"}},
            "training": {"seed": 7, "budget_seconds": 80},
        }
    )
    settings = AssessSettings.from_config(config)
    assert settings == AssessSettings(7, 80, Costs(false_positive=1, false_negative=4), 1000)


def test_assess_diagnoses_on_its_budget_with_the_fold_fit_estimate(
    parts: tuple[Pipeline, LabelledRows, LabelledRows], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    diagnose = run.diagnose

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return diagnose(*args, **kwargs)

    monkeypatch.setattr(run, "diagnose", spy)
    pipeline, holdout, train = parts
    result = assess(
        pipeline, holdout, train, PROBLEM, AssessSettings(3, 40), best=_trial(), folds=FOLDS
    )
    assert seen["settings"] == DiagnosisSettings(seed=3, n_bootstrap=1000, budget_seconds=10.0)
    assert seen["cv_scores"] == (0.9, 0.92)
    assert seen["fit_seconds"] == (75, 1.5)  # mean training rows of the folds, seconds per fit
    assert result.evaluation.n_rows == 50
    assert result.business == {}  # no costs declared


def test_assess_prices_the_holdout_errors_with_the_declared_costs(
    parts: tuple[Pipeline, LabelledRows, LabelledRows],
) -> None:
    pipeline, holdout, train = parts
    costs = Costs(false_positive=1, false_negative=5)
    result = assess(
        pipeline, holdout, train, PROBLEM, AssessSettings(0, 4, costs), best=_trial(), folds=FOLDS
    )
    pred = pipeline.predict(holdout.X)
    fp = int(((pred == "yes") & (holdout.y == "no")).sum())
    fn = int(((pred == "no") & (holdout.y == "yes")).sum())
    assert result.business == {"expected_cost": pytest.approx((fp + 5 * fn) / 50)}


@pytest.mark.parametrize(
    ("best", "folds"), [(_trial("ensemble"), FOLDS), (_trial(seconds=0.0), FOLDS), (_trial(), [])]
)
def test_no_fold_fit_estimate_without_a_timed_fit(best: TrialResult, folds: Any) -> None:
    assert run.fold_fit(best, folds) is None


def test_evaluate_labelled_uses_the_gate_given(
    parts: tuple[Pipeline, LabelledRows, LabelledRows],
) -> None:
    pipeline, holdout, _ = parts
    strict = Gate.parse("roc_auc >= 0.999")
    assert evaluate_labelled(pipeline, holdout, PROBLEM).gate.passed
    assert not evaluate_labelled(pipeline, holdout, PROBLEM, gate=strict).gate.passed


def test_evaluate_labelled_refuses_labels_the_model_never_saw(
    parts: tuple[Pipeline, LabelledRows, LabelledRows],
) -> None:
    pipeline, holdout, _ = parts
    odd = LabelledRows(holdout.X, holdout.y.mask(holdout.y.index == 0, "maybe"))
    with pytest.raises(DataError, match=r"labels \['maybe'\] in 'label' were never seen"):
        evaluate_labelled(pipeline, odd, PROBLEM)
