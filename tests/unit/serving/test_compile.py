"""Each compiled step gives the numbers its fitted step gives (loopml.serving._fast_*)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.features import ALL_DATETIME_PARTS as PARTS
from loopml.features import (
    CategoryMerger,
    DatetimeExpander,
    ExpressionFeatures,
    FrameCoercer,
    OutlierClipper,
)
from loopml.serving._fast_columns import compile_column_transformer, compile_numeric
from loopml.serving._fast_model import compile_model
from loopml.serving._fast_table import (
    NoFastForm,
    compile_category_merger,
    compile_datetime_expander,
    compile_expressions,
    compile_outlier_clipper,
)


def _table(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """A coerced frame as the reader hands it on (datetimes in nanoseconds)."""
    out = {}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[name] = values.to_numpy().astype("datetime64[ns]")
        elif pd.api.types.is_float_dtype(values):
            out[name] = values.to_numpy(dtype=float)
        else:
            out[name] = values.to_numpy(dtype=object)
    return out


def _coerced(raw: dict[str, list[Any]], roles: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in raw.items()})
    return FrameCoercer(roles=roles).fit(frame).transform(frame)


def assert_table_equal(got: dict[str, np.ndarray], expected: pd.DataFrame) -> None:
    assert list(got) == [str(c) for c in expected.columns]
    for name in expected.columns:
        want = expected[name]
        if pd.api.types.is_float_dtype(want):
            np.testing.assert_array_equal(got[name], want.to_numpy(dtype=float), err_msg=name)
        elif pd.api.types.is_datetime64_any_dtype(want):
            np.testing.assert_array_equal(got[name], want.to_numpy().astype("datetime64[ns]"))
        else:
            assert [None if v != v else v for v in got[name]] == [
                None if v != v else v for v in want.tolist()
            ], name


STAMPS = [
    "2024-02-29 23:59:30",  # leap day, a Thursday, just before midnight
    "2023-12-31 00:00:00",  # a Sunday, midnight
    "2024-07-06 12:07:00",  # a Saturday
    "1969-12-31 18:30:00",  # before the epoch
    None,
    "2000-01-01 00:00:01",
]


@pytest.mark.parametrize("absolute", [True, False])
def test_datetime_parts_equal_the_expander(absolute: bool) -> None:
    coerced = _coerced({"when": STAMPS, "x": [1.0] * 6}, {"when": "datetime", "x": "numeric"})
    step = DatetimeExpander(("when",), PARTS, absolute_time=absolute).fit(coerced)
    assert_table_equal(compile_datetime_expander(step)(_table(coerced)), step.transform(coerced))


def test_default_datetime_parts_equal_the_expander() -> None:
    coerced = _coerced({"when": STAMPS}, {"when": "datetime"})
    step = DatetimeExpander(("when",)).fit(coerced)
    assert_table_equal(compile_datetime_expander(step)(_table(coerced)), step.transform(coerced))


def test_outlier_clipping_equals_the_clipper() -> None:
    coerced = _coerced({"x": [1.0, 5.0, None, 100.0, -3.0] * 4}, {"x": "numeric"})
    step = OutlierClipper(("x",), (0.1, 0.9)).fit(coerced)
    assert_table_equal(compile_outlier_clipper(step)(_table(coerced)), step.transform(coerced))


def test_category_merging_equals_the_merger() -> None:
    labels = ["standard"] * 9 + ["standrad", "premium", None, "y", "yes", "yes"]
    coerced = _coerced({"plan": labels}, {"plan": "categorical"})
    step = CategoryMerger(("plan",)).fit(coerced)
    assert step.mappings_["plan"]  # there is something to merge
    assert_table_equal(compile_category_merger(step)(_table(coerced)), step.transform(coerced))


EXPRESSIONS = {
    "ratio": "a / b",
    "floor": "a // b",
    "rest": "a % b",
    "power": "b ** 2 - -a",
    "both": "a > 1 & b < 3",
    "either": "a > 1 | plan == 'gold'",
    "negated": "~(a > 1)",
    "chained": "0 < a <= 4",
    "member": "plan in ['gold', 'silver']",
    "outside": "plan not in ['gold']",
    "days": "end - start",
    "quoted": "`unit price` * 2 + ratio",
}


def test_expressions_equal_the_step() -> None:
    roles = {
        "a": "numeric",
        "b": "numeric",
        "unit price": "numeric",
        "plan": "categorical",
        "start": "datetime",
        "end": "datetime",
    }
    raw = {
        "a": [1.0, 2.0, 0.0, None, 5.0, -1.0],
        "b": [2.0, 0.0, 0.0, 1.0, 2.5, 3.0],
        "unit price": [3.0, 4.0, None, 1.5, 2.0, 0.5],
        "plan": ["gold", "Silver", None, "bronze", "gold", "x"],
        "start": ["2024-01-01", "2024-01-02 12:00", None, "2024-03-01", "2023-12-31", "2024-01-01"],
        "end": ["2024-01-03", "2024-01-02", "2024-01-01", None, "2024-12-31", "2024-01-01 06:00"],
    }
    coerced = _coerced(raw, roles)
    step = ExpressionFeatures(EXPRESSIONS).fit(coerced)
    assert_table_equal(compile_expressions(step)(_table(coerced)), step.transform(coerced))


# ---------------------------------------------------------------------------- column blocks


def _column_transformer(encoding: str, **features: Any) -> tuple[Any, pd.DataFrame]:
    from loopml.config import FeaturesConfig
    from loopml.features import build_preprocessor

    rng = np.random.default_rng(0)
    n = 200
    raw = {
        "x": [None if i % 11 == 0 else float(v) for i, v in enumerate(rng.normal(0, 3, n))],
        "flag": rng.choice([True, False], n).tolist(),
        "plan": [
            None if i % 7 == 0 else str(v) for i, v in enumerate(rng.choice(list("abcdef"), n))
        ],
        "city": rng.choice([f"c{i}" for i in range(40)], n).tolist(),
        "note": [" ".join(rng.choice(["good", "bad", "fast", "slow"], 4)) for _ in range(n)],
    }
    roles = {
        "x": "numeric",
        "flag": "boolean",
        "plan": "categorical",
        "city": "categorical",
        "note": "text",
    }
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in raw.items()})
    y = pd.Series(np.where(rng.random(n) > 0.5, "yes", "no"))
    config = FeaturesConfig(high_cardinality=20, **features) if features else None
    pipeline = build_preprocessor(roles, encoding, None, config, task="binary", seed=0)
    pipeline.fit(frame, y)
    return pipeline, frame


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
@pytest.mark.parametrize("engineered", [False, True])
def test_the_column_transformer_equals_the_fitted_one(encoding: str, engineered: bool) -> None:
    options = {"selection": {"method": "none"}} if engineered else {}
    pipeline, frame = _column_transformer(encoding, **options)
    head = pipeline[:-1]  # coercion and the steps before the encoders
    columns = pipeline.named_steps["columns"]
    coerced = head.transform(frame)
    roles = dict(pipeline.named_steps["coerce"].roles_)
    unseen = coerced.iloc[:3].copy()
    unseen["plan"] = ["zzz", np.nan, "a"]
    unseen["city"] = ["nowhere", np.nan, "c3"]
    for rows in (coerced, unseen, coerced.iloc[:1]):
        got = compile_column_transformer(columns, roles)(_table(rows))
        np.testing.assert_array_equal(got, np.asarray(columns.transform(rows), dtype=float))


def test_a_sparse_column_transformer_has_no_fast_form() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"plan": pd.Series(list("abcab"), dtype=object)})
    step = ColumnTransformer([("cat", OneHotEncoder(), ["plan"])], sparse_threshold=1.0)
    step.fit(frame)
    with pytest.raises(NoFastForm, match="sparse matrix"):
        compile_column_transformer(step, {"plan": "categorical"})


def test_feature_selection_equals_the_selector() -> None:
    from loopml.features import FeatureSelector

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 6))
    X[:, 5] = X[:, 0] * 0.999 + 0.001  # correlated: dropped
    y = (X[:, 1] > 0).astype(int)
    selector = FeatureSelector(method="correlation", task="binary").fit(X, y)
    np.testing.assert_array_equal(compile_numeric(selector)(X), selector.transform(X))


def test_a_step_without_compiled_form_is_named() -> None:
    from sklearn.preprocessing import MinMaxScaler

    with pytest.raises(NoFastForm, match="MinMaxScaler has no compiled form"):
        compile_numeric(MinMaxScaler().fit(np.ones((3, 2))))


# ---------------------------------------------------------------------------- models


def test_models_are_pinned_to_one_thread_without_changing_the_fitted_one() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(80, 3)), rng.integers(0, 2, 80)
    forest = RandomForestClassifier(n_estimators=5, n_jobs=2, random_state=0).fit(X, y)
    predict = compile_model(forest, regression=False)
    np.testing.assert_array_equal(predict(X), forest.predict_proba(X))
    assert forest.n_jobs == 2  # the fitted model is left as it was


def test_xgboost_is_called_through_a_one_thread_booster() -> None:
    pytest.importorskip("xgboost")
    import xgboost

    from loopml.modeling import make_pipeline  # noqa: F401  (registers nothing; documents use)
    from loopml.modeling._boosting import EarlyStoppingClassifier

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    model = EarlyStoppingClassifier(
        xgboost.XGBClassifier(n_estimators=40, n_jobs=2, verbosity=0), random_state=0
    ).fit(X, y)
    predict = compile_model(model, regression=False)
    np.testing.assert_allclose(predict(X), model.predict_proba(X), rtol=0, atol=1e-12)
    assert model.estimator_.n_jobs == 2


class _ThreadRecorder:
    """A model that records the BLAS and OpenMP thread counts it is called with."""

    classes_ = np.array([0, 1])

    def __init__(self) -> None:
        self.seen: list[int] = []

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        from threadpoolctl import threadpool_info

        self.seen = [int(lib["num_threads"]) for lib in threadpool_info()]
        return np.tile([0.25, 0.75], (len(X), 1))


def test_blas_and_openmp_run_one_thread_during_the_call_and_are_restored() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(2):
        before = [int(lib["num_threads"]) for lib in threadpool_info()]
        model = _ThreadRecorder()
        predict = compile_model(model, regression=False)
        np.testing.assert_array_equal(predict(np.zeros((3, 2))), [[0.25, 0.75]] * 3)
        after = [int(lib["num_threads"]) for lib in threadpool_info()]
    assert model.seen and set(model.seen) == {1}
    assert after == before
