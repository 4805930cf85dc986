"""Holdout evaluation, curves and the success gate (loopml.evaluation._evaluate)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, Gate, ProblemConfig
from loopml.data import Problem, infer_schema, prepare_target, resolve_problem
from loopml.evaluation import GateResult, check_gate, evaluate
from loopml.metrics import clip_proba
from loopml.modeling import make_pipeline


def _fit(
    train: pd.DataFrame, target: str, success: str | None = None, family: str = "linear"
) -> tuple[Pipeline, Problem]:
    problem = resolve_problem(train, ProblemConfig(target=target, success=success))
    schema = infer_schema(train, target)
    X = train.drop(columns=[target])
    y = prepare_target(train[target], problem.task)
    pipeline = make_pipeline(schema.roles(), family, problem.task, None, 0, 1).fit(X, y)
    return pipeline, problem


def _split(frame: pd.DataFrame, target: str, task: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target]), prepare_target(frame[target], task)  # type: ignore[arg-type]


def _binary_frame(n_per_class: int, seed: int) -> pd.DataFrame:
    """Two well separated groups on x: every reasonable model gets the holdout right."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-3, -1, n_per_class), rng.uniform(1, 3, n_per_class)])
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.choice(["u", "v"], 2 * n_per_class),
            "churned": ["no"] * n_per_class + ["yes"] * n_per_class,
        }
    )


@pytest.fixture(scope="module")
def binary() -> tuple[Pipeline, Problem, pd.DataFrame, pd.Series]:
    pipeline, problem = _fit(_binary_frame(30, seed=0), "churned", success="roc_auc >= 0.9")
    X, y = _split(_binary_frame(10, seed=1), "churned", "binary")
    return pipeline, problem, X, y


def _blobs(n_per_class: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = {"apple": (0.0, 6.0), "banana": (6.0, 0.0), "cherry": (-6.0, -6.0)}
    rows = [
        (cx + rng.normal(scale=0.5), cy + rng.normal(scale=0.5), label)
        for label, (cx, cy) in centres.items()
        for _ in range(n_per_class)
    ]
    return pd.DataFrame(rows, columns=["a", "b", "fruit"])


@pytest.fixture(scope="module")
def multiclass() -> tuple[Pipeline, Problem, pd.DataFrame, pd.Series]:
    pipeline, problem = _fit(_blobs(20, seed=0), "fruit", success="accuracy >= 0.95")
    X, y = _split(_blobs(5, seed=1), "fruit", "multiclass")
    return pipeline, problem, X, y


def _linear_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    return pd.DataFrame(
        {
            "x": x,
            "day": pd.date_range("2024-03-01", periods=n, freq="D"),
            "price": 2.0 * x + 1.0 + rng.normal(scale=0.5, size=n),
        }
    )


@pytest.fixture(scope="module")
def regression() -> tuple[Pipeline, Problem, pd.DataFrame, pd.Series]:
    pipeline, problem = _fit(_linear_frame(60, seed=0), "price", success="r2 >= 0.9")
    X, y = _split(_linear_frame(25, seed=1), "price", "regression")
    return pipeline, problem, X, y


# ---------------------------------------------------------------------------- binary


def test_binary_metrics(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary

    ev = evaluate(pipeline, X, y, problem)

    assert (ev.task, ev.metric, ev.n_rows) == ("binary", "roc_auc", 20)
    assert list(ev.metrics) == list(CLASSIFICATION_METRICS)
    perfect = {k: v for k, v in ev.metrics.items() if k not in ("log_loss", "pr_auc")}
    assert perfect == dict.fromkeys(perfect, 1.0)
    assert ev.metrics["pr_auc"] == pytest.approx(1.0, abs=1e-12)  # a sum of float steps
    proba = pipeline.predict_proba(X)  # columns in pipeline.classes_ order: no, yes
    assert ev.metrics["log_loss"] == skm.log_loss(y, clip_proba(proba), labels=["no", "yes"])
    assert 0.0 < ev.metrics["log_loss"] < 0.5
    assert ev.primary == ev.metrics["roc_auc"] == 1.0


def test_binary_curves(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary

    curves = evaluate(pipeline, X, y, problem).curves

    assert set(curves) == {"labels", "confusion", "roc", "pr"}
    assert curves["labels"] == ["no", "yes"]
    assert curves["confusion"] == [[10, 0], [0, 10]]
    # one curve, for the positive class
    assert list(curves["roc"]) == ["yes"]
    assert list(curves["pr"]) == ["yes"]
    roc = curves["roc"]["yes"]
    assert set(roc) == {"fpr", "tpr"}
    assert (roc["fpr"][0], roc["tpr"][-1]) == (0.0, 1.0)
    assert len(roc["fpr"]) == len(roc["tpr"])
    assert set(curves["pr"]["yes"]) == {"recall", "precision"}
    assert max(curves["pr"]["yes"]["precision"]) == 1.0


def test_gate_passes(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary

    gate = evaluate(pipeline, X, y, problem).gate

    assert gate == GateResult("roc_auc >= 0.9", 1.0, True, (("roc_auc >= 0.9", 1.0, True),))
    assert gate.describe() == "roc_auc >= 0.9: 1.0000 → passed"


def test_gate_fails(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary
    strict = dataclasses.replace(problem, gate=Gate.parse("log_loss <= 0.001"))

    ev = evaluate(pipeline, X, y, strict)

    assert ev.gate.passed is False
    assert ev.gate.value == ev.metrics["log_loss"]
    assert ev.gate.describe() == f"log_loss <= 0.001: {ev.metrics['log_loss']:.4f} → FAILED"
    assert ev.to_dict()["gate"] == {
        "gate": "log_loss <= 0.001",
        "value": ev.metrics["log_loss"],
        "passed": False,
    }


def test_no_gate_passes(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary

    ev = evaluate(pipeline, X, y, dataclasses.replace(problem, gate=None))

    assert ev.gate == GateResult(gate=None, value=None, passed=True)
    assert ev.gate.describe() == "no success gate set (passes)"


# balanced_accuracy on a one-class holdout: scikit-learn warns that its confusion matrix has a
# single label; the value is still well defined (1.0 here).
@pytest.mark.filterwarnings("ignore:A single label was found in 'y_true' and 'y_pred'")
def test_holdout_with_one_class(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary
    only_yes = y == "yes"

    ev = evaluate(pipeline, X[only_yes], y[only_yes], problem)

    # ranking metrics are undefined on one class: the gate on them cannot pass
    assert math.isnan(ev.metrics["roc_auc"])
    assert ev.gate.passed is False
    assert ev.gate.describe() == "roc_auc >= 0.9: nan → FAILED"
    assert ev.metrics["accuracy"] == 1.0
    assert ev.curves["roc"] == {}
    assert ev.curves["pr"] == {}
    assert ev.curves["confusion"] == [[0, 0], [0, 10]]


def test_to_dict(binary: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = binary

    data = evaluate(pipeline, X, y, problem).to_dict()

    assert set(data) == {"task", "metric", "primary", "metrics", "gate", "n_rows", "fairness"}
    assert data["fairness"] is None  # no sensitive columns
    assert data["gate"] == {"gate": "roc_auc >= 0.9", "value": 1.0, "passed": True}


def test_integer_class_labels() -> None:
    train = _binary_frame(30, seed=0)
    train["churned"] = (train["churned"] == "yes").astype(int)
    holdout = _binary_frame(10, seed=1)
    holdout["churned"] = (holdout["churned"] == "yes").astype(int)
    pipeline, problem = _fit(train, "churned")
    X, y = _split(holdout, "churned", "binary")

    ev = evaluate(pipeline, X, y, problem)

    assert ev.metrics["accuracy"] == 1.0


# ---------------------------------------------------------------------------- multiclass


def test_multiclass(multiclass: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = multiclass

    ev = evaluate(pipeline, X, y, problem)

    assert (ev.task, ev.metric, ev.n_rows) == ("multiclass", "log_loss", 15)
    assert list(ev.metrics) == list(CLASSIFICATION_METRICS)
    assert ev.metrics["accuracy"] == 1.0
    assert ev.metrics["f1"] == 1.0
    assert ev.metrics["roc_auc"] == 1.0
    assert ev.primary == ev.metrics["log_loss"]
    clause = ("accuracy >= 0.95", 1.0, True)
    assert ev.gate == GateResult("accuracy >= 0.95", 1.0, True, (clause,))
    curves = ev.curves
    assert curves["labels"] == ["apple", "banana", "cherry"]
    assert curves["confusion"] == [[5, 0, 0], [0, 5, 0], [0, 0, 5]]
    # one-vs-rest curves for every class
    assert list(curves["roc"]) == ["apple", "banana", "cherry"]
    assert list(curves["pr"]) == ["apple", "banana", "cherry"]


# ---------------------------------------------------------------------------- regression


def test_regression(regression: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = regression

    ev = evaluate(pipeline, X, y, problem)

    assert (ev.task, ev.metric, ev.n_rows) == ("regression", "rmse", 25)
    assert list(ev.metrics) == list(REGRESSION_METRICS)
    pred = pipeline.predict(X)
    assert ev.metrics["mae"] == skm.mean_absolute_error(y, pred)
    assert ev.metrics["rmse"] == math.sqrt(skm.mean_squared_error(y, pred))
    assert ev.metrics["r2"] == skm.r2_score(y, pred)
    assert ev.metrics["mape"] == skm.mean_absolute_percentage_error(y, pred)
    assert ev.primary == ev.metrics["rmse"]
    assert ev.gate.passed is True
    assert ev.gate.gate == "r2 >= 0.9"


def test_regression_curves(regression: tuple[Pipeline, Problem, pd.DataFrame, pd.Series]) -> None:
    pipeline, problem, X, y = regression

    curves = evaluate(pipeline, X, y, problem).curves

    assert set(curves) == {"actual", "predicted"}
    assert len(curves["actual"]) == len(curves["predicted"]) == 25
    actual = np.round(y, 6).tolist()
    pairs = dict(zip(actual, np.round(pipeline.predict(X), 6).tolist(), strict=True))
    assert dict(zip(curves["actual"], curves["predicted"], strict=True)) == pairs


def test_regression_gate_fails(
    regression: tuple[Pipeline, Problem, pd.DataFrame, pd.Series],
) -> None:
    pipeline, problem, X, y = regression

    ev = evaluate(pipeline, X, y, dataclasses.replace(problem, gate=Gate.parse("rmse < 0.01")))

    assert ev.gate.passed is False
    assert ev.gate.value == ev.metrics["rmse"]


# ---------------------------------------------------------------------------- check_gate


@pytest.mark.parametrize(
    ("gate", "value", "passed"),
    [
        ("roc_auc >= 0.8", 0.8, True),
        ("roc_auc > 0.8", 0.8, False),
        ("rmse <= 2", 2.0, True),
        ("rmse < 2", 2.0, False),
        ("rmse < 2", float("nan"), False),
    ],
)
def test_check_gate(gate: str, value: float, passed: bool) -> None:
    parsed = Gate.parse(gate)
    result = check_gate(parsed, {parsed.metric: value})
    assert result.passed is passed
    assert result.gate == str(parsed)


def test_check_gate_on_a_missing_metric() -> None:
    result = check_gate(Gate.parse("r2 >= 0.5"), {"rmse": 1.0})
    assert result.passed is False
    assert result.value is not None and math.isnan(result.value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(534.123456, "534.1"), (12345.6789, "12,346"), (0.7452, "0.7452"), (1.5, "1.5000")],
)
def test_gate_values_in_the_target_s_units_are_rounded_for_people(value: float, shown: str) -> None:
    gate = GateResult(gate="rmse <= 600", value=value, passed=value <= 600)

    assert gate.describe().startswith(f"rmse <= 600: {shown} → ")
