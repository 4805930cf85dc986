"""AutoClassifier and AutoRegressor on raw pandas frames (loopml.modeling._auto)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from loopml.errors import ConfigError, DataError
from loopml.modeling import AutoClassifier, AutoRegressor, Leaderboard, _auto

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


# ---------------------------------------------------------------------------- bad input


def _labels(signal: np.ndarray) -> np.ndarray:
    return np.where(signal > 0.5, "yes", "no").astype(object)


def _with_missing(y: np.ndarray) -> np.ndarray:
    y = y.astype(object if y.dtype.kind in "OUS" else float)
    y[[1, 5, 9]] = None if y.dtype == object else np.nan
    return y


def _one_rare(y: np.ndarray) -> np.ndarray:
    y = y.copy()
    y[7] = "rare"
    return y


#: What a user gets wrong, and the one error that says so. Each is refused before training.
BAD_INPUT = {
    "one class": (
        AutoClassifier,
        {},
        lambda s: np.array(["yes"] * len(s)),
        DataError,
        r"^y has one class \('yes'\) in 90 rows; a classifier needs at least two ",
    ),
    "missing labels": (
        AutoClassifier,
        {},
        lambda s: _with_missing(_labels(s)),
        DataError,
        r"^y has 3 missing label\(s\) of 90 \(rows 1, 5, 9\); AutoClassifier "
        r"needs a label on every row\. Drop those rows",
    ),
    "missing 0/1 labels": (
        AutoClassifier,
        {},
        lambda s: _with_missing((s > 0.5).astype(int)),
        DataError,
        r"^y has 3 missing label\(s\) of 90 \(rows 1, 5, 9\)",
    ),
    "missing targets": (
        AutoRegressor,
        {},
        lambda s: _with_missing(s),
        DataError,
        r"^y has 3 missing label\(s\) of 90 .*AutoRegressor needs a label",
    ),
    "a class with one row": (
        AutoClassifier,
        {},
        lambda s: _one_rare(_labels(s)),
        DataError,
        r"^class\(es\) 'rare' of y have a single row; a class needs at "
        r"least 2 rows",
    ),
    "classification metric for a regressor": (
        AutoRegressor,
        {"metric": "roc_auc"},
        lambda s: s,
        ConfigError,
        r"^metric 'roc_auc' is a classification metric; AutoRegressor accepts mae, rmse, r2, "
        r"mape \(or use AutoClassifier",
    ),
    "regression metric for a classifier": (
        AutoClassifier,
        {"metric": "rmse"},
        _labels,
        ConfigError,
        r"^metric 'rmse' is a regression metric; AutoClassifier accepts accuracy, ",
    ),
    "unknown metric": (
        AutoClassifier,
        {"metric": "auc"},
        _labels,
        ConfigError,
        r"^unknown metric 'auc'\. Did you mean 'roc_auc'\? AutoClassifier accepts",
    ),
    "a scikit-learn scorer name": (
        AutoRegressor,
        {"metric": "neg_mean_squared_error"},
        lambda s: s,
        ConfigError,
        r"^unknown metric 'neg_mean_squared_error'\. Did you mean 'rmse'\?",
    ),
    "a misspelt family": (
        AutoRegressor,
        {"models": ("lightgbn",)},
        lambda s: s,
        ConfigError,
        r"^unknown model families \['lightgbn'\]\. Did you mean 'lightgbm'\?",
    ),
    "zero n_jobs": (
        AutoRegressor,
        {"n_jobs": 0},
        lambda s: s,
        ConfigError,
        r"^n_jobs must be a positive number of CPUs, or -1 .* got 0",
    ),
    "zero max_trials": (
        AutoClassifier,
        {"max_trials": 0},
        _labels,
        ConfigError,
        r"^max_trials must be None \(the budget decides\) or an integer >= 1, "
        r"got 0",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_clear_error_before_any_training(
    raw: tuple[pd.DataFrame, np.ndarray],
    case: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    X, signal = raw
    estimator, params, make_y, error, message = BAD_INPUT[case]
    searched = []
    monkeypatch.setattr(_auto, "train_model", lambda *a, **k: searched.append(1))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(error, match=message):
        estimator(**{**FAST, **params}).fit(X, make_y(signal))

    assert searched == []  # refused before the search started
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # nothing printed: no trial errors, no warnings
    assert [r.getMessage() for r in caplog.records] == []


def test_a_wrong_metric_prints_no_trial_errors(
    raw: tuple[pd.DataFrame, np.ndarray], capfd: pytest.CaptureFixture[str]
) -> None:
    """The real search is never reached: before the check, each trial failed on the metric
    and printed "trial 0 (linear) failed: ValueError: ..." before a TrainingError."""
    X, signal = raw
    with pytest.raises(ConfigError, match="metric 'roc_auc' is a classification metric"):
        AutoRegressor(**FAST, metric="roc_auc").fit(X, signal)
    assert capfd.readouterr() == ("", "")


def test_errors_are_value_errors_for_scikit_learn(raw: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = raw
    with pytest.raises(ValueError, match="y has one class"):
        AutoClassifier(**FAST).fit(X, np.zeros(len(X)))


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
        "bagging": False,
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
