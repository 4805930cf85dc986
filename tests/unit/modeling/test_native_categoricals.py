"""CatBoost's native categoricals: NativeCategoricalPipeline (loopml.modeling._pipeline), the
early stopping wrappers' ``categorical_features`` (loopml.modeling._boosting) and tree SHAP
contributions of such a pipeline (loopml.evaluation)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import clone
from sklearn.pipeline import Pipeline

import _needs as needs
from loopml.config import FeaturesConfig
from loopml.evaluation import contributions
from loopml.modeling import PipelineRecipe, default_registry, make_pipeline
from loopml.modeling._boosting import EarlyStoppingClassifier, EarlyStoppingRegressor
from loopml.modeling._pipeline import NativeCategoricalPipeline, category_positions
from loopml.types import TaskKind

#: The project defaults of feature engineering, as the search builds its pipelines.
FEATURES = PipelineRecipe(features=FeaturesConfig())

#: ``city`` has 60 labels, over FeaturesConfig().high_cardinality (30): it is target-encoded,
#: a float column, never a category code. ``x1_copy`` is x1 rescaled, for the selection to drop.
ROLES = {
    "x1": "numeric",
    "x1_copy": "numeric",
    "color": "categorical",
    "x2": "numeric",
    "city": "categorical",
    "size": "categorical",
}

#: The low-cardinality categoricals: the only columns that become ordinal codes.
CODE_COLUMNS = ["color", "size"]

#: Few CatBoost rounds keep the whole file fast.
SMALL = {"n_estimators": 30}


def _frame(task: TaskKind = "binary", n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, Any]:
    """String categories with gaps, a high-cardinality one, numbers with gaps; signal in x1
    and color."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x1[rng.random(n) < 0.1] = np.nan
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    color[rng.random(n) < 0.1] = None
    size = rng.choice(["S", "M", "L", "XL"], n).astype(object)
    size[rng.random(n) < 0.05] = np.nan
    X = pd.DataFrame(
        {
            "x1": x1,
            "x1_copy": 2.0 * x1 + 1.0,
            "color": color,
            "x2": rng.normal(size=n),
            "city": np.array([f"city{i}" for i in rng.integers(0, 60, n)], dtype=object),
            "size": size,
        }
    )
    signal = np.nan_to_num(x1) + 1.5 * (color == "red") + rng.normal(scale=0.5, size=n)
    if task == "regression":
        return X, signal
    if task == "multiclass":
        return X, np.where(signal > 1.0, "high", np.where(signal > -0.3, "mid", "low"))
    return X, np.where(signal > 0.5, "yes", "no")


def _unseen(X: pd.DataFrame) -> pd.DataFrame:
    """Rows to predict: a colour and a city never seen in training, and missing values."""
    rows = X.head(6).copy()
    rows["color"] = ["purple", None, "red", "purple", "green", "blue"]
    rows["city"] = ["atlantis", "city1", "atlantis", None, "city2", "city3"]
    rows["size"] = ["XXL", None, "S", "M", "L", "XL"]
    rows.loc[rows.index[:2], "x1"] = np.nan
    return rows


def _catboost_pipeline(task: TaskKind, selection: str = "none", seed: int = 0) -> Any:
    reason = default_registry()["catboost"].why_unavailable()
    if reason is not None:
        needs.unavailable(reason)
    params = {**SMALL, "selection": selection}
    return make_pipeline(ROLES, "catboost", task, params, seed, 1, FEATURES)


def _code_names(pipeline: Any) -> list[str]:
    """The output names at the category positions of a fitted pipeline's preprocessing."""
    head = pipeline[:-1]
    names = list(head.get_feature_names_out())
    return [names[j] for j in category_positions(head)]


# --------------------------------------------------------------------------- category_positions


def test_category_positions_are_the_ordinal_codes_not_the_target_encoded_column() -> None:
    X, y = _frame()
    pipeline = _catboost_pipeline("binary").fit(X, y)
    head = pipeline[:-1]
    names = list(head.get_feature_names_out())
    positions = category_positions(head)

    assert "select" not in head.named_steps
    # num (x1, x1_copy, x2), cat (color, size), target (city), missing indicators
    assert positions == (3, 4)
    assert [names[j] for j in positions] == CODE_COLUMNS
    assert "city" in names and names.index("city") not in positions
    codes = head.transform(X)[:, list(positions)]
    assert np.array_equal(codes, np.round(codes)) and codes.min() >= 0  # integer codes


def test_category_positions_follow_the_columns_a_selection_keeps() -> None:
    X, y = _frame()
    pipeline = _catboost_pipeline("binary", selection="correlation").fit(X, y)
    head = pipeline[:-1]
    names = list(head.get_feature_names_out())
    positions = category_positions(head)

    assert "select" in head.named_steps
    assert "x1_copy" not in names  # dropped before the codes: their positions move left
    assert positions == (2, 3)
    assert [names[j] for j in positions] == CODE_COLUMNS
    assert names.index("city") not in positions
    assert pipeline[-1].categorical_ == positions


def test_category_positions_after_a_selection_that_drops_a_code_column() -> None:
    X, y = _frame()
    X.insert(3, "color_copy", X["color"])  # its codes equal color's: the filter drops them
    roles = {c: ROLES.get(c, "categorical") for c in X.columns}  # color_copy after color
    pipeline = make_pipeline(
        roles,
        "catboost",
        "binary",
        {**SMALL, "selection": "correlation"},
        0,
        1,
        FEATURES,
    )
    pipeline.fit(X, y)
    head = pipeline[:-1]
    columns = list(head.named_steps["columns"].get_feature_names_out())
    names = list(head.get_feature_names_out())

    assert columns[3:6] == ["color", "color_copy", "size"]  # the code block before selection
    assert "color_copy" not in names
    assert category_positions(head) == (2, 3)
    assert _code_names(pipeline) == CODE_COLUMNS
    assert pipeline[-1].categorical_ == (2, 3)
    assert pipeline[-1].estimator_.get_cat_feature_indices() == [2, 3]


def test_category_positions_are_empty_without_low_cardinality_categoricals() -> None:
    X, y = _frame()
    roles = {c: r for c, r in ROLES.items() if c not in CODE_COLUMNS}
    head = make_pipeline(roles, "lightgbm", "binary", SMALL, 0, 1, FEATURES)[:-1]
    head.fit(X[list(roles)], y)
    assert category_positions(head) == ()
    assert category_positions(Pipeline([("identity", "passthrough")])) == ()


# --------------------------------------------------------------------------- the pipeline


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_catboost_pipeline_classifies_with_native_categoricals(task: TaskKind) -> None:
    X, y = _frame(task)
    pipeline = _catboost_pipeline(task)
    assert isinstance(pipeline, NativeCategoricalPipeline)

    pipeline.fit(X, y)

    model = pipeline[-1]
    positions = category_positions(pipeline[:-1])
    assert positions == (3, 4)
    assert model.library_ == "catboost"
    assert model.categorical_ == positions
    assert model.get_params()["categorical_features"] == positions
    assert model.estimator_.get_cat_feature_indices() == list(positions)
    assert list(pipeline.classes_) == sorted(set(y))

    rows = _unseen(X)
    proba = pipeline.predict_proba(rows)
    assert proba.shape == (len(rows), len(pipeline.classes_))
    assert np.all(np.isfinite(proba)) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert set(pipeline.predict(rows)) <= set(pipeline.classes_)
    train_proba = pipeline.predict_proba(X)
    np.testing.assert_allclose(train_proba.sum(axis=1), 1.0, rtol=1e-9)
    assert np.mean(pipeline.predict(X) == y) > 0.7  # it learned the signal in x1 and color


def test_catboost_pipeline_regresses_with_native_categoricals() -> None:
    X, y = _frame("regression")
    pipeline = _catboost_pipeline("regression").fit(X, y)

    model = pipeline[-1]
    positions = category_positions(pipeline[:-1])
    assert isinstance(pipeline, NativeCategoricalPipeline)
    assert isinstance(model, EarlyStoppingRegressor)
    assert model.categorical_ == positions == (3, 4)
    assert model.estimator_.get_cat_feature_indices() == list(positions)
    predicted = pipeline.predict(_unseen(X))
    assert predicted.shape == (6,) and np.all(np.isfinite(predicted))
    assert np.corrcoef(pipeline.predict(X), y)[0, 1] > 0.7


def test_catboost_pipeline_clones_and_pickles_to_identical_predictions() -> None:
    X, y = _frame("binary")
    pipeline = _catboost_pipeline("binary").fit(X, y)
    rows = pd.concat([X.head(40), _unseen(X)])
    expected = pipeline.predict_proba(rows)

    twin = clone(pipeline)
    assert type(twin) is NativeCategoricalPipeline
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(rows), expected)
    assert twin[-1].categorical_ == pipeline[-1].categorical_

    fresh = clone(_catboost_pipeline("binary"))  # never fitted: learns the positions itself
    np.testing.assert_array_equal(fresh.fit(X, y).predict_proba(rows), expected)

    loaded = pickle.loads(pickle.dumps(pipeline))
    assert type(loaded) is NativeCategoricalPipeline
    np.testing.assert_array_equal(loaded.predict_proba(rows), expected)
    np.testing.assert_array_equal(loaded.predict(rows), pipeline.predict(rows))


def test_refit_learns_the_positions_again() -> None:
    X, y = _frame("binary")
    pipeline = _catboost_pipeline("binary").fit(X, y)
    assert pipeline[-1].categorical_ == (3, 4)

    many = X.assign(size=[f"size{i % 40}" for i in range(len(X))])  # now target-encoded
    pipeline.fit(many, y)

    assert _code_names(pipeline) == ["color"]
    assert pipeline[-1].categorical_ == category_positions(pipeline[:-1]) == (3,)
    assert pipeline[-1].estimator_.get_cat_feature_indices() == [3]


def test_fit_routes_step_parameters_like_a_plain_pipeline() -> None:
    X, y = _frame("binary")
    weights = np.ones(len(X))
    weighted = _catboost_pipeline("binary").fit(X, y, model__sample_weight=weights)
    unweighted = _catboost_pipeline("binary").fit(X, y)
    np.testing.assert_allclose(weighted.predict_proba(X), unweighted.predict_proba(X))


def test_lightgbm_pipeline_is_a_plain_pipeline() -> None:
    assert default_registry()["catboost"].native_categoricals
    assert not default_registry()["lightgbm"].native_categoricals
    X, y = _frame("binary")
    pipeline = make_pipeline(ROLES, "lightgbm", "binary", SMALL, 0, 1, FEATURES)
    assert type(pipeline) is Pipeline

    pipeline.fit(X, y)

    assert pipeline[-1].categorical_features == ()
    assert pipeline[-1].categorical_ == ()


# --------------------------------------------------------------------------- the wrappers


def _codes_frame(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two numbers and a category code in column 2 (with -1 for unknown); the class is whether
    the code is even, which no single threshold on the numbers splits."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 6, n).astype(float)
    codes[:5] = -1.0
    X = np.column_stack([rng.normal(size=n), rng.normal(size=n), codes])
    labels = np.where(codes % 2 == 0, "even", "odd")
    target = np.where(codes % 2 == 0, 1.0, -1.0) + rng.normal(scale=0.1, size=n)
    return X, labels, target


def _booster(library: str, task: TaskKind) -> Any:
    if library == "lightgbm":
        cls = LGBMRegressor if task == "regression" else LGBMClassifier
        return cls(n_estimators=30, min_child_samples=5, n_jobs=1, random_state=0, verbose=-1)
    module = needs.module(library)
    if library == "xgboost":
        cls = module.XGBRegressor if task == "regression" else module.XGBClassifier
        return cls(n_estimators=30, n_jobs=1, random_state=0, verbosity=0)
    cls = module.CatBoostRegressor if task == "regression" else module.CatBoostClassifier
    return cls(
        iterations=30,
        thread_count=1,
        random_seed=0,
        logging_level="Silent",
        allow_writing_files=False,
    )


def _wrapper(task: TaskKind) -> Any:
    return EarlyStoppingRegressor if task == "regression" else EarlyStoppingClassifier


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_catboost_wrapper_declares_the_categorical_features(task: TaskKind) -> None:
    X, labels, target = _codes_frame()
    y = target if task == "regression" else labels
    model = _wrapper(task)(
        _booster("catboost", task), categorical_features=(2,), random_state=0
    ).fit(X, y)

    assert model.library_ == "catboost"
    assert model.categorical_ == (2,)
    assert model.early_stopped_
    assert model.estimator_.get_cat_feature_indices() == [2]
    predicted = model.predict(X)
    assert predicted.shape == (len(X),)
    if task == "regression":
        assert np.corrcoef(predicted, target)[0, 1] > 0.9
    else:
        np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, rtol=1e-9)
        assert np.mean(predicted == labels) > 0.9


def test_catboost_wrapper_declares_them_without_a_holdout() -> None:
    X, labels, _ = _codes_frame(n=30)  # three held-out rows: too few, every row is fitted
    model = EarlyStoppingClassifier(
        _booster("catboost", "binary"), categorical_features=[2], random_state=0
    ).fit(X, labels)
    assert not model.early_stopped_
    assert model.categorical_ == (2,)
    assert model.estimator_.get_cat_feature_indices() == [2]
    assert model.predict(X[:3]).shape == (3,)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_lightgbm_wrapper_splits_on_the_categorical_features(task: TaskKind) -> None:
    X, labels, target = _codes_frame()
    y = target if task == "regression" else labels
    model = _wrapper(task)(
        _booster("lightgbm", task), categorical_features=(2,), random_state=0
    ).fit(X, y)
    plain = _wrapper(task)(_booster("lightgbm", task), random_state=0).fit(X, y)

    assert model.library_ == "lightgbm"
    assert model.categorical_ == (2,)
    assert plain.categorical_ == ()
    info = model.estimator_.booster_.dump_model()
    assert info["feature_infos"]["Column_2"]["values"]  # the categories LightGBM saw
    assert not info["feature_infos"]["Column_0"]["values"]
    assert '"decision_type": "=="' in json.dumps(info["tree_info"])  # categorical splits
    plain_info = plain.estimator_.booster_.dump_model()
    assert '"decision_type": "=="' not in json.dumps(plain_info["tree_info"])
    assert model.predict(X).shape == (len(X),)


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_xgboost_wrapper_ignores_the_categorical_features(task: TaskKind) -> None:
    X, labels, target = _codes_frame()
    y = target if task == "regression" else labels
    model = _wrapper(task)(
        _booster("xgboost", task), categorical_features=(2,), random_state=0
    ).fit(X, y)
    plain = _wrapper(task)(_booster("xgboost", task), random_state=0).fit(X, y)

    assert model.library_ == "xgboost"
    assert model.categorical_ == (2,)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))
    if task != "regression":
        np.testing.assert_array_equal(model.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
@pytest.mark.parametrize("positions", [(3,), (0, 7), (-1,)])
def test_out_of_range_categorical_features_are_refused(
    library: str, positions: tuple[int, ...]
) -> None:
    X, labels, _ = _codes_frame(n=60)
    model = EarlyStoppingClassifier(
        _booster(library, "binary"), categorical_features=positions, random_state=0
    )
    with pytest.raises(ValueError, match="categorical_features") as error:
        model.fit(X, labels)
    assert "3 columns" in str(error.value)
    assert not hasattr(model, "estimator_")


# --------------------------------------------------------------------------- contributions


def test_contributions_of_a_catboost_pipeline_are_tree_shap_of_the_log_odds() -> None:
    X, y = _frame("binary")
    pipeline = _catboost_pipeline("binary").fit(X, y)
    rows = pd.concat([X.head(20), _unseen(X)]).reset_index(drop=True)

    frame = contributions(pipeline, rows)

    assert frame is not None
    assert frame.attrs["method"] == "tree SHAP (CatBoost ShapValues)"
    assert "occlusion" not in frame.attrs["method"]
    assert frame.attrs["additive"] is True
    assert frame.attrs["output"] == "log-odds"
    assert frame.attrs["explained"] == ["yes"] * len(rows)
    assert sorted(frame.columns) == sorted(X.columns)
    assert frame.index.equals(rows.index)
    proba = pipeline.predict_proba(rows)[:, list(pipeline.classes_).index("yes")]
    log_odds = np.log(proba / (1.0 - proba))
    total = np.asarray(frame.attrs["base"]) + frame.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, log_odds, rtol=1e-6, atol=1e-6)
    assert frame["color"].abs().mean() > frame["x2"].abs().mean()  # the signal is in color


def test_contributions_of_a_catboost_regression_add_up_to_the_prediction() -> None:
    X, y = _frame("regression")
    pipeline = _catboost_pipeline("regression", selection="correlation").fit(X, y)
    rows = pd.concat([X.head(20), _unseen(X)]).reset_index(drop=True)

    frame = contributions(pipeline, rows)

    assert frame is not None
    assert frame.attrs["method"] == "tree SHAP (CatBoost ShapValues)"
    assert frame.attrs["output"] == "prediction"
    total = np.asarray(frame.attrs["base"]) + frame.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, pipeline.predict(rows), rtol=1e-6, atol=1e-6)


def test_a_wrapper_pickled_before_categorical_features_existed_still_predicts() -> None:
    # registry bundles saved by an earlier loopml lack the parameter and the two attributes
    import pickle

    from lightgbm import LGBMClassifier

    from loopml.modeling._boosting import EarlyStoppingClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    model = EarlyStoppingClassifier(
        LGBMClassifier(n_estimators=20, verbose=-1), random_state=0
    ).fit(X, y)
    expected = model.predict_proba(X)
    for name in ("categorical_features", "library_", "categorical_"):
        del model.__dict__[name]

    old = pickle.loads(pickle.dumps(model))

    np.testing.assert_allclose(old.predict_proba(X), expected)
    assert old.get_params()["categorical_features"] == ()
