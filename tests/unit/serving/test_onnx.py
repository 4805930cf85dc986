"""ONNX export and the ONNX runtime (loopml.serving._onnx): parity with ``predict_frame``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import _needs as needs
from loopml.config import (
    CategoryCleaning,
    CleaningConfig,
    FeaturesConfig,
    ProblemConfig,
    SelectionConfig,
)
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.modeling import PipelineRecipe, make_pipeline
from loopml.registry import ModelBundle
from loopml.serving._onnx import (
    OnnxConversionError,
    OnnxPredictor,
    ParityError,
    export_onnx,
    row_batch,
    to_onnx,
)


@pytest.fixture(autouse=True, scope="module")
def _onnx_installed() -> None:
    for name in ("onnx", "onnxruntime", "skl2onnx", "onnxmltools"):
        needs.module(name)


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plans = ["basic", "pro", "team", "rare1", "rare2"]
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": rng.integers(20, 70, n).astype(float),
            "income": rng.lognormal(10, 0.5, n),
            "plan": rng.choice(plans, n, p=[0.4, 0.3, 0.26, 0.02, 0.02]),
            "signup": pd.Timestamp("2023-12-30 22:00")
            + pd.to_timedelta(rng.integers(0, 900 * 24, n), unit="h"),
        }
    )
    frame.loc[[1, 4], "age"] = np.nan
    frame.loc[[2], "plan"] = None
    frame.loc[[3], "signup"] = pd.NaT
    return frame


def _target(frame: pd.DataFrame, target: str) -> pd.Series:
    young = frame["age"].fillna(45) < 40
    if target == "churned":
        return pd.Series(np.where(young ^ (frame["plan"] == "basic"), "yes", "no"))
    if target == "tier":
        return pd.Series(np.where(young, "a", np.where(frame["plan"] == "pro", "b", "c")))
    return 2.0 * frame["age"].fillna(45) + 5.0 * (frame["plan"] == "team")


def _bundle(
    family: str, target: str, recipe: PipelineRecipe | None = None, frame: Any = None
) -> ModelBundle:
    frame = _customers(300, seed=0) if frame is None else frame
    frame = frame.assign(**{target: _target(frame, target).to_numpy()})
    problem = resolve_problem(frame, ProblemConfig(target=target))
    schema = infer_schema(frame, target, id_columns=["customer_id"])
    X = frame.drop(columns=[target])
    y = prepare_target(frame[target], problem.task)
    pipeline = make_pipeline(schema.roles(), family, problem.task, None, 0, 1, recipe)
    return ModelBundle(
        pipeline=pipeline.fit(X, y), schema=schema, problem=problem, id_columns=("customer_id",)
    )


def _holdout() -> pd.DataFrame:
    rows = _customers(120, seed=1)
    rows.loc[5, "plan"] = "never seen"
    rows.loc[6, "plan"] = "  PRO "  # normalised to "pro"
    rows.loc[7, ["age", "income"]] = np.nan
    return rows


def _assert_same(bundle: ModelBundle, predictor: OnnxPredictor, rows: pd.DataFrame) -> None:
    """The runtime's Predictions equal predict_frame's (labels exactly)."""
    expected = bundle.predict_frame(rows)
    got = predictor.predict(row_batch(bundle, rows), len(rows))
    if bundle.problem.task == "regression":
        np.testing.assert_allclose(got.predictions, expected["prediction"], rtol=1e-4)
        assert got.probabilities is None
        return
    assert got.predictions == expected["prediction"].tolist()
    assert got.probabilities is not None
    for c in bundle.problem.classes:
        column = [p[str(c)] for p in got.probabilities]
        np.testing.assert_allclose(column, expected[f"proba_{c}"], atol=1e-4)


CASES = [
    ("linear", "churned"),
    ("linear", "tier"),
    ("linear", "value"),
    ("lightgbm", "churned"),
    ("lightgbm", "tier"),
    ("lightgbm", "value"),
    ("random_forest", "churned"),
    ("hist_gradient_boosting", "tier"),
    ("decision_tree", "value"),
    ("mlp", "value"),
    ("xgboost", "churned"),
]


@pytest.mark.parametrize(("family", "target"), CASES)
def test_export_agrees_with_the_pipeline(family: str, target: str, tmp_path: Path) -> None:
    if family == "xgboost":
        needs.module("xgboost")
    bundle = _bundle(family, target)
    rows = _holdout()
    out = tmp_path / "model.onnx"
    result = export_onnx(bundle, out, rows)
    assert out.is_file() and out.stat().st_size == result.bytes
    assert result.parity.ok and result.parity.rows == len(rows)
    assert result.inputs == {
        "age": "numeric",
        "income": "numeric",
        "plan": "categorical",
        "signup": "datetime",
    }
    predictor = OnnxPredictor(bundle, out)
    assert predictor.runtime == "onnx"
    _assert_same(bundle, predictor, rows)
    _assert_same(bundle, predictor, rows.iloc[[5]])  # one row: the unseen label


def test_model_inputs_are_typed_by_role() -> None:
    bundle = _bundle("linear", "churned")
    model = to_onnx(bundle)
    inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    # 11 double, 8 string, 7 int64 (onnx.TensorProto)
    assert inputs == {"age": 11, "income": 11, "plan": 8, "signup": 7}
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["loopml.task"] == "binary" and meta["loopml.classes"] == '["no", "yes"]'
    assert meta["loopml.model_version"] == ""  # export_onnx(..., model_version=) sets it


def test_engineered_features_agree(tmp_path: Path) -> None:
    """Cleaning (merged spellings, clipped outliers), declared expressions, every datetime
    part, target encoding of a high-cardinality column and a selection step."""
    frame = _customers(300, seed=0)
    frame["city"] = np.random.default_rng(3).choice([f"c{i}" for i in range(12)], 300)
    frame.loc[frame.index[:12], "plan"] = "basicc"  # a typo CategoryMerger maps onto "basic"
    recipe = PipelineRecipe(
        cleaning=CleaningConfig(
            outliers="clip",
            outlier_quantiles=(0.05, 0.95),
            categories=CategoryCleaning(merge_similar=True),
        ),
        features=FeaturesConfig(
            expressions={
                "per_year": "income / (age - 20)",  # age 20: division by zero, missing
                "is_pro": "plan == 'pro'",
                "mix": "(age > 30) & (plan in ['pro', 'team']) | ~(income <= 20000)",
                "cycle": "-age % 7 + age // 9 - per_year ** 0.5",
            },
            target_encoding="always",
            high_cardinality=8,
            absolute_time="keep",
            selection=SelectionConfig(method="correlation"),
        ),
    )
    rows = _holdout().assign(city=lambda f: ["c1", "c11", "nowhere", None] * 30)
    rows.loc[8, "plan"] = "basicc"
    for family, target in [("linear", "churned"), ("lightgbm", "tier"), ("linear", "value")]:
        bundle = _bundle(family, target, recipe, frame)
        steps = dict(bundle.pipeline.steps)
        assert {"categories", "outliers", "expressions", "select"} <= set(steps)
        assert bundle.pipeline.named_steps["categories"].mappings_["plan"]["basicc"] == "basic"
        result = export_onnx(bundle, tmp_path / f"{family}-{target}.onnx", rows)
        assert result.parity.ok, result.parity.detail
        _assert_same(bundle, OnnxPredictor(bundle, tmp_path / f"{family}-{target}.onnx"), rows)
        # the features themselves, not only what the model makes of them
        expected = bundle.pipeline[:-1].transform(rows)
        np.testing.assert_allclose(_features(bundle, rows), expected, rtol=1e-12, atol=1e-12)


def _features(bundle: ModelBundle, rows: pd.DataFrame) -> np.ndarray:
    """The matrix the ONNX graph hands its model (after selection when there is one)."""
    import onnx

    model = to_onnx(bundle)
    made = [n.output[0] for n in model.graph.node]
    name = next((n for n in made if n.startswith("selected")), "features")
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, 11, None))
    predictor = OnnxPredictor(bundle, model)
    return predictor.session.run([name], predictor.feeds(row_batch(bundle, rows), len(rows)))[0]


def test_calendar_parts_are_exact_across_centuries() -> None:
    """Leap days, dates before 1970, the turn of 2100, missing stamps: the integer calendar in
    the graph gives what pandas gives, for every part DatetimeExpander derives."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline

    from loopml.features import ALL_DATETIME_PARTS, DatetimeExpander, FrameCoercer

    stamps = pd.to_datetime(
        ["1900-02-28 23:59", "1900-03-01", "1969-12-31 23:59:59", "1970-01-01", "2000-02-29 12:30",
         "2024-12-31 23:00", "2100-03-01 01:01", "1955-07-04 06:15", "2024-03-03 07:45", None],
        format="mixed",
    )  # fmt: skip
    frame = pd.DataFrame({"when": stamps, "y": np.arange(10.0)})
    expander = DatetimeExpander(("when",), ALL_DATETIME_PARTS)
    pipeline = Pipeline(
        [
            ("coerce", FrameCoercer({"when": "datetime"})),
            ("datetime", expander),
            ("columns", ColumnTransformer([("num", "passthrough", lambda X: list(X.columns))])),
            ("model", LinearRegression()),
        ]
    ).fit(frame.iloc[:-1][["when"]], frame["y"].iloc[:-1])
    assert len(expander.parts_["when"]) == len(ALL_DATETIME_PARTS)  # minute varies: kept
    bundle = ModelBundle(
        pipeline=pipeline,
        schema=infer_schema(frame, "y"),
        problem=resolve_problem(frame, ProblemConfig(target="y", task="regression")),
    )
    rows = frame[["when"]]
    got = _features(bundle, rows)
    expected = pipeline[:-1].transform(rows)
    names = pipeline[:-1].get_feature_names_out()
    for j, name in enumerate(names):
        np.testing.assert_allclose(got[:, j], expected[:, j], rtol=1e-15, atol=1e-15, err_msg=name)


def _members(target: str) -> tuple[list[Any], pd.DataFrame, pd.Series, Any]:
    frame = _customers(300, seed=0)
    frame[target] = _target(frame, target).to_numpy()
    problem = resolve_problem(frame, ProblemConfig(target=target))
    schema = infer_schema(frame, target, id_columns=["customer_id"])
    X, y = frame.drop(columns=[target]), prepare_target(frame[target], problem.task)
    members = [
        make_pipeline(schema.roles(), family, problem.task, None, 0, 1)
        for family in ("linear", "lightgbm", "random_forest")
    ]
    return members, X, y, (schema, problem)


@pytest.mark.parametrize("target", ["churned", "tier", "value"])
def test_weighted_ensembles_agree(target: str, tmp_path: Path) -> None:
    from loopml.modeling._ensemble import WeightedEnsemble

    members, X, y, (schema, problem) = _members(target)
    ensemble = WeightedEnsemble(members, [0.5, 0.3, 0.2], task=problem.task).fit(X, y)
    bundle = ModelBundle(pipeline=ensemble, schema=schema, problem=problem)
    result = export_onnx(bundle, tmp_path / "ensemble.onnx", _holdout())
    assert result.parity.ok, result.parity.detail
    _assert_same(bundle, OnnxPredictor(bundle, tmp_path / "ensemble.onnx"), _holdout())


def test_threshold_decides_labels_like_the_pipeline(tmp_path: Path) -> None:
    """A tuned threshold (FixedThresholdClassifier, over an ensemble as a search makes it):
    the ONNX labels follow it, not the most probable class."""
    from sklearn.model_selection import FixedThresholdClassifier

    from loopml.modeling._ensemble import WeightedEnsemble

    members, X, y, (schema, problem) = _members("churned")
    ensemble = WeightedEnsemble(members[:2], [0.5, 0.5], task="binary")
    model = FixedThresholdClassifier(ensemble, threshold=0.8, pos_label="yes").fit(X, y)
    bundle = ModelBundle(pipeline=model, schema=schema, problem=problem)
    rows = _holdout()
    result = export_onnx(bundle, tmp_path / "tuned.onnx", rows)
    assert result.parity.ok, result.parity.detail
    got = OnnxPredictor(bundle, tmp_path / "tuned.onnx").predict(row_batch(bundle, rows), len(rows))
    assert got.probabilities is not None
    flipped = [
        i for i, p in enumerate(got.probabilities) if 0.5 < p["yes"] < 0.8
    ]  # most probable "yes", but below the threshold
    assert flipped and all(got.predictions[i] == "no" for i in flipped)
    assert got.predictions == bundle.predict_frame(rows)["prediction"].tolist()


def test_a_step_that_cannot_convert_is_named(tmp_path: Path) -> None:
    frame = _customers(300, seed=0)
    words = np.random.default_rng(4).choice(
        ["late payment again", "very happy with it", "please call me back"], 300
    )
    frame["note"] = [f"{w} {i}" for i, w in enumerate(words)]  # free text: TF-IDF terms
    bundle = _bundle("linear", "churned", PipelineRecipe(features=FeaturesConfig()), frame)
    assert bundle.schema["note"].role == "text"
    out = tmp_path / "text.onnx"
    with pytest.raises(OnnxConversionError, match=r"step 'columns/text0 \(TextVectorizer\)'"):
        export_onnx(bundle, out, _holdout().assign(note="happy"))
    assert not out.exists()


def test_catboost_native_categories_are_refused_by_name() -> None:
    needs.module("catboost")
    bundle = _bundle("catboost", "churned")
    with pytest.raises(OnnxConversionError, match=r"step 'model \(EarlyStoppingClassifier\)'.*"):
        to_onnx(bundle)


def test_parity_failure_writes_nothing(tmp_path: Path) -> None:
    """HistGradientBoosting is written with float32 thresholds (skl2onnx); ages that differ
    below float32's resolution fall on both sides of a split in the model and on one side in
    ONNX. The export fails and leaves an earlier file as it was."""
    frame = _customers(300, seed=0)
    frame["age"] = np.where(np.arange(300) % 2 == 0, 40.0, 40.0 + 1e-6)
    frame["churned"] = np.where(frame["age"] > 40.0, "yes", "no")
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X, y = frame.drop(columns=["churned"]), prepare_target(frame["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "hist_gradient_boosting", problem.task, None, 0, 1)
    bundle = ModelBundle(pipeline=pipeline.fit(X, y), schema=schema, problem=problem)
    out = tmp_path / "model.onnx"
    out.write_bytes(b"the earlier export")
    with pytest.raises(
        ParityError, match=r"disagrees with the pipeline on the holdout \(300 rows\)"
    ):
        export_onnx(bundle, out, X)
    assert out.read_bytes() == b"the earlier export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no temporary file left


def test_a_tampered_model_fails_the_parity_check() -> None:
    """The check compares real outputs: a model whose coefficients were edited fails it."""
    from onnx import numpy_helper

    from loopml.serving._onnx import check_parity

    bundle = _bundle("linear", "churned")
    model = to_onnx(bundle)
    assert check_parity(bundle, _holdout(), model.SerializeToString()).ok
    coefficients = next(t for t in model.graph.initializer if t.name.startswith("coef"))
    edited = numpy_helper.to_array(coefficients) * 1.01
    coefficients.CopyFrom(numpy_helper.from_array(edited, coefficients.name))
    report = check_parity(bundle, _holdout(), model.SerializeToString())
    assert not report.ok and report.max_difference > 1e-4


def test_runtime_refuses_a_model_of_other_columns_or_broken_bytes() -> None:
    churn = _bundle("linear", "churned")
    with pytest.raises(OnnxConversionError, match="ONNX Runtime cannot load the model"):
        OnnxPredictor(churn, b"not an onnx model")
    frame = _customers(300, seed=0).assign(extra=1.0)
    wider = _bundle("linear", "churned", frame=frame)
    with pytest.raises(OnnxConversionError, match="exported from another model"):
        OnnxPredictor(churn, to_onnx(wider))


def test_runtime_runs_on_one_thread_and_is_warm() -> None:
    bundle = _bundle("lightgbm", "churned")
    predictor = OnnxPredictor(bundle)
    options = predictor.session.get_session_options()
    assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    rows = _holdout().iloc[:1]
    _assert_same(bundle, predictor, rows)


def test_the_committed_old_bundle_exports(tmp_path: Path) -> None:
    """A bundle written by loopml 0.1.0 (tests/fixtures/bundles) converts and agrees."""
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "bundles" / "v0.1.0"
    bundle = ModelBundle.load(fixtures / "bundle")
    rows = pd.read_csv(fixtures / "rows.csv")
    result = export_onnx(bundle, tmp_path / "old.onnx", rows)
    assert result.parity.ok and result.parity.rows == len(rows)
    _assert_same(bundle, OnnxPredictor(bundle, tmp_path / "old.onnx"), rows)


def test_export_names_a_path_it_cannot_write(tmp_path: Path) -> None:
    bundle = _bundle("linear", "churned")
    with pytest.raises(OnnxConversionError, match=r"it is a folder\. Give a file name"):
        export_onnx(bundle, tmp_path, _holdout())
    with pytest.raises(OnnxConversionError, match=r"the folder .*missing.* does not exist"):
        export_onnx(bundle, tmp_path / "missing" / "model.onnx", _holdout())
    assert list(tmp_path.iterdir()) == []
