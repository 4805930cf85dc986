"""loopml.features._selection: correlation filter, mutual information, RFE, permutation."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from loopml.config import FeaturesConfig, SelectionConfig
from loopml.features import (
    CorrelationFilter,
    FeatureSelector,
    SelectionResult,
    build_preprocessor,
    correlation_filter,
    make_selector,
    mutual_info_ranking,
    select_features,
    selection_helps,
    selection_result,
)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # OpenMP spin-waits on a busy machine make the small tree fits here slow
    with threadpool_limits(limits=1):
        yield


def correlated() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": [1.0, 2, 3, 4, 5, 6],
            "b": [2.1, 3.9, 6.2, 7.8, 10.1, 12.0],  # about 2a
            "c": [1.0, 0, 1, 0, 1, 0],
            "d": [-1.0, -2, -3, -4, -5, -6],  # -a: correlation counts by its size
            "e": [5.0] * 6,  # constant: correlates with nothing
        }
    )


def informative(n_features: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    """300 rows; f0, f1 and f2 carry the class, the others are noise."""
    X, y = make_classification(
        n_samples=300,
        n_features=n_features,
        n_informative=3,
        n_redundant=0,
        shuffle=False,
        random_state=0,
    )
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(n_features)]), y


# --------------------------------------------------------------------------------------------
# correlation filter


def test_correlation_filter_drops_the_later_feature_of_each_correlated_pair() -> None:
    result = correlation_filter(correlated(), 0.95)
    assert result.kept == ("a", "c", "e")
    assert result.dropped == {
        "b": "correlation 0.999 with a reaches the threshold 0.95",
        "d": "correlation 1.000 with a reaches the threshold 0.95",
    }
    assert result.score_name == "max_abs_correlation"
    assert result.scores == pytest.approx(
        {"a": 1.0, "b": 0.9992297, "c": 0.2927700, "d": 1.0, "e": 0.0}, abs=1e-7
    )


def test_correlation_threshold_one_drops_exact_copies_only() -> None:
    result = correlation_filter(correlated(), 1.0)
    assert result.kept == ("a", "b", "c", "e")
    assert list(result.dropped) == ["d"]


def test_correlation_filter_counts_missing_values_as_the_median() -> None:
    frame = pd.DataFrame({"a": [1.0, 2, np.nan, 4, 5], "b": [1.0, 2, 3, 4, 5]})
    assert correlation_filter(frame, 0.95).kept == ("a",)


def test_correlation_filter_step_in_a_pipeline() -> None:
    step = CorrelationFilter(threshold=0.95)
    with pytest.raises(NotFittedError, match="This CorrelationFilter instance is not fitted yet"):
        step.transform(correlated())
    out = step.fit_transform(correlated().to_numpy())
    assert out.shape == (6, 3)
    names = step.get_feature_names_out(["a", "b", "c", "d", "e"]).tolist()
    assert names == ["a", "c", "e"]
    assert step.result_.dropped == {
        "x1": "correlation 0.999 with x0 reaches the threshold 0.95",
        "x3": "correlation 1.000 with x0 reaches the threshold 0.95",
    }


# --------------------------------------------------------------------------------------------
# ranking methods


def test_mutual_information_ranks_the_feature_that_carries_the_target_first() -> None:
    rng = np.random.RandomState(0)
    signal = rng.normal(size=400)
    frame = pd.DataFrame({"noise": rng.normal(size=400), "signal": signal})
    y = (signal + 0.3 * rng.normal(size=400) > 0).astype(int)
    scores = mutual_info_ranking(frame, y, "binary", seed=0)
    assert scores["signal"] > 0.3 > 0.05 > scores["noise"]
    result = select_features(frame, y, "binary", SelectionConfig(method="mutual_info"), 0)
    assert result.kept == ("signal",)
    assert result.dropped["noise"].startswith("mutual information ")


def test_rfecv_keeps_the_informative_features() -> None:
    X, y = informative()
    result = select_features(X, y, "binary", SelectionConfig(method="rfe"), seed=0)
    assert result.kept == ("f0", "f1", "f2")
    assert result.score_name == "rfe_rank"
    assert {f: result.scores[f] for f in result.kept} == {"f0": 1.0, "f1": 1.0, "f2": 1.0}
    assert all(result.scores[f] > 1 for f in result.dropped)
    assert result.dropped["f7"].endswith("(RFECV: 3 features scored best in 3-fold CV)")


def test_rfe_cuts_to_max_features() -> None:
    X, y = informative()
    config = SelectionConfig(method="rfe", max_features=2)
    result = select_features(X, y, "binary", config, seed=0)
    assert len(result.kept) == 2 and set(result.kept) <= {"f0", "f1", "f2"}
    assert "RFE to max_features=2" in next(iter(result.dropped.values()))


def test_permutation_importance_keeps_the_informative_features() -> None:
    X, y = informative()
    result = select_features(X, y, "binary", SelectionConfig(method="permutation"), seed=0)
    assert result.kept == ("f0", "f1", "f2")
    assert min(result.scores[f] for f in result.kept) > 0.5
    assert max(result.scores[f] for f in result.dropped) < 0.01

    top = select_features(X, y, "binary", SelectionConfig(method="permutation", max_features=2))
    assert top.kept == ("f0", "f1")  # f1 and f0 matter most; kept in column order
    assert top.dropped["f2"].startswith("not among the best max_features=2 (")


def test_auto_filters_correlated_then_uninformative_features() -> None:
    rng = np.random.RandomState(1)
    signal = rng.normal(size=300)
    frame = pd.DataFrame({"signal": signal, "copy": 3 * signal + 1, "noise": rng.normal(size=300)})
    y = (signal > 0).astype(int)
    result = select_features(frame, y, "binary", SelectionConfig(), seed=0)
    assert result.method == "auto" and result.kept == ("signal",)
    assert result.dropped["copy"] == "correlation 1.000 with signal reaches the threshold 0.95"
    assert result.dropped["noise"].startswith("mutual information ")
    assert set(result.scores) == {"signal", "noise"}  # ranked after the correlation filter


def test_select_features_works_on_raw_frames_with_labels_and_dates() -> None:
    rng = np.random.RandomState(0)
    colour = rng.choice(["red", "blue"], 200)
    frame = pd.DataFrame(
        {
            "colour": colour,
            "when": pd.date_range("2024-01-01", periods=200, freq="D"),
            "ok": rng.rand(200) > 0.5,
        }
    )
    y = (colour == "red").astype(int)
    result = select_features(frame, y, None, SelectionConfig(method="mutual_info"), 0)
    assert result.kept == ("colour",)
    assert result.scores["colour"] == pytest.approx(np.log(2), abs=0.01)  # one bit, in nats


# --------------------------------------------------------------------------------------------
# the result


def test_none_keeps_everything_and_at_least_one_feature_is_always_kept() -> None:
    X, y = informative()
    none = select_features(X, y, "binary", SelectionConfig(method="none"))
    assert none == SelectionResult("none", tuple(X.columns), {}, {}, "")
    rng = np.random.RandomState(0)
    noise = pd.DataFrame({"n1": rng.normal(size=60), "n2": rng.normal(size=60)})
    target = rng.normal(size=60)
    result = select_features(noise, target, "regression", SelectionConfig(method="permutation"))
    assert len(result.kept) >= 1


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^unknown selection method 'lasso'; known: none, "):
        select_features(correlated(), [0, 1] * 3, "binary", SelectionConfig(), method="lasso")


def test_selection_result_to_dict() -> None:
    result = correlation_filter(correlated()[["a", "d", "c"]], 0.95)
    assert result.to_dict() == {
        "method": "correlation",
        "score_name": "max_abs_correlation",
        "n_kept": 2,
        "n_dropped": 1,
        "kept": ["a", "c"],
        "dropped": [
            {"feature": "d", "reason": "correlation 1.000 with a reaches the threshold 0.95"}
        ],
        "scores": pytest.approx({"a": 1.0, "d": 1.0, "c": 0.29277002}),
    }
    assert dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'kept'"):
        result.kept = ()  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# in the pipeline


def test_selector_inside_the_preprocessor_reports_real_feature_names() -> None:
    X, y = informative()
    X["f0_again"] = X["f0"] * 2
    roles = dict.fromkeys(X.columns, "numeric")
    features = FeaturesConfig(selection=SelectionConfig(method="correlation"))
    pipe = build_preprocessor(roles, "ordinal", features=features, task="binary").fit(X, y)
    assert pipe.steps[-1][0] == "select"
    assert pipe.get_feature_names_out().tolist() == [f"f{i}" for i in range(8)]
    assert pipe.transform(X).shape == (300, 8)
    result = selection_result(pipe)
    assert result is not None
    assert result.dropped == {"f0_again": "correlation 1.000 with f0 reaches the threshold 0.95"}
    assert selection_result(build_preprocessor(roles, "ordinal").fit(X, y)) is None


def test_feature_selector_needs_the_target() -> None:
    with pytest.raises(ValueError, match=r"^FeatureSelector requires y to be passed, but the"):
        FeatureSelector().fit(correlated(), None)


def test_selection_helps_compares_cross_validated_scores_on_the_same_folds() -> None:
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.normal(size=(300, 20))).add_prefix("noise")
    X["s1"], X["s2"] = rng.normal(size=300), rng.normal(size=300)
    y = (X["s1"] + X["s2"] > 0).astype(int)  # 20 noise features drown k-nearest neighbours
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    config = SelectionConfig(method="mutual_info")
    selector = make_selector(config, task="binary")
    check = selection_helps(
        KNeighborsClassifier(), X, y, selector=selector, cv=folds, scoring="roc_auc"
    )
    assert check.method == "mutual_info"
    assert check.helps and check.score_selected > check.score_all + 0.05
    assert check.to_dict()["helps"] is True

    pipeline = Pipeline([("model", KNeighborsClassifier())])
    selector = make_selector(config)
    again = selection_helps(pipeline, X, y, selector=selector, cv=folds, scoring="roc_auc")
    assert again.score_selected == pytest.approx(check.score_selected)
