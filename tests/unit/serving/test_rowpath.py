"""The compiled row path agrees with ``ModelBundle.predict_frame`` (loopml.serving._compile).

Pipelines come from loopml's own builders and training on small synthetic data with every
column role, every model family and the feature options; the same instances go through
``predict_frame`` (as a DataFrame of raw values) and through the reader and each runtime.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import _needs as needs
from loopml.config import CategoryCleaning, CleaningConfig, FeaturesConfig, ProblemConfig
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.errors import ConfigError
from loopml.modeling import PipelineRecipe, TrainingData, TrainingSpec, make_pipeline, train_model
from loopml.registry import ModelBundle
from loopml.serving._compile import CompiledPredictor, compile_predictor
from loopml.serving._contract import Predictions
from loopml.serving._frame import FramePredictor
from loopml.serving._reader import RecordReader, fitted_pipelines

WORDS = ["good", "bad", "slow", "fast", "cheap", "price", "support", "great", "late"]
CITIES = [f"city {i}" for i in range(40)]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": rng.normal(50_000, 15_000, n).round(2),
            # "Basic " normalises to "basic"; "teamm" is a typo the category merger maps
            "plan": rng.choice(
                ["basic", "pro", "team", "Basic ", "teamm"], n, p=[0.4, 0.3, 0.22, 0.05, 0.03]
            ),
            "city": rng.choice(CITIES, n),
            "active": rng.choice([True, False], n),
            "signup": (
                pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 500 * 24, n), "h")
            ).strftime("%Y-%m-%d %H:%M"),
            "note": [" ".join(rng.choice(WORDS, rng.integers(4, 8))) for _ in range(n)],
        }
    )
    frame.loc[rng.random(n) < 0.08, "age"] = np.nan
    frame.loc[rng.random(n) < 0.08, "plan"] = None
    return frame


def _target(frame: pd.DataFrame, task: str, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed + 100)
    score = (
        (frame["age"].fillna(45) - 45) / 15
        + (frame["plan"].fillna("basic").str.strip().str.lower() == "basic") * 1.0
        + frame["note"].str.contains("bad") * 0.8
        + rng.normal(0, 0.5, len(frame))
    )
    if task == "regression":
        return (10 * score + frame["income"] / 10_000).rename("y")
    if task == "binary":
        return pd.Series(np.where(score > 0.4, "yes", "no"), name="y")
    return pd.Series(np.select([score < 0, score < 1], ["low", "mid"], "high"), name="y")


def _data(task: str, n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, Any, Any]:
    frame = _frame(n, seed)
    frame["y"] = _target(frame, task, seed)
    problem = resolve_problem(frame, ProblemConfig(target="y", task=task))  # type: ignore[arg-type]
    schema = infer_schema(frame, "y")
    return frame, problem, schema


FEATURES = FeaturesConfig(
    expressions={"age_per_k": "age / (income / 1000)", "young_pro": "age < 35 & plan == 'pro'"},
    high_cardinality=20,
    selection={"method": "none"},  # type: ignore[arg-type]
    text={"max_features": 20, "ngram_max": 1},  # type: ignore[arg-type]
)
CLEANING = CleaningConfig(outliers="clip", categories=CategoryCleaning(merge_similar=True))


#: smaller than the families' defaults, so the tests fit quickly
SMALL: dict[str, dict[str, Any]] = {
    "random_forest": {"n_estimators": 30},
    "extra_trees": {"n_estimators": 30},
    "hist_gradient_boosting": {"max_iter": 40},
    "mlp": {"width": 32},
}


def _fitted(task: str, family: str, recipe: PipelineRecipe | None) -> ModelBundle:
    frame, problem, schema = _data(task)
    X = frame.drop(columns=["y"])
    y = prepare_target(frame["y"], problem.task)
    params = SMALL.get(family)
    pipeline = make_pipeline(schema.roles(), family, problem.task, params, 0, 1, recipe)
    with threadpool_limits(1):  # two OpenMP threads on a busy machine only wait for each other
        pipeline.fit(X, y)
    return ModelBundle(pipeline=pipeline, schema=schema, problem=problem)


def _records(n: int = 30, seed: int = 7) -> list[dict[str, Any]]:
    """Instances as a client sends them: raw text and numbers, unseen labels, gaps."""
    frame = _frame(n, seed).astype(object)
    frame = frame.where(frame.notna(), None)
    records = frame.to_dict("records")
    records[0].update(plan="Gold", city="Atlantis", age=150.0)  # unseen, out of range
    records[1].update(plan=" PRO ", income="52,000.5", active="yes")
    records.append(dict.fromkeys(records[0]))  # every value missing
    return records


def assert_same(got: Predictions, frame: pd.DataFrame, problem: Any) -> None:
    """Identical labels, and numbers within 1e-9, against ``predict_frame``'s output."""
    if problem.task == "regression":
        np.testing.assert_allclose(got.predictions, frame["prediction"], rtol=1e-9, atol=1e-9)
        assert got.probabilities is None
        return
    assert got.predictions == frame["prediction"].tolist()
    assert got.probabilities is not None
    for c in problem.classes:
        column = [p[str(c)] for p in got.probabilities]
        np.testing.assert_allclose(column, frame[f"proba_{c}"], rtol=0, atol=1e-9)


def assert_same_frame(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The same columns, index and labels, and numbers within 1e-9."""
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index)
    assert got["prediction"].dtype == expected["prediction"].dtype
    numbers = [c for c in expected.columns if c.startswith("proba_")]
    if numbers:
        assert got["prediction"].tolist() == expected["prediction"].tolist()
    else:
        numbers = ["prediction"]
    np.testing.assert_allclose(got[numbers], expected[numbers], rtol=1e-9, atol=1e-9)


def check_parity(bundle: ModelBundle, records: list[dict[str, Any]]) -> str:
    """Every runtime against ``predict_frame``, on all records, one record and none; and
    the compiled path on a whole frame (batch scoring) too."""
    raw = pd.DataFrame(records)
    raw.index = raw.index + 100  # batch chunks keep the file's row numbers
    expected = bundle.predict_frame(raw)
    reader = RecordReader(bundle)
    batch = reader.read(records)
    compiled = compile_predictor(bundle, "python")
    assert isinstance(compiled, CompiledPredictor)
    assert_same_frame(compiled.predict_frame(raw), expected)
    for predictor in (compiled, FramePredictor(bundle)):
        assert_same(predictor.predict(batch.rows, batch.n), expected, bundle.problem)
        one = reader.read(records[1:2])
        assert_same(predictor.predict(one.rows, 1), expected.iloc[1:2], bundle.problem)
    none = reader.read([])
    for predictor in (compiled, FramePredictor(bundle)):
        assert predictor.predict(none.rows, 0).predictions == []
    return compiled.runtime


FAMILIES = [
    "linear",
    "decision_tree",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "knn",
    "mlp",
    "lightgbm",
    "xgboost",
    "catboost",
]
NEEDS = {"xgboost": "xgboost", "catboost": "catboost", "lightgbm": "lightgbm"}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_compiles_and_agrees_with_predict_frame(task: str, family: str) -> None:
    if family in NEEDS:
        needs.module(NEEDS[family])
    bundle = _fitted(task, family, PipelineRecipe(cleaning=CLEANING, features=FEATURES))
    members = list(fitted_pipelines(bundle.pipeline))
    assert members[0].named_steps["categories"].mappings_["plan"] == {"teamm": "team"}
    assert "outliers" in members[0].named_steps
    if family == "catboost":  # category codes go to CatBoost as categories
        assert type(bundle.pipeline).__name__ == "NativeCategoricalPipeline"
        assert bundle.pipeline.steps[-1][1].categorical_
    assert check_parity(bundle, _records()) == "python"


@pytest.mark.parametrize("family", ["linear", "lightgbm", "random_forest"])
def test_the_plain_pipeline_compiles_and_agrees(family: str) -> None:
    needs.module("lightgbm")
    assert check_parity(_fitted("binary", family, None), _records()) == "python"


def test_target_encoding_of_many_classes_and_selection_agree() -> None:
    features = FEATURES.model_copy(
        update={"selection": FEATURES.selection.model_copy(update={"method": "correlation"})}
    )
    bundle = _fitted("multiclass", "linear", PipelineRecipe(features=features))
    assert "select" in bundle.pipeline.named_steps
    assert check_parity(bundle, _records()) == "python"


def test_mutual_information_selection_agrees() -> None:
    features = FEATURES.model_copy(
        update={"selection": FEATURES.selection.model_copy(update={"method": "mutual_info"})}
    )
    bundle = _fitted("regression", "linear", PipelineRecipe(features=features))
    assert check_parity(bundle, _records()) == "python"


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_searched_ensemble_with_a_threshold_agrees(task: str) -> None:
    needs.module("lightgbm")
    frame, problem, schema = _data(task, n=300)
    spec = TrainingSpec(
        task=problem.task,
        metric=problem.metric,
        budget_seconds=60,
        classes=tuple(problem.classes),
        positive_class=problem.positive_class,
        max_trials=4,
        cv_folds=3,
        families=("linear", "lightgbm", "decision_tree"),
        tune=False,
        features=FEATURES,
        threshold="f1" if task == "binary" else "default",
        seed=0,
        n_jobs=1,
    )
    data = TrainingData(
        X=frame.drop(columns=["y"]),
        y=prepare_target(frame["y"], problem.task),
        roles=schema.roles(),
    )
    result = train_model(data, spec)
    # what this test is for: a decision threshold around a weighted ensemble of pipelines
    wrappers = {"binary": ["FixedThresholdClassifier", "WeightedEnsemble"]}
    model, found = result.pipeline, []
    while not hasattr(model, "steps"):
        found.append(type(model).__name__)
        model = getattr(model, "estimator_", None) or model.estimators_[0]
    assert found == wrappers.get(task, ["WeightedEnsemble"])
    bundle = ModelBundle(pipeline=result.pipeline, schema=schema, problem=problem)
    assert check_parity(bundle, _records()) == "python"


# ---------------------------------------------------------------------------- runtimes


def test_frame_runtime_is_the_pipeline_on_a_dataframe() -> None:
    bundle = _fitted("binary", "linear", None)
    predictor = compile_predictor(bundle, "frame")
    assert isinstance(predictor, FramePredictor)
    batch = RecordReader(bundle).read(_records())
    assert_same(
        predictor.predict(batch.rows, batch.n),
        bundle.predict_frame(pd.DataFrame(_records())),
        bundle.problem,
    )


def test_an_unknown_runtime_is_refused() -> None:
    bundle = _fitted("binary", "linear", None)
    with pytest.raises(ConfigError, match=r"serving.runtime must be one of auto, python, frame"):
        compile_predictor(bundle, "onnx")  # type: ignore[arg-type]


class _Doubler:
    """A step loopml does not build: it has no compiled form."""

    def fit(self, X: Any, y: Any = None) -> _Doubler:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X.copy()
        out["age"] = out["age"] * 2
        return out


def _with_foreign_step() -> ModelBundle:
    from sklearn.pipeline import Pipeline

    bundle = _fitted("binary", "linear", None)
    steps = list(bundle.pipeline.steps)
    steps.insert(1, ("double", _Doubler()))
    return ModelBundle(pipeline=Pipeline(steps), schema=bundle.schema, problem=bundle.problem)


def test_auto_falls_back_to_the_frame_and_names_the_step(caplog: pytest.LogCaptureFixture) -> None:
    bundle = _with_foreign_step()
    with caplog.at_level(logging.WARNING, logger="loopml.serving._compile"):
        predictor = compile_predictor(bundle, "auto")
    assert predictor.runtime == "frame"
    assert "step 'double' (_Doubler)" in caplog.text
    batch = RecordReader(bundle).read(_records())
    assert_same(
        predictor.predict(batch.rows, batch.n),
        bundle.predict_frame(pd.DataFrame(_records())),
        bundle.problem,
    )


def test_python_runtime_refuses_a_step_without_compiled_form() -> None:
    with pytest.raises(ConfigError, match=r"cannot be compiled: step 'double' \(_Doubler\)"):
        compile_predictor(_with_foreign_step(), "python")
