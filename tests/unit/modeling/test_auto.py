"""AutoClassifier and AutoRegressor on raw pandas frames (loopml.modeling._auto)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from loopml.modeling import AutoClassifier, AutoRegressor, Leaderboard

FAST = {
    "time_budget": 60.0,
    "max_trials": 2,
    "models": ("linear", "hist_gradient_boosting"),
    "random_state": 0,
    "n_jobs": 1,
    "cv_folds": 3,
}


@pytest.fixture(scope="module")
def raw() -> tuple[pd.DataFrame, np.ndarray]:
    """A frame as read_csv returns it: text numbers, categories, date strings, gaps."""
    rng = np.random.default_rng(0)
    n = 90
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "color": color,
            "signup": pd.date_range("2024-01-01", periods=n, freq="D")
            .strftime("%Y-%m-%d")
            .astype(object),
            "amount": [f"{v:.2f}" for v in rng.uniform(0, 100, n)],
        }
    )
    frame.loc[[1, 5, 9], "x1"] = np.nan
    frame.loc[[2, 6], "color"] = None
    frame.loc[[4], "signup"] = None
    signal = x1 + 1.5 * (color == "red")
    return frame, signal


# ---------------------------------------------------------------------------- classifier


def test_classifier_on_a_raw_frame(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    y = np.where(signal > 0.5, "yes", "no")

    clf = AutoClassifier(**FAST).fit(X, y)

    assert clf.classes_.tolist() == ["no", "yes"]
    assert clf.metric_ == "roc_auc"
    assert isinstance(clf.best_estimator_, Pipeline)
    assert isinstance(clf.leaderboard_, Leaderboard)
    assert [(t.family, t.status) for t in clf.leaderboard_.trials] == [
        ("linear", "ok"),
        ("hist_gradient_boosting", "ok"),
    ]
    assert clf.best_estimator_.named_steps["model"].__class__.__name__ == (
        "LogisticRegression"
        if clf.leaderboard_.best.family == "linear"
        else "HistGradientBoostingClassifier"
    )
    assert clf.n_features_in_ == 4
    assert clf.feature_names_in_.tolist() == ["x1", "color", "signup", "amount"]
    # the raw columns got the roles the schema inference gives them
    roles = clf.best_estimator_.named_steps["coerce"].roles_
    assert roles == {
        "x1": "numeric",
        "color": "categorical",
        "signup": "datetime",
        "amount": "numeric",
    }

    proba = clf.predict_proba(X)
    assert proba.shape == (90, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = clf.predict(X)
    assert set(pred) <= {"no", "yes"}
    assert pred.tolist() == clf.classes_[proba.argmax(axis=1)].tolist()
    assert clf.score(X, y) > 0.8


def test_multiclass_string_labels(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    y = np.select([signal < -0.3, signal < 0.8], ["low", "mid"], "high")

    clf = AutoClassifier(**{**FAST, "models": ("linear",), "max_trials": 1}).fit(X, y)

    assert clf.classes_.tolist() == ["high", "low", "mid"]
    assert clf.metric_ == "log_loss"
    assert clf.leaderboard_.greater_is_better is False
    proba = clf.predict_proba(X)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {"high", "low", "mid"}


def test_classifier_takes_a_pandas_series_target(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    y = pd.Series(np.where(signal > 0.5, "churned", "stayed"), name="status")

    clf = AutoClassifier(**{**FAST, "models": ("linear",), "max_trials": 1}).fit(X, y)

    assert clf.classes_.tolist() == ["churned", "stayed"]
    assert set(clf.predict(X.head(5))) <= {"churned", "stayed"}


def test_classifier_on_a_numeric_array() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)

    clf = AutoClassifier(**{**FAST, "models": ("linear",), "max_trials": 1}).fit(X, y)

    assert clf.classes_.tolist() == [0, 1]
    assert clf.predict(X).dtype == y.dtype
    assert clf.score(X, y) > 0.9


def test_one_class_is_refused(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = raw
    with pytest.raises(ValueError, match=r"y has one class .*a classifier needs at least two"):
        AutoClassifier(**FAST).fit(X, np.array(["yes"] * len(X)))


def test_one_class_message_names_the_label(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = raw
    with pytest.raises(ValueError, match=r"y has one class \('yes'\); a classifier needs"):
        AutoClassifier(**FAST).fit(X, np.array(["yes"] * len(X)))


def test_regression_target_is_refused_by_the_classifier(
    raw: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, signal = raw
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        AutoClassifier(**FAST).fit(X, signal)


def test_integer_labels_with_accuracy(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    y = (signal > 0.5).astype(int)

    clf = AutoClassifier(**{**FAST, "models": ("linear",), "max_trials": 1}, metric="accuracy")
    clf.fit(X, y)

    assert clf.leaderboard_.best.status == "ok"


# ---------------------------------------------------------------------------- regressor


def test_regressor_on_a_raw_frame(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    y = 3.0 * signal + 5.0

    reg = AutoRegressor(**FAST).fit(X, y)

    assert reg.metric_ == "rmse"
    assert reg.leaderboard_.greater_is_better is False
    assert isinstance(reg.best_estimator_, Pipeline)
    assert len(reg.leaderboard_.trials) == 2
    pred = reg.predict(X)
    assert pred.shape == (90,)
    assert pred.dtype == np.float64
    assert reg.score(X, y) > 0.5
    assert not hasattr(reg, "classes_")


def test_regressor_uses_the_given_metric(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw

    reg = AutoRegressor(**{**FAST, "models": ("linear",), "max_trials": 1}, metric="r2")
    reg.fit(X, signal)

    assert reg.metric_ == "r2"
    assert reg.leaderboard_.greater_is_better is True


def test_regressor_refuses_text_targets(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = raw
    with pytest.raises(
        ValueError, match="dtype='numeric' is not compatible with arrays of bytes/strings"
    ):
        AutoRegressor(**FAST).fit(X, np.array(["a", "b", "c"] * 30))


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("budget", [0, -5])
def test_time_budget_must_be_positive(raw: tuple[pd.DataFrame, np.ndarray], budget: float) -> None:
    X, signal = raw
    with pytest.raises(ValueError, match=rf"time_budget must be a positive number .* got {budget}"):
        AutoRegressor(time_budget=budget).fit(X, signal)


def test_unknown_model_family(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    with pytest.raises(ValueError, match=r"unknown model families \['svm'\]"):
        AutoRegressor(models=("linear", "svm")).fit(X, signal)


def test_x_and_y_lengths_must_match(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    with pytest.raises(ValueError, match="X has 90 rows but y has 89"):
        AutoRegressor(**FAST).fit(X, signal[:-1])


def test_too_few_rows(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    with pytest.raises(ValueError, match="n_samples=3 is too few to cross-validate"):
        AutoRegressor(**FAST).fit(X.head(3), signal[:3])


def test_predict_before_fit() -> None:
    with pytest.raises(NotFittedError, match="This AutoClassifier instance is not fitted yet"):
        AutoClassifier().predict(pd.DataFrame({"a": [1.0]}))


def test_predict_with_other_columns(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    reg = AutoRegressor(**{**FAST, "models": ("linear",), "max_trials": 1}).fit(X, signal)
    with pytest.raises(ValueError, match="The feature names should match those that were passed"):
        reg.predict(X.rename(columns={"x1": "x_one"}))


# ---------------------------------------------------------------------------- scikit-learn API


def test_get_params_and_clone() -> None:
    clf = AutoClassifier(time_budget=7, metric="f1", max_trials=3, models=("linear",))

    assert clf.get_params() == {
        "cv_folds": None,
        "max_trials": 3,
        "metric": "f1",
        "models": ("linear",),
        "n_jobs": -1,
        "random_state": None,
        "time_budget": 7,
    }
    copy = clone(clf)
    assert copy is not clf
    assert copy.get_params() == clf.get_params()
    copy.set_params(time_budget=3, random_state=1)
    assert (copy.time_budget, copy.random_state) == (3, 1)
    assert clf.time_budget == 7


def test_clone_of_a_fitted_estimator_is_unfitted(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    reg = AutoRegressor(**{**FAST, "models": ("linear",), "max_trials": 1}).fit(X, signal)

    copy = clone(reg)

    assert copy.get_params() == reg.get_params()
    assert not hasattr(copy, "best_estimator_")


def test_tags_declare_raw_input() -> None:
    tags = AutoClassifier(max_trials=2).__sklearn_tags__()
    assert tags.input_tags.allow_nan is True
    assert tags.input_tags.string is True
    assert tags.input_tags.categorical is True
    assert tags.non_deterministic is False
    assert AutoClassifier().__sklearn_tags__().non_deterministic is True


def test_same_random_state_same_model(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, signal = raw
    y = np.where(signal > 0.5, "yes", "no")

    first = AutoClassifier(**FAST).fit(X, y)
    again = AutoClassifier(**FAST).fit(X, y)

    assert [t.fold_scores for t in first.leaderboard_.trials] == [
        t.fold_scores for t in again.leaderboard_.trials
    ]
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
