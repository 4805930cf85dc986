"""Bags and stacks served: the compiled row path and batch scoring agree with the pipeline,
ONNX exports a bag and refuses a stack by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_rowpath import FEATURES, _data, _records, check_parity

import _needs as needs
from loopml.data import prepare_target
from loopml.modeling import TrainingData, TrainingSpec, make_pipeline, train_model
from loopml.registry import ModelBundle


def _searched(task: str) -> ModelBundle:
    """A search with bagging on, as a long budget runs it (max_trials decides, not time)."""
    frame, problem, schema = _data(task, n=300)
    spec = TrainingSpec(
        task=problem.task,
        metric=problem.metric,
        budget_seconds=600,
        classes=tuple(problem.classes),
        positive_class=problem.positive_class,
        max_trials=3,
        cv_folds=3,
        families=("linear", "decision_tree", "random_forest"),
        tune=False,
        features=FEATURES,
        threshold="f1" if task == "binary" else "default",
        seed=0,
        n_jobs=1,
        bagging=True,
    )
    data = TrainingData(
        X=frame.drop(columns=["y"]),
        y=prepare_target(frame["y"], problem.task),
        roles=schema.roles(),
    )
    result = train_model(data, spec)
    return ModelBundle(pipeline=result.pipeline, schema=schema, problem=problem)


def _wrappers(model: Any) -> list[str]:
    found = []
    while not hasattr(model, "steps"):
        found.append(type(model).__name__)
        model = getattr(model, "estimator_", None) or model.estimators_[0]
    return found


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_searched_bag_agrees_on_the_row_path_and_in_batches(task: str) -> None:
    bundle = _searched(task)
    expected = {
        "binary": ["FixedThresholdClassifier", "BaggedEnsemble"],
        "multiclass": ["StackedEnsemble", "BaggedEnsemble"],  # a second layer won here
        "regression": ["BaggedEnsemble"],
    }
    assert _wrappers(bundle.pipeline) == expected[task]
    assert check_parity(bundle, _records()) == "python"


def _stack(task: str) -> ModelBundle:
    from loopml.modeling._stacking import StackedEnsemble

    frame, problem, schema = _data(task, n=240)
    X, y = frame.drop(columns=["y"]), prepare_target(frame["y"], problem.task)
    members = [
        make_pipeline(schema.roles(), family, problem.task, None, 0, 1)
        for family in ("linear", "decision_tree")
    ]
    classes = list(problem.classes) if task != "regression" else []
    stack = StackedEnsemble(members, task=task, classes=classes, n_folds=3).fit(X, y)
    return ModelBundle(pipeline=stack, schema=schema, problem=problem)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_stack_agrees_on_the_row_path_and_in_batches(task: str) -> None:
    assert check_parity(_stack(task), _records()) == "python"


def _onnx() -> None:
    for name in ("onnx", "onnxruntime", "skl2onnx", "onnxmltools"):
        needs.module(name)


@pytest.mark.parametrize("target", ["churned", "tier", "value"])
def test_a_bag_exports_to_onnx(target: str, tmp_path: Path) -> None:
    _onnx()
    from test_onnx import _assert_same, _holdout, _members

    from loopml.modeling._bagging import BaggedEnsemble
    from loopml.serving._onnx import OnnxPredictor, export_onnx

    members, X, y, (schema, problem) = _members(target)
    bag = BaggedEnsemble(members[:2], [0.6, 0.4], task=problem.task, n_folds=3).fit(X, y)
    bundle = ModelBundle(pipeline=bag, schema=schema, problem=problem)
    result = export_onnx(bundle, tmp_path / "bag.onnx", _holdout())
    assert result.parity.ok, result.parity.detail
    _assert_same(bundle, OnnxPredictor(bundle, tmp_path / "bag.onnx"), _holdout())


def test_a_stack_is_refused_by_onnx_export_with_the_reason(tmp_path: Path) -> None:
    _onnx()
    from loopml.serving._onnx import OnnxConversionError, export_onnx

    bundle = _stack("binary")
    out = tmp_path / "stack.onnx"
    with pytest.raises(
        OnnxConversionError,
        match=r"step 'model \(StackedEnsemble\)' is a two-layer stack .* training\.bagging: false",
    ):
        export_onnx(bundle, out, pd.DataFrame(_records()[:-1]))
    assert not out.exists()
