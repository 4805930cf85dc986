"""Performance of a window (loopml.monitoring._performance): realised on labels, and CBPE."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.data import Problem, infer_schema
from loopml.monitoring import (
    Reference,
    build_reference,
    estimated_performance,
    realised_performance,
)

BINARY = Problem(task="binary", target="y", metric="accuracy", gate=None, classes=("no", "yes"),
                 positive_class="yes")  # fmt: skip


def scored(n: int, rng: np.random.Generator, a: float = 2.0, b: float = 2.0):
    """A calibrated model: labels drawn from its own probabilities (``beta(a, b)`` scores)."""
    p = rng.beta(a, b, n)
    y = pd.Series(np.where(rng.uniform(size=n) < p, "yes", "no"))
    said = pd.Series(np.where(p >= 0.5, "yes", "no"))
    return y, said, pd.DataFrame({"no": 1 - p, "yes": p})


@pytest.fixture(scope="module")
def reference() -> Reference:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=4000)})
    y, said, proba = scored(4000, rng)
    schema = infer_schema(X.assign(y=y), "y")
    d = build_reference(X, schema, BINARY, holdout_y=y, holdout_predictions=said,
                        holdout_probabilities=proba)  # fmt: skip
    return Reference.from_dict(d)


def test_realised_accuracy_with_an_interval() -> None:
    y, said, proba = scored(2000, np.random.default_rng(1))
    perf = realised_performance(BINARY, y, said, proba, "accuracy")
    assert perf.value == pytest.approx(float((y == said).mean()))
    assert perf.low is not None and perf.high is not None
    assert perf.low < perf.value < perf.high and perf.high - perf.low < 0.06
    assert (perf.rows, perf.method, perf.metric) == (2000, "labels", "accuracy")
    again = realised_performance(BINARY, y, said, proba, "accuracy")
    assert again == perf  # seeded


def test_realised_roc_auc_reads_logged_labels_and_skips_unlabelled_rows() -> None:
    y, said, proba = scored(500, np.random.default_rng(2))
    logged = y.astype(object)
    logged[:100] = None  # not labelled yet
    perf = realised_performance(BINARY, logged, said, proba, "roc_auc")
    assert perf.rows == 400 and perf.value is not None
    assert perf.low is not None and perf.high is not None and perf.low <= perf.value <= perf.high


def test_realised_regression_metric_and_too_few_rows() -> None:
    problem = Problem(task="regression", target="y", metric="rmse", gate=None)
    rng = np.random.default_rng(3)
    truth = pd.Series(rng.normal(size=300))
    perf = realised_performance(problem, truth, truth + rng.normal(0, 0.5, 300), None, "rmse")
    assert perf.value == pytest.approx(0.5, abs=0.06) and perf.low < perf.value < perf.high
    few = realised_performance(problem, truth[:10], truth[:10], None, "rmse")
    assert (few.value, few.low, few.high, few.rows) == (None, None, None, 10)


def test_cbpe_accuracy_is_close_to_the_realised_one(reference: Reference) -> None:
    rng = np.random.default_rng(4)
    for a, b in [(2.0, 2.0), (5.0, 1.5)]:  # the scores drift; the model stays calibrated
        y, said, proba = scored(5000, rng, a, b)
        est = estimated_performance(reference, proba, "accuracy")
        real = realised_performance(BINARY, y, said, proba, "accuracy")
        assert est is not None and est.value is not None and real.value is not None
        assert est.method == "cbpe" and est.rows == 5000
        assert est.value == pytest.approx(real.value, abs=0.015)
        assert est.low is not None and est.high is not None and est.low < real.value < est.high
        assert est.high - est.low < 0.05


def test_cbpe_calibrates_an_overconfident_model() -> None:
    """The model says p, the truth is p**0.5 / (p**0.5 + (1 - p)**0.5): raw probabilities
    overstate the accuracy; calibrated on the holdout they do not."""
    rng = np.random.default_rng(7)

    def overconfident(n: int, a: float, b: float):
        p = rng.beta(a, b, n)
        truth = np.sqrt(p) / (np.sqrt(p) + np.sqrt(1 - p))
        y = pd.Series(np.where(rng.uniform(size=n) < truth, "yes", "no"))
        return y, pd.Series(np.where(p >= 0.5, "yes", "no")), pd.DataFrame({"no": 1 - p, "yes": p})

    y, said, proba = overconfident(5000, 1.0, 1.0)
    X = pd.DataFrame({"x": np.zeros(5000)})
    d = build_reference(X, infer_schema(X.assign(y=y), "y"), BINARY, holdout_y=y,
                        holdout_predictions=said, holdout_probabilities=proba)  # fmt: skip
    y, said, proba = overconfident(5000, 2.0, 1.0)
    est = estimated_performance(Reference.from_dict(d), proba, "accuracy")
    real = float((y == said).mean())
    raw = float(np.maximum(proba["yes"], proba["no"]).mean())
    assert est is not None and est.value is not None and raw - real > 0.05
    assert est.value == pytest.approx(real, abs=0.015)


def test_cbpe_accuracy_of_a_multiclass_model() -> None:
    rng = np.random.default_rng(8)
    classes = ("a", "b", "c")
    problem = Problem(task="multiclass", target="y", metric="accuracy", gate=None,
                      classes=classes)  # fmt: skip

    def draw(n: int, concentration: float):
        p = rng.dirichlet([concentration] * 3, n)
        y = pd.Series([classes[k] for k in (rng.uniform(size=(n, 1)) > p.cumsum(1)).sum(1)])
        said = pd.Series([classes[k] for k in p.argmax(1)])
        return y, said, pd.DataFrame(p, columns=list(classes))

    y, said, proba = draw(5000, 1.0)
    X = pd.DataFrame({"x": np.zeros(5000)})
    d = build_reference(X, infer_schema(X.assign(y=y), "y"), problem, holdout_y=y,
                        holdout_predictions=said, holdout_probabilities=proba)  # fmt: skip
    y, said, proba = draw(5000, 0.5)
    est = estimated_performance(Reference.from_dict(d), proba, "accuracy")
    real = realised_performance(problem, y, said, proba, "accuracy")
    assert est is not None and est.value is not None and real.value is not None
    assert est.value == pytest.approx(real.value, abs=0.02)


def test_cbpe_roc_auc_is_close_to_the_realised_one(reference: Reference) -> None:
    y, said, proba = scored(5000, np.random.default_rng(5), 3.0, 2.0)
    est = estimated_performance(reference, proba, "roc_auc")
    real = realised_performance(BINARY, y, said, proba, "roc_auc")
    assert est is not None and est.value is not None and real.value is not None
    assert est.value == pytest.approx(real.value, abs=0.02)


def test_cbpe_says_none_where_it_cannot_estimate(reference: Reference) -> None:
    _, _, proba = scored(100, np.random.default_rng(6))
    assert estimated_performance(reference, proba, "f1_macro") is None
    assert estimated_performance(reference, proba.rename(columns={"yes": "y"}), "accuracy") is None
    few = estimated_performance(reference, proba[:5], "accuracy")
    assert few is not None and (few.value, few.rows) == (None, 5)


def test_cbpe_log_loss_is_close_to_the_realised_one(reference: Reference) -> None:
    y, said, proba = scored(5000, np.random.default_rng(9), 3.0, 2.0)
    est = estimated_performance(reference, proba, "log_loss")
    real = realised_performance(BINARY, y, said, proba, "log_loss")
    assert est is not None and est.value is not None and real.value is not None
    assert est.value == pytest.approx(real.value, abs=0.02)
    assert est.low is not None and est.high is not None and est.low < real.value < est.high
