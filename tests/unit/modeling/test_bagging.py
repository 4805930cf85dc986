"""Long budgets: bags of the fold models cross-validation fitted (loopml.modeling._bagging)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import FixedThresholdClassifier

from loopml.config import Constraints, parse_config
from loopml.errors import ConfigError
from loopml.modeling import AutoClassifier, Search, TrainingData, TrainingSpec, cv_folds
from loopml.modeling._bagging import (
    BAG_MEMORY_MAX,
    BAG_TRIALS,
    LONG_BUDGET,
    BaggedEnsemble,
    FoldModels,
    bag_memory_limit,
    wants_bagging,
)
from loopml.modeling._executor import FoldOutcome, pickled_size
from loopml.modeling._leaderboard import TrialRun
from loopml.modeling._pipeline import make_pipeline
from loopml.modeling._threshold import tune_threshold

ROLES = {"a": "numeric", "b": "numeric", "c": "categorical"}


def _binary(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A linear part and an interaction: linear models and trees each see part of it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "c": rng.choice(["x", "y", "z"], n).astype(object),
        }
    )
    signal = 1.5 * X["a"] + 2 * ((X["b"] > 0) & (X["c"] == "x")) + rng.normal(scale=0.5, size=n)
    return X, pd.Series(np.where(signal > 0.5, "yes", "no"), dtype=object)


def _frozen() -> float:
    return 0.0


def _search(
    data: tuple[pd.DataFrame, pd.Series], *, bagging: Any, budget: float = 600.0, **kwargs: Any
) -> Search:
    """The search object after its run (a frozen clock: max_trials decides, not the budget)."""
    X, y = data
    spec = TrainingSpec(
        task="binary",
        metric=kwargs.pop("metric", "roc_auc"),
        budget_seconds=budget,
        classes=("no", "yes"),
        positive_class="yes",
        max_trials=kwargs.pop("max_trials", 5),
        families=kwargs.pop("families", ("linear", "hist_gradient_boosting", "random_forest")),
        seed=0,
        n_jobs=1,
        bagging=bagging,
        **kwargs,
    )
    folds = cv_folds(y, strategy="stratified", n_folds=3, seed=0)
    search = Search(TrainingData(X=X, y=y, roles=ROLES), spec, folds, clock=_frozen)
    search.result = search.run()  # type: ignore[attr-defined]
    return search


@pytest.fixture(scope="module")
def binary() -> tuple[pd.DataFrame, pd.Series]:
    return _binary()


@pytest.fixture(scope="module")
def bagged(binary: tuple[pd.DataFrame, pd.Series]) -> Search:
    return _search(binary, bagging=True)


# ---------------------------------------------------------------------------- the gate


FOLDS = cv_folds(pd.Series(np.arange(30) % 2), strategy="stratified", n_folds=3, seed=0)
TIME_FOLDS = [(np.arange(0, k), np.arange(k, k + 10)) for k in (10, 20)]  # rows 0-9 never validate


@pytest.mark.parametrize(
    ("setting", "budget", "folds", "constraints", "expected"),
    [
        ("auto", LONG_BUDGET, FOLDS, Constraints(), True),
        ("auto", 300.0, FOLDS, Constraints(), True),
        ("auto", 60.0, FOLDS, Constraints(), False),
        (True, 60.0, FOLDS, Constraints(), True),
        (False, 600.0, FOLDS, Constraints(), False),
        ("auto", 600.0, TIME_FOLDS, Constraints(), False),
        (True, 600.0, FOLDS[:1], Constraints(), False),  # one split: no bag
        ("auto", 600.0, FOLDS, Constraints(max_latency_ms=10), False),
        (True, 600.0, FOLDS, Constraints(max_model_mb=5), False),
    ],
)
def test_the_gate(
    setting: Any, budget: float, folds: Any, constraints: Constraints, expected: bool
) -> None:
    got = wants_bagging(
        setting, budget_seconds=budget, folds=folds, n_rows=30, constraints=constraints
    )
    assert got is expected


def test_bagging_is_a_training_setting() -> None:
    base = "name: p\nproblem: {task: binary, target: y}\ndata: {source: {type: csv, path: a.csv}}\n"
    assert parse_config(base).training.bagging is False  # opt-in until it pays (README)
    assert parse_config(base + "training: {bagging: auto}\n").training.bagging == "auto"
    assert parse_config(base + "training: {bagging: true}\n").training.bagging is True
    with pytest.raises(ConfigError, match=r"training\.bagging: .*auto, true or false, got 'often'"):
        parse_config(base + "training: {bagging: often}\n")


def test_the_estimators_refuse_a_bad_bagging_value(binary: tuple[pd.DataFrame, Any]) -> None:
    X, y = binary
    with pytest.raises(ConfigError, match=r"bagging must be 'auto', True or False, got 'yes'"):
        AutoClassifier(bagging="yes").fit(X, y)


def test_the_estimators_bag_when_asked(binary: tuple[pd.DataFrame, Any]) -> None:
    X, y = binary
    clf = AutoClassifier(
        time_budget=120, max_trials=2, models=["linear"], random_state=0, bagging=True, n_jobs=1
    ).fit(X, y)
    assert clf.get_params()["bagging"] is True
    assert "bag" in [t.family for t in clf.leaderboard_.trials]
    assert clf.predict_proba(X).shape == (len(X), 2)


# ---------------------------------------------------------------------------- the search


def test_with_bagging_off_the_short_budget_search_is_unchanged(
    binary: tuple[pd.DataFrame, pd.Series],
) -> None:
    families = ("linear", "decision_tree")
    auto = _search(binary, bagging="auto", budget=60.0, families=families)
    off = _search(binary, bagging=False, budget=60.0, families=families)
    assert not auto.bagging and not auto.fold_models
    assert auto.result.leaderboard.to_dict() == off.result.leaderboard.to_dict()
    X, _ = binary
    np.testing.assert_array_equal(
        auto.result.pipeline.predict_proba(X), off.result.pipeline.predict_proba(X)
    )


def test_bagging_runs_the_same_trials_and_adds_its_rows(
    binary: tuple[pd.DataFrame, pd.Series], bagged: Search
) -> None:
    off = _search(binary, bagging=False)
    plain = [(t.family, t.params, t.fold_scores) for t in off.result.leaderboard.trials]
    searched = [
        (t.family, t.params, t.fold_scores)
        for t in bagged.result.leaderboard.trials
        if t.source not in ("bag", "stack")
    ]
    assert searched == plain
    assert "bag" in [t.family for t in bagged.result.leaderboard.trials]


def test_the_bag_beats_or_equals_its_best_member_out_of_fold(bagged: Search) -> None:
    board = bagged.result.leaderboard
    bag = next(t for t in board.trials if t.family == "bag")
    members = [board.trials[n] for n in bag.params["members"]]
    singles = [t for t in board.trials if t.source in ("portfolio", "optuna") and t.status == "ok"]
    assert len(members) > 1  # a linear model and trees: an ensemble helps here
    # pooled out of fold, the bag is at least its best member (greedy selection starts there)
    y = bagged.data.y.to_numpy()
    oof = sum(w * bagged.oof_store[n] for n, w in bag.params["members"].items())
    from loopml.metrics import score

    pooled = score("roc_auc", "binary", y, None, oof, ("no", "yes"), "yes")
    best_single = max(
        score("roc_auc", "binary", y, None, bagged.oof_store[t.number], ("no", "yes"), "yes")
        for t in singles
        if t.number in bagged.oof_store
    )
    assert pooled >= best_single
    assert bag.mean >= max(t.mean for t in members)


def test_the_chosen_bag_is_fitted_from_the_fold_models(bagged: Search) -> None:
    model = bagged.result.pipeline
    board = bagged.result.leaderboard
    assert board.best.family in ("bag", "stack-l2")  # what was chosen ranks first
    if board.best.family == "bag":
        assert isinstance(model, BaggedEnsemble)
        members = list(board.best.params["members"])
        kept = [bagged.fold_models[n][k] for n in members for k in range(3)]
        assert [id(m) for m in model.estimators_] == [id(m) for m in kept]  # no refit
        assert model.weights_.sum() == pytest.approx(1.0)


def test_only_the_best_trials_keep_their_fold_models(binary: tuple[pd.DataFrame, Any]) -> None:
    search = _search(binary, bagging=True, families=("linear",), max_trials=BAG_TRIALS + 2)
    scored = [t for t in search.trials if t.source == "optuna" or t.source == "portfolio"]
    ranked = sorted((t for t in scored if t.status == "ok"), key=lambda t: -t.mean)
    assert len(search.fold_models) == BAG_TRIALS
    assert set(search.fold_models) == {t.number for t in ranked[:BAG_TRIALS]}


def test_the_kept_fold_models_fit_in_the_memory_limit(
    binary: tuple[pd.DataFrame, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for the two best trials' models only, those two are kept (and bagged)."""
    first = _search(binary, bagging=True, families=("linear",), max_trials=BAG_TRIALS + 2)
    sizes = first.fold_models.sizes
    assert all(
        size == sum(pickled_size(m) for m in first.fold_models[n].values())
        for n, size in sizes.items()
    )
    best = sorted(sizes, key=lambda n: -first.trials[n].mean)[:2]
    limit = sum(sizes[n] for n in best)
    monkeypatch.setattr("loopml.modeling._search.bag_memory_limit", lambda: limit)

    search = _search(binary, bagging=True, families=("linear",), max_trials=BAG_TRIALS + 2)
    assert set(search.fold_models) == set(best) == set(search.fold_models.sizes)
    assert any(t.source == "bag" for t in search.trials)
    monkeypatch.setattr("loopml.modeling._search.bag_memory_limit", lambda: min(sizes.values()) - 1)
    search = _search(binary, bagging=True, families=("linear",), max_trials=BAG_TRIALS + 2)
    assert not search.fold_models and not any(t.source == "bag" for t in search.trials)
    assert search.result.leaderboard.best.source != "bag"  # the search goes on without a bag


def test_a_trial_stops_keeping_its_models_once_they_pass_the_limit() -> None:
    store = FoldModels(limit=100)
    run = TrialRun(family="random_forest", params={}, oof=np.zeros(3))
    for fold, size in enumerate((60, 30, 30, 5)):
        store.take(run, FoldOutcome(fold=fold, model=f"model {fold}", model_bytes=size))
        if fold == 1:
            assert run.models == {0: "model 0", 1: "model 1"}
    assert run.models == {}  # 120 bytes by the third fold: none kept, nor the fourth's
    store.keep(0, run, [], bigger=True)
    assert not store and not store.sizes


def test_the_memory_limit_is_a_share_of_what_is_available_and_at_most_the_cap() -> None:
    assert 0 < bag_memory_limit() <= BAG_MEMORY_MAX


def test_the_threshold_is_tuned_over_the_bag(binary: tuple[pd.DataFrame, pd.Series]) -> None:
    search = _search(binary, bagging=True, threshold="f1", families=("linear", "random_forest"))
    result = search.result
    bag = next(t for t in result.leaderboard.trials if t.family == "bag")
    assert result.leaderboard.best.family == "bag"  # no second layer beats it here
    oof = sum(w * search.oof_store[n] for n, w in bag.params["members"].items())
    expected = tune_threshold(search.data.y.to_numpy(), oof[:, 1], "yes", objective="f1")
    assert result.threshold == expected
    model = result.pipeline
    assert isinstance(model, FixedThresholdClassifier)
    assert isinstance(model.estimator_, BaggedEnsemble)
    X, _ = binary
    proba = model.predict_proba(X)
    assert (
        model.predict(X).tolist()
        == np.where(proba[:, 1] >= expected.threshold, "yes", "no").tolist()
    )


# ---------------------------------------------------------------------------- the estimator


def _members(task: str) -> tuple[list[Any], pd.DataFrame, pd.Series]:
    X, y = _binary(150, seed=1)
    if task == "regression":
        y = pd.Series(X["a"] * 2.0 + X["b"], dtype=float)
    elif task == "multiclass":
        y = pd.Series(np.where(X["a"] > 0.5, "hi", np.where(X["a"] < -0.5, "lo", "mid")))
    members = [
        make_pipeline(ROLES, family, task, None, 0, 1)  # type: ignore[arg-type]
        for family in ("linear", "decision_tree")
    ]
    return members, X, y


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_bag_fits_predicts_and_pickles(task: str) -> None:
    members, X, y = _members(task)
    bag = BaggedEnsemble(members, [0.75, 0.25], task=task, n_folds=4, seed=0)
    with pytest.raises(NotFittedError):
        bag.predict(X)
    bag.fit(X, y)
    assert len(bag.estimators_) == 8
    assert bag.weights_.tolist() == pytest.approx([0.75 / 4] * 4 + [0.25 / 4] * 4)
    again = pickle.loads(pickle.dumps(bag))
    assert again.predict(X).shape == (len(X),)
    np.testing.assert_array_equal(again.predict(X), bag.predict(X))
    if task != "regression":
        proba = bag.predict_proba(X)
        assert proba.shape == (len(X), len(set(y)))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    else:
        assert not hasattr(bag, "predict_proba")  # hidden, as scikit-learn regressors do
        with pytest.raises(AttributeError, match="predict_proba"):
            bag.predict_proba(X)


def test_a_bag_from_fold_models_averages_them() -> None:
    members, X, y = _members("regression")
    folds = cv_folds(y, strategy="random", n_folds=2, seed=0)
    fitted = [
        [
            make_pipeline(ROLES, f, "regression", None, 0, 1).fit(X.iloc[t], y.iloc[t])
            for t, _ in folds
        ]
        for f in ("linear", "decision_tree")
    ]
    bag = BaggedEnsemble.from_folds(members, [0.5, 0.5], fitted, task="regression")
    expected = np.mean([m.predict(X) for models in fitted for m in models], axis=0)
    np.testing.assert_allclose(bag.predict(X), expected)
    assert bag.get_params()["n_folds"] == 2
