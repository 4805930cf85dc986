"""The networks of the [neural] extra (RealMLP, TabM), their place in the search, and the
TensorBoard log of a search. Skipped without torch and pytabkit, except in CI (CI=true)."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _searchkit import run_search
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier

import _needs as needs
from loopml.errors import ConfigError, TrainingError
from loopml.modeling import (
    FamilyRegistry,
    Leaderboard,
    TensorBoardLog,
    TrialResult,
    default_registry,
    make_pipeline,
    unwrap,
)
from loopml.modeling._neural import NeuralClassifier, NeuralRegressor
from loopml.modeling._split import cv_folds
from loopml.types import TaskKind

FAMILIES = default_registry()
NETWORKS = ("realmlp", "tabm")
ROLES = {"x1": "numeric", "x2": "numeric", "color": "categorical"}
EPOCHS = 3  # enough to fit a tiny signal; keeps every fit to a few seconds


@pytest.fixture(scope="module", autouse=True)
def _neural_extra() -> None:
    needs.module("torch")
    needs.module("pytabkit")


def _frame(n: int = 150, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    X = pd.DataFrame({"x1": x1, "x2": rng.uniform(0, 10, size=n), "color": color})
    X.loc[[2, 5, 9], "x1"] = np.nan  # the networks need the pipeline's imputation
    return X, x1 + 2.0 * (color == "red") + rng.normal(scale=0.3, size=n)


class ScriptedClock:
    """A clock that moves only when a :class:`TimedClassifier` says its fit took seconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedClassifier(ClassifierMixin, BaseEstimator):
    """A real (small) classifier whose every fit advances ``clock`` by ``seconds``."""

    def __init__(self, clock: ScriptedClock | None = None, seconds: float = 0.0) -> None:
        self.clock = clock
        self.seconds = seconds

    def fit(self, X: Any, y: Any) -> TimedClassifier:
        self.clock.now += self.seconds
        self.inner_ = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
        self.classes_ = self.inner_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.inner_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        return self.inner_.predict(X)


def _timed(clock: ScriptedClock, family: str, seconds: float) -> Any:
    def build(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        return TimedClassifier(clock, seconds)

    return dataclasses.replace(FAMILIES[family], build=build)


@pytest.mark.parametrize("family", NETWORKS)
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_a_network_classifies_with_probabilities_and_pickles(family: str, task: TaskKind) -> None:
    X, signal = _frame()
    if task == "binary":
        y = pd.Series(np.where(signal > 0.5, "yes", "no"), dtype=object)
    else:
        y = pd.Series(np.where(signal > 1.5, "high", np.where(signal > 0, "mid", "low")))
    pipe = make_pipeline(ROLES, family, task, {"n_epochs": EPOCHS}, seed=0, n_jobs=1)

    pipe.fit(X, y)
    proba = pipe.predict_proba(X)
    again = pickle.loads(pickle.dumps(pipe))

    classes = sorted(set(y))
    assert list(pipe.classes_) == classes
    assert proba.shape == (len(X), len(classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.min() > 0.0
    assert set(pipe.predict(X)) <= set(classes)
    np.testing.assert_allclose(again.predict_proba(X), proba, rtol=1e-6)
    network = unwrap(pipe)
    assert isinstance(network, NeuralClassifier) and network.network == family
    assert 1 <= len(network.curve_) <= EPOCHS  # TabM may stop before its last epoch
    assert all(np.isfinite(network.curve_))


@pytest.mark.parametrize("family", NETWORKS)
def test_a_network_regresses_and_is_seeded(family: str) -> None:
    X, signal = _frame()
    y = pd.Series(30.0 * signal + 100.0)  # far from standardised: the networks scale it

    params = {"n_epochs": 4 * EPOCHS}  # a regression takes a few more epochs than a class
    first = make_pipeline(ROLES, family, "regression", params, seed=1, n_jobs=1)
    second = make_pipeline(ROLES, family, "regression", params, seed=1, n_jobs=1)
    pred = first.fit(X, y).predict(X)

    assert pred.shape == (len(X),)
    assert np.corrcoef(pred, y)[0, 1] > 0.5
    np.testing.assert_allclose(second.fit(X, y).predict(X), pred, rtol=1e-5)
    assert isinstance(unwrap(first), NeuralRegressor)
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_allclose(restored.predict(X), pred, rtol=1e-6)


def test_an_unknown_network_is_refused() -> None:
    X, signal = _frame(40)
    with pytest.raises(ValueError, match=r"network must be one of realmlp, tabm, got 'resnet'"):
        NeuralRegressor("resnet", n_epochs=1).fit(X[["x2"]].to_numpy(), signal)


def test_without_the_neural_extra_fitting_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pytabkit", None)  # what `import pytabkit` finds uninstalled

    with pytest.raises(TrainingError, match=r"realmlp.*pip install 'loopml\[neural\]'"):
        NeuralClassifier("realmlp", n_epochs=1).fit(np.zeros((4, 1)), ["a", "b", "a", "b"])


def test_a_network_whose_package_is_missing_is_unavailable_with_the_install_hint() -> None:
    missing = dataclasses.replace(FAMILIES["tabm"], requires=("torch", "no_such_pytabkit"))
    registry = FAMILIES.with_families(missing)

    assert FAMILIES["tabm"].check_by_import is False  # found, not imported: pytabkit is slow
    assert "tabm" not in registry.available()
    assert "pip install 'loopml[neural]'" in registry.unavailable(["tabm"])["tabm"]
    assert set(NETWORKS) <= set(FAMILIES.available())  # here the extra is installed


# ---------------------------------------------------------------------------- the search


def _search(budget: float, families: tuple[str, ...], tune: bool = False) -> Any:
    """A binary search on the scripted clock: each LightGBM fold advances it 2 s, a network
    fold not at all, so whether a network fits is the budget's estimate, not machine speed."""
    X, signal = _frame(120)
    y = pd.Series(np.where(signal > 0.5, "yes", "no"), dtype=object)
    clock = ScriptedClock()
    quick = dataclasses.replace(
        FAMILIES["realmlp"], defaults={**FAMILIES["realmlp"].defaults, "n_epochs": EPOCHS}
    )
    registry: FamilyRegistry = FAMILIES.with_families(
        _timed(clock, "lightgbm", 2.0), _timed(clock, "linear", 1.0), quick
    )
    return run_search(
        X,
        y,
        task="binary",
        metric="roc_auc",
        roles=ROLES,
        folds=cv_folds(y, strategy="stratified", n_folds=3, seed=0),
        classes=("no", "yes"),
        positive_class="yes",
        families=families,
        budget_seconds=budget,
        tune=tune,
        ensemble=False,
        seed=0,
        n_jobs=1,
        clock=clock,
        candidates=registry,
    )


def _rows(board: Leaderboard) -> list[tuple[Any, ...]]:
    return [(t.family, t.source, t.status, t.fold_scores, t.params) for t in board.trials]


def test_a_network_enters_the_search_only_when_its_estimated_cost_fits() -> None:
    # LightGBM folds take 2 s, so a RealMLP fold is estimated at 2 x 70 = 140 s, plus 15 s to
    # import pytabkit, before it runs: with 60 s it cannot start; with 2,000 s it runs after
    # every other family.
    short = _search(60.0, ("lightgbm", "linear", "realmlp")).leaderboard
    long = _search(2000.0, ("lightgbm", "linear", "realmlp")).leaderboard

    assert [(t.family, t.status) for t in short.trials] == [
        ("lightgbm", "ok"),
        ("linear", "ok"),
        ("realmlp", "not_started"),
    ]
    assert [(t.family, t.status) for t in long.trials] == [
        ("lightgbm", "ok"),
        ("linear", "ok"),
        ("realmlp", "ok"),
    ]
    network = long.trials[-1]
    assert len(network.fold_scores) == 3 and network.params["n_epochs"] == EPOCHS
    assert len(network.curves) == 3  # each fold's validation loss per epoch
    assert all(1 <= len(curve) <= EPOCHS for curve in network.curves)
    assert "curves" not in network.to_dict()  # the leaderboard's JSON stays one row a trial


def test_a_network_that_does_not_fit_changes_nothing_else() -> None:
    # the same tuned search with and without RealMLP among the families: every other trial,
    # its score and its parameters, are the same; RealMLP is only recorded as not started
    with_network = _search(60.0, ("lightgbm", "linear", "realmlp"), tune=True).leaderboard
    without = _search(60.0, ("lightgbm", "linear"), tune=True).leaderboard

    others = [row for row in _rows(with_network) if row[0] != "realmlp"]
    assert others == _rows(without)
    assert [t.status for t in with_network.trials if t.family == "realmlp"] == ["not_started"]
    assert with_network.best.mean == without.best.mean


# ---------------------------------------------------------------------------- TensorBoard


def _events(directory: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list(directory.glob("events.out.tfevents.*"))
    assert len(files) == 1
    return EventAccumulator(str(files[0])).Reload()


def test_the_tensorboard_log_holds_each_family_the_best_so_far_and_the_network_curves(
    tmp_path: Path,
) -> None:
    board = _search(2000.0, ("lightgbm", "linear", "realmlp")).leaderboard

    TensorBoardLog(tmp_path / "tb").write(board)
    events = _events(tmp_path / "tb")

    tags = set(events.Tags()["scalars"])
    assert {"trials/lightgbm", "trials/linear", "trials/realmlp", "trials/best"} <= tags
    assert {f"curves/realmlp/trial_2/fold_{k}" for k in range(3)} <= tags
    assert not any(tag.startswith("curves/lightgbm") for tag in tags)
    scores = {t.family: t.mean for t in board.trials}
    for family in ("lightgbm", "linear", "realmlp"):
        (point,) = events.Scalars(f"trials/{family}")
        assert point.value == pytest.approx(scores[family], rel=1e-6)
    best = [p.value for p in events.Scalars("trials/best")]
    assert best == sorted(best) and best[-1] == pytest.approx(max(scores.values()), rel=1e-6)
    curve = events.Scalars("curves/realmlp/trial_2/fold_0")
    assert [p.step for p in curve] == list(range(1, len(board.trials[2].curves[0]) + 1))
    assert [p.value for p in curve] == pytest.approx(board.trials[2].curves[0], rel=1e-5)


def test_the_running_best_follows_the_metric_direction(tmp_path: Path) -> None:
    trials = tuple(
        TrialResult(n, family, {}, (value,), 1.0, status)
        for n, (family, value, status) in enumerate(
            [("linear", 0.5, "ok"), ("knn", 0.7, "ok"), ("mlp", 0.1, "failed"), ("knn", 0.4, "ok")]
        )
    )
    board = Leaderboard("rmse", False, trials, budget_seconds=60.0, elapsed_seconds=9.0, n_folds=1)

    TensorBoardLog(tmp_path).write(board)
    events = _events(tmp_path)

    assert [(p.step, p.value) for p in events.Scalars("trials/best")] == [
        (0, 0.5),
        (1, 0.5),
        (3, pytest.approx(0.4)),
    ]
    assert [p.step for p in events.Scalars("trials/knn")] == [1, 3]
    assert "trials/mlp" not in events.Tags()["scalars"]  # a failed trial has no score


def test_without_tensorboard_the_log_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)

    with pytest.raises(ConfigError, match=r"--tensorboard needs torch and tensorboard.*neural"):
        TensorBoardLog(tmp_path / "tb")
    assert not (tmp_path / "tb").exists()


def test_a_tensorboard_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")

    with pytest.raises(ConfigError, match=r"--tensorboard .*file/tb: the directory cannot"):
        TensorBoardLog(tmp_path / "file" / "tb")
