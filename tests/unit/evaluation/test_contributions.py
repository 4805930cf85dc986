"""Per-prediction contributions from the models themselves (loopml.evaluation._contributions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeRegressor

import _needs as needs
from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.evaluation import contributions
from loopml.evaluation._contributions import input_column
from loopml.modeling import make_pipeline

TOL = 1e-6


def _frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})
    X.loc[::17, "b"] = np.nan  # the boosters and HistGradientBoosting route missing values
    return X


def _targets(X: pd.DataFrame) -> dict[str, np.ndarray]:
    signal = X["a"] + 0.5 * X["b"].fillna(0) - 0.25 * X["c"]
    return {
        "binary": np.where(signal > 0, "yes", "no"),
        "multiclass": np.asarray(pd.cut(signal, [-9, -0.5, 0.5, 9], labels=["lo", "mid", "hi"])),
        "regression": np.asarray(3 * signal),
    }


def _log_odds(model: Any, X: Any) -> np.ndarray:
    return np.asarray(model.decision_function(X), dtype=float)


# family -> (task, factory, method, output of the explained class for row i)
Raw = Callable[[Any, Any], np.ndarray]
CASES: dict[str, tuple[str, Callable[[], Any], str, Raw]] = {
    "lightgbm-binary": (
        "binary",
        lambda: LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1),
        "tree SHAP (LightGBM pred_contrib)",
        lambda m, X: m.predict(X, raw_score=True),
    ),
    "lightgbm-regression": (
        "regression",
        lambda: LGBMRegressor(n_estimators=30, verbose=-1, n_jobs=1),
        "tree SHAP (LightGBM pred_contrib)",
        lambda m, X: m.predict(X),
    ),
    "hgb-binary": (
        "binary",
        lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
        "tree path attribution (Saabas) of HistGradientBoosting's raw score",
        _log_odds,
    ),
    "hgb-regression": (
        "regression",
        lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0),
        "tree path attribution (Saabas) of HistGradientBoosting's raw score",
        lambda m, X: m.predict(X),
    ),
    "forest-binary": (
        "binary",
        lambda: RandomForestClassifier(n_estimators=20, random_state=0),
        "tree path attribution (Saabas) of the forest",
        lambda m, X: m.predict_proba(X)[:, 1],
    ),
    "extra-trees-binary": (
        "binary",
        lambda: ExtraTreesClassifier(n_estimators=20, random_state=0),
        "tree path attribution (Saabas) of the forest",
        lambda m, X: m.predict_proba(X)[:, 1],
    ),
    "forest-regression": (
        "regression",
        lambda: RandomForestRegressor(n_estimators=20, random_state=0),
        "tree path attribution (Saabas) of the forest",
        lambda m, X: m.predict(X),
    ),
    "tree-regression": (
        "regression",
        lambda: DecisionTreeRegressor(max_depth=4, random_state=0),
        "tree path attribution (Saabas) of the tree",
        lambda m, X: m.predict(X),
    ),
    "logistic-binary": (
        "binary",
        lambda: LogisticRegression(),
        "linear: coefficient × (value − background mean)",
        _log_odds,
    ),
    "ridge-regression": (
        "regression",
        lambda: Ridge(),
        "linear: coefficient × (value − background mean)",
        lambda m, X: m.predict(X),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_base_plus_contributions_is_the_models_own_output(case: str) -> None:
    task, factory, method, raw = CASES[case]
    X = _frame()
    if case.startswith(("logistic", "ridge", "tree-")):
        X = X.fillna(0.0)  # these scikit-learn models need complete rows
    model = factory().fit(X, _targets(X)[task])

    c = contributions(model, X.iloc[:40])

    assert c is not None
    assert c.attrs["method"] == method
    assert c.attrs["additive"] is True
    assert list(c.columns) == ["a", "b", "c"]
    assert c.index.equals(X.index[:40])
    total = c.sum(axis=1).to_numpy() + np.array(c.attrs["base"])
    assert np.abs(total - raw(model, X.iloc[:40])).max() < TOL
    if task == "binary":
        assert c.attrs["explained"] == ["yes"] * 40
    else:
        assert c.attrs["explained"] is None


@pytest.mark.parametrize("library", ["xgboost", "catboost"])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_xgboost_and_catboost_tree_shap(library: str, task: str) -> None:
    module = needs.module(library)
    X = _frame()
    y = _targets(X)[task]
    if library == "xgboost":
        cls = module.XGBRegressor if task == "regression" else module.XGBClassifier
        model = cls(n_estimators=20, n_jobs=1)
        if task != "regression":
            y = np.unique(y, return_inverse=True)[1]  # XGBoost wants class codes
        name = "tree SHAP (XGBoost pred_contribs)"
    else:
        cls = module.CatBoostRegressor if task == "regression" else module.CatBoostClassifier
        model = cls(
            iterations=20, verbose=0, random_seed=0, thread_count=1, allow_writing_files=False
        )
        name = "tree SHAP (CatBoost ShapValues)"
    model.fit(X, y)

    c = contributions(model, X.iloc[:30])

    assert c is not None and c.attrs["method"] == name and c.attrs["additive"]
    total = c.sum(axis=1).to_numpy() + np.array(c.attrs["base"])
    if task == "regression":
        expected = model.predict(X.iloc[:30])
    else:
        kind = (
            {"output_margin": True}
            if library == "xgboost"
            else {"prediction_type": "RawFormulaVal"}
        )
        margin = np.asarray(model.predict(X.iloc[:30], **kind))
        if task == "binary":
            expected = margin
        else:
            chosen = np.argmax(model.predict_proba(X.iloc[:30]), axis=1)
            expected = margin[np.arange(30), chosen]
    assert np.abs(total - expected).max() < 1e-4  # XGBoost sums in float32


def test_the_first_class_as_positive_flips_the_log_odds() -> None:
    X = _frame()
    model = LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1).fit(X, _targets(X)["binary"])

    yes = contributions(model, X.iloc[:10], positive_class="yes")
    no = contributions(model, X.iloc[:10], positive_class="no")

    assert yes is not None and no is not None
    assert np.allclose(no.to_numpy(), -yes.to_numpy())
    assert np.allclose(no.attrs["base"], -np.array(yes.attrs["base"]))
    assert no.attrs["explained"] == ["no"] * 10


def test_the_first_class_as_positive_takes_its_probability_for_forests() -> None:
    X = _frame()
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, _targets(X)["binary"])

    no = contributions(model, X.iloc[:10], positive_class="no")

    assert no is not None
    total = no.sum(axis=1).to_numpy() + np.array(no.attrs["base"])
    assert np.abs(total - model.predict_proba(X.iloc[:10])[:, 0]).max() < TOL


@pytest.mark.parametrize(
    "factory",
    [
        lambda: LGBMClassifier(n_estimators=20, verbose=-1, n_jobs=1),
        lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
        lambda: RandomForestClassifier(n_estimators=10, random_state=0),
    ],
)
def test_multiclass_explains_each_rows_predicted_class(factory: Callable[[], Any]) -> None:
    X = _frame()
    model = factory().fit(X, _targets(X)["multiclass"])

    c = contributions(model, X.iloc[:25])

    assert c is not None and c.attrs["additive"]
    assert c.attrs["explained"] == [str(v) for v in model.predict(X.iloc[:25])]


def test_linear_contributions_are_centred_on_the_background() -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 1.0, 4.0, 2.0]})
    model = LinearRegression().fit(X, 2 * X["a"] - X["b"] + 5)
    background = pd.DataFrame({"a": [1.0, 1.0], "b": [0.0, 2.0]})  # mean (1, 1)

    c = contributions(model, X, background=background)

    assert c is not None
    assert c["a"].round(9).tolist() == [-2.0, 0.0, 2.0, 4.0]  # 2 × (a − 1)
    assert c["b"].round(9).tolist() == [0.0, 0.0, -3.0, -1.0]  # −1 × (b − 1)
    assert np.round(c.attrs["base"], 9).tolist() == [6.0] * 4  # the prediction at (1, 1)
    assert c.attrs["output"] == "prediction"


def _pipeline_data(task: str) -> tuple[pd.DataFrame, pd.Series, Any]:
    rng = np.random.default_rng(2)
    n = 240
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "city": rng.choice(["Paris", "Lyon", "Nice"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D"),
        }
    )
    frame.loc[::11, "age"] = np.nan
    signal = frame["age"].fillna(50) / 20 + (frame["city"] == "Paris")
    frame["y"] = np.where(signal > 3.3, "yes", "no") if task == "binary" else 10 * signal
    problem = resolve_problem(frame, ProblemConfig(target="y"))
    schema = infer_schema(frame, "y")
    return frame.drop(columns="y"), prepare_target(frame["y"], problem.task), (schema, problem)


@pytest.mark.parametrize(
    ("family", "method"),
    [
        ("linear", "linear: coefficient × (value − background mean)"),
        ("lightgbm", "tree SHAP (LightGBM pred_contrib)"),
        ("random_forest", "tree path attribution (Saabas) of the forest"),
    ],
)
def test_a_pipelines_derived_inputs_are_summed_back_to_their_column(
    family: str, method: str
) -> None:
    X, y, (schema, problem) = _pipeline_data("binary")
    pipeline = make_pipeline(schema.roles(), family, problem.task, None, 0, 1).fit(X, y)

    c = contributions(pipeline, X.iloc[:20], positive_class="yes", background=X)
    wide = contributions(pipeline, X.iloc[:20], positive_class="yes", background=X, group=False)

    assert c is not None and wide is not None
    assert c.attrs["method"] == method
    assert list(c.columns) == ["age", "city", "signup"]
    assert len(wide.columns) > 3  # one-hot columns, datetime parts, missing indicators
    assert np.allclose(c.sum(axis=1), wide.sum(axis=1))
    assert c.attrs["base"] == wide.attrs["base"]


def test_models_without_their_own_method_are_explained_by_occlusion() -> None:
    X = _frame().fillna(0.0)
    X["constant"] = 1.0
    model = KNeighborsRegressor(n_neighbors=5).fit(X, _targets(X)["regression"])

    c = contributions(model, X.iloc[:8], background=X.iloc[100:200], max_background=5)

    assert c is not None
    assert c.attrs["method"].startswith("occlusion")
    assert c.attrs["additive"] is False
    assert c.attrs["output"] == "prediction"
    assert (c["constant"] == 0.0).all()  # the same value in every background row: no change
    assert (c[["a", "b", "c"]].abs().sum() > 0).all()


def test_a_knn_pipeline_is_explained_by_occlusion() -> None:
    X, y, (schema, problem) = _pipeline_data("binary")
    pipeline = make_pipeline(schema.roles(), "knn", problem.task, None, 0, 1).fit(X, y)

    c = contributions(pipeline, X.iloc[:5], positive_class="yes", background=X)

    assert c is not None and c.attrs["method"].startswith("occlusion")
    assert list(c.columns) == ["age", "city", "signup"]
    assert c.attrs["output"] == "probability"


def test_no_rows_give_none() -> None:
    X = _frame().fillna(0.0)
    model = Ridge().fit(X, _targets(X)["regression"])

    assert contributions(model, X.iloc[:0]) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("city_Paris", "city"),
        ("city_infrequent_sklearn", "city"),
        ("signup__month", "signup"),
        ("missingindicator_age", "age"),
        ("age", "age"),
        ("a_b_x", "a_b"),  # the longest matching column wins
        ("rooms_total", "rooms_total"),  # derived from no input column: itself
    ],
)
def test_input_column(name: str, expected: str) -> None:
    assert input_column(name, ["city", "signup", "age", "a", "a_b"]) == expected
