"""The model families (loopml.modeling._families), their registry, and the wrappers they use."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from _searchkit import signal_frame
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.base import clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

import _needs as needs
from loopml.errors import TrainingError
from loopml.modeling import FamilyRegistry, ModelFamily, default_registry, make_pipeline, unwrap
from loopml.modeling._boosting import EarlyStoppingClassifier, EarlyStoppingRegressor
from loopml.modeling._families import resolve_class_weight
from loopml.modeling._smoothing import SmoothedClassifier
from loopml.types import TaskKind

FAMILIES = default_registry()
TASKS = ("binary", "multiclass", "regression")
ROLES = {"x1": "numeric", "x2": "numeric", "color": "categorical", "signup": "datetime"}

#: Small models keep the whole file fast; keys a family does not have are left out.
SMALL = {"n_estimators": 25, "max_iter": 40, "n_epochs": 4}

#: Optuna parameter prefix of each family.
PREFIXES = {
    "linear": "linear",
    "hist_gradient_boosting": "hgb",
    "lightgbm": "lgbm",
    "xgboost": "xgb",
    "catboost": "cb",
    "random_forest": "rf",
    "extra_trees": "et",
    "decision_tree": "tree",
    "knn": "knn",
    "mlp": "mlp",
    "realmlp": "realmlp",
    "tabm": "tabm",
}


def _small(family: str) -> dict[str, Any]:
    return {k: v for k, v in SMALL.items() if k in FAMILIES[family].defaults}


def _skip_unavailable(family: str) -> None:
    reason = FAMILIES[family].why_unavailable()
    if reason is not None:
        needs.unavailable(reason)


def _frame(n: int = 160, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with gaps, a category with gaps, a datetime, and a signal in x1 and color."""
    return signal_frame(n, seed, x1_gaps=12, color_gaps=True)


@pytest.fixture(scope="module")
def frames() -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    X, signal = _frame()
    multiclass = np.where(signal > 0.8, "high", np.where(signal > -0.2, "mid", "low"))
    multiclass[np.argsort(signal)[-6:]] = "rare"  # a class of six rows
    return {
        "binary": (X, pd.Series(np.where(signal > 0.5, "yes", "no"), dtype=object)),
        "multiclass": (X, pd.Series(multiclass, dtype=object)),
        "regression": (X, pd.Series(3.0 * signal + 10.0)),
    }


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILIES.names)
def test_every_family_fits_and_predicts(
    family: str, task: TaskKind, frames: dict[str, tuple[pd.DataFrame, pd.Series]]
) -> None:
    _skip_unavailable(family)
    X, y = frames[task]
    pipe = make_pipeline(ROLES, family, task, _small(family), seed=0, n_jobs=1)

    pipe.fit(X, y)

    if task == "regression":
        pred = pipe.predict(X)
        assert pred.shape == (len(X),)
        assert np.corrcoef(pred, y)[0, 1] > 0.5
        return
    classes = sorted(set(y))
    assert list(pipe.classes_) == classes
    proba = pipe.predict_proba(X)
    assert proba.shape == (len(X), len(classes))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba.min() > 0.0  # no class seen in training ever gets probability 0
    assert set(pipe.predict(X)) <= set(classes)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("family", FAMILIES.names)
def test_every_search_space_builds_with_prefixed_names(family: str, task: TaskKind) -> None:
    candidate = FAMILIES[family]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        params = candidate.space(trial, task)

        assert set(params) <= set(candidate.defaults)
        assert all(name.startswith(f"{PREFIXES[family]}.") for name in trial.params)
        if candidate.why_unavailable() is None:
            candidate.make(task, params, 0, 1)


def test_portfolio_lists_every_family_once_with_the_weak_ones_last() -> None:
    assert FAMILIES.names == (
        "lightgbm",  # the first always completes
        "linear",
        "hist_gradient_boosting",
        "xgboost",
        "extra_trees",
        "random_forest",
        "catboost",
        "decision_tree",
        "knn",
        "mlp",
        "realmlp",  # the dearest per row: where the budget's estimate lets them in
        "tabm",
    )
    assert FAMILIES.interpretable == ("linear", "decision_tree")
    assert FAMILIES["knn"].encoding == FAMILIES["mlp"].encoding == "onehot"
    assert FAMILIES["knn"].defaults["n_neighbors"] >= 15
    assert FAMILIES["knn"].defaults["weights"] == "distance"


def _imbalanced(n: int = 400, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    X, signal = _frame(n, seed)
    rare = signal > np.quantile(signal, 0.95)  # 5% positives
    return X, pd.Series(np.where(rare, "fraud", "ok"), dtype=object)


#: The families that weight classes (the networks do not: pytabkit takes no sample weights).
WEIGHTED = [f.name for f in FAMILIES if "class_weight" in f.classification_only_params]


@pytest.mark.parametrize("family", WEIGHTED)
def test_balanced_class_weight_raises_the_rare_class_probability(family: str) -> None:
    _skip_unavailable(family)
    X, y = _imbalanced()
    X_new, _ = _imbalanced(seed=2)
    params = _small(family)
    if "min_samples_leaf" in FAMILIES[family].defaults:
        params["min_samples_leaf"] = 10  # pure one-row leaves would make weights moot
    plain = make_pipeline(ROLES, family, "binary", params, seed=0, n_jobs=1).fit(X, y)
    weighted = make_pipeline(
        ROLES, family, "binary", {**params, "class_weight": "balanced"}, seed=0, n_jobs=1
    ).fit(X, y)

    column = list(plain.classes_).index("fraud")
    before = plain.predict_proba(X_new)[:, column].mean()
    after = weighted.predict_proba(X_new)[:, column].mean()
    assert after > before + 0.02, (before, after)


def test_class_weight_is_ignored_for_regression(
    frames: dict[str, tuple[pd.DataFrame, pd.Series]],
) -> None:
    X, y = frames["regression"]
    pipe = make_pipeline(
        ROLES, "random_forest", "regression", {"n_estimators": 10, "class_weight": "balanced"}, 0, 1
    )
    assert pipe.fit(X, y).predict(X).shape == (len(X),)


def test_resolve_class_weight() -> None:
    rare = ["ok"] * 95 + ["fraud"] * 5
    even = ["ok"] * 80 + ["fraud"] * 20
    assert resolve_class_weight("auto", rare) == "balanced"
    assert resolve_class_weight("auto", even) is None
    assert resolve_class_weight("auto", pd.Series([*even, None, None])) is None
    assert resolve_class_weight("auto", np.array([0] * 91 + [1] * 9)) == "balanced"
    assert resolve_class_weight("auto", ["ok"] * 10) is None  # one class: nothing to balance
    assert resolve_class_weight("auto", []) is None
    assert resolve_class_weight("balanced", even) == "balanced"
    assert resolve_class_weight("none", rare) is None
    # balancing moves probabilities off the class frequencies: not for metrics that score them
    assert resolve_class_weight("auto", rare, metric="log_loss") is None
    assert resolve_class_weight("auto", rare, metric="accuracy") is None
    assert resolve_class_weight("auto", rare, metric="roc_auc") == "balanced"
    assert resolve_class_weight("auto", rare, metric="f1") == "balanced"
    assert resolve_class_weight("balanced", rare, metric="log_loss") == "balanced"  # as asked
    with pytest.raises(
        ValueError, match=r"class_weight must be 'auto', 'balanced' or 'none', got 'yes'"
    ):
        resolve_class_weight("yes", rare)


def test_relevant_params() -> None:
    relevant_params = FAMILIES.relevant_params
    hgb = FAMILIES["hist_gradient_boosting"].defaults
    assert relevant_params("hist_gradient_boosting", "binary", hgb) == hgb
    linear = {**FAMILIES["linear"].defaults, "class_weight": "balanced"}
    assert relevant_params("linear", "binary", linear) == {"C": 1.0, "class_weight": "balanced"}
    assert relevant_params("linear", "regression", linear) == {"alpha": 1.0}
    lgbm = {**FAMILIES["lightgbm"].defaults, "class_weight": None}
    assert "class_weight" not in relevant_params("lightgbm", "binary", lgbm)
    trees = FAMILIES["extra_trees"].defaults
    assert relevant_params("extra_trees", "binary", trees)["max_features"] == "sqrt"
    assert relevant_params("extra_trees", "regression", trees)["max_features"] == 1.0
    forest = {**FAMILIES["random_forest"].defaults, "class_weight": "balanced"}
    assert relevant_params("random_forest", "regression", forest) == {
        "n_estimators": 200,
        "max_features": "sqrt",
        "min_samples_leaf": 2,
    }


def _noisy(task: str, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 5))
    X[rng.random(size=X.shape) < 0.05] = np.nan
    signal = np.nan_to_num(X[:, 0]) + rng.normal(scale=1.5, size=n)
    if task == "regression":
        return X, signal
    return X, np.where(signal > 0.3, "b", np.where(signal > -0.8, "a", "c"))


def _booster(library: str, task: str) -> Any:
    """A fast-learning booster with room to overfit: early stopping has to cut it short."""
    if library == "lightgbm":
        cls = LGBMRegressor if task == "regression" else LGBMClassifier
        return cls(n_estimators=300, learning_rate=0.3, n_jobs=1, random_state=0, verbose=-1)
    module = needs.module(library)
    if library == "xgboost":
        cls = module.XGBRegressor if task == "regression" else module.XGBClassifier
        return cls(n_estimators=300, learning_rate=0.3, n_jobs=1, random_state=0, verbosity=0)
    cls = module.CatBoostRegressor if task == "regression" else module.CatBoostClassifier
    return cls(
        iterations=300,
        learning_rate=0.3,
        thread_count=1,
        random_seed=0,
        logging_level="Silent",
        allow_writing_files=False,
    )


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("library", ["lightgbm", "xgboost", "catboost"])
def test_early_stopping_wrapper_clones_and_records_the_best_iteration(
    library: str, task: str
) -> None:
    X, y = _noisy(task)
    wrapper: Any = EarlyStoppingRegressor if task == "regression" else EarlyStoppingClassifier
    model = wrapper(_booster(library, task), early_stopping_rounds=5, random_state=0)

    twin = clone(model)
    params = twin.get_params()
    assert twin.estimator is not model.estimator
    assert params["validation_fraction"] == 0.1
    assert params["early_stopping_rounds"] == 5
    assert params["estimator__learning_rate"] == 0.3
    twin.set_params(estimator__learning_rate=0.4)
    assert twin.estimator.get_params()["learning_rate"] == 0.4

    model.fit(X, y)

    assert model.early_stopped_
    assert 1 <= model.best_iteration_ < 300
    assert type(unwrap(model)) is type(model.estimator)
    again = clone(model).fit(X, y)
    assert again.best_iteration_ == model.best_iteration_  # same seed, same model
    if task == "regression":
        np.testing.assert_array_equal(again.predict(X), model.predict(X))
        return
    assert model.classes_.tolist() == ["a", "b", "c"]
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    assert set(model.predict(X)) <= {"a", "b", "c"}


def test_early_stopping_keeps_every_class_in_training() -> None:
    X, labels = _noisy("multiclass", n=200)
    y = labels.astype(object)
    y[:2] = "lonely"  # two rows: one may be held out, never both
    model = EarlyStoppingClassifier(_booster("lightgbm", "binary"), random_state=0).fit(X, y)
    assert "lonely" in model.classes_
    assert model.predict_proba(X).shape == (200, 4)


def test_early_stopping_fits_every_round_on_tiny_data() -> None:
    X, y = _noisy("regression", n=30)
    model = EarlyStoppingRegressor(LGBMRegressor(n_estimators=7, verbose=-1, min_child_samples=2))
    model.fit(X, y)
    assert not model.early_stopped_
    assert model.best_iteration_ == 7


def test_early_stopping_wrapper_rejects_other_estimators() -> None:
    X, y = _noisy("binary")
    with pytest.raises(ValueError, match=r"early stopping supports estimators of lightgbm"):
        EarlyStoppingClassifier(DecisionTreeClassifier()).fit(X, y)
    with pytest.raises(ValueError, match=r"validation_fraction must be between 0 and 1"):
        EarlyStoppingClassifier(_booster("lightgbm", "binary"), validation_fraction=1.5).fit(X, y)


def test_smoothing_mixes_in_the_prior_so_no_class_gets_zero() -> None:
    X, y = _noisy("multiclass", n=200)
    X = np.nan_to_num(X)
    raw = KNeighborsClassifier(n_neighbors=3).fit(X, y)
    smooth = SmoothedClassifier(KNeighborsClassifier(n_neighbors=3), prior_weight=0.25).fit(X, y)

    p_raw, p_smooth = raw.predict_proba(X), smooth.predict_proba(X)

    assert p_raw.min() == 0.0
    assert p_smooth.min() > 0.0
    np.testing.assert_allclose(
        smooth.prior_, pd.Series(y).value_counts(normalize=True).sort_index()
    )
    np.testing.assert_allclose(p_smooth, 0.75 * p_raw + 0.25 * smooth.prior_)


def test_smoothing_refuses_sample_weights_its_model_cannot_take() -> None:
    X, y = _noisy("binary", n=50)
    with pytest.raises(ValueError, match=r"KNeighborsClassifier cannot fit with sample_weight"):
        SmoothedClassifier(KNeighborsClassifier()).fit(
            np.nan_to_num(X), y, sample_weight=np.ones(50)
        )


@pytest.mark.parametrize("module", ["xgboost", "catboost"])
def test_a_missing_optional_library_makes_its_family_unavailable(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # the next import of it fails

    reason = FAMILIES[module].why_unavailable()

    assert reason is not None
    assert reason.startswith(f"{module} needs the {module} package, which could not be imported")
    assert "pip install 'loopml[boost]'" in reason
    assert module not in FAMILIES.available()
    assert FAMILIES.available(("linear", module, "lightgbm")) == ("linear", "lightgbm")
    assert FAMILIES.unavailable(("linear", module)) == {module: reason}
    with pytest.raises(TrainingError, match=rf"model family '{module}' needs the {module} package"):
        FAMILIES[module].make("binary", {}, 0, 1)


def test_core_families_are_always_available() -> None:
    core = [f for f in FAMILIES.names if f not in ("xgboost", "catboost", "realmlp", "tabm")]
    assert FAMILIES.available(core) == tuple(core)
    assert all(not FAMILIES[f].requires for f in core)


# Twenty epochs are enough to fit; the MLP still says it has not converged.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unwrap_reaches_the_library_model(
    frames: dict[str, tuple[pd.DataFrame, pd.Series]],
) -> None:
    X, y = frames["regression"]
    mlp = make_pipeline(ROLES, "mlp", "regression", {"max_iter": 20}, 0, 1).fit(X, y)
    assert type(unwrap(mlp)).__name__ == "MLPRegressor"
    X, y = frames["binary"]
    forest = make_pipeline(ROLES, "random_forest", "binary", {"n_estimators": 5}, 0, 1).fit(X, y)
    assert type(unwrap(forest)).__name__ == "RandomForestClassifier"


#: Checks the wrappers fail by design, with the reason.
BY_DESIGN = {
    "EarlyStoppingClassifier": {
        "check_sample_weight_equivalence_on_dense_data": (
            "LightGBM's min_child_samples counts rows, not weights, and repeating rows "
            "changes the held-out share"
        ),
    },
    "EarlyStoppingRegressor": {
        "check_sample_weight_equivalence_on_dense_data": (
            "LightGBM's min_child_samples counts rows, not weights, and repeating rows "
            "changes the held-out share"
        ),
    },
    "SmoothedClassifier": {
        "check_class_weight_classifiers": (
            "the check regularises the tree through min_weight_fraction_leaf, which only "
            "the wrapped tree has"
        ),
    },
}


@parametrize_with_checks(
    [
        EarlyStoppingClassifier(
            LGBMClassifier(n_estimators=20, min_child_samples=2, n_jobs=1, verbose=-1),
            random_state=0,
        ),
        EarlyStoppingRegressor(
            LGBMRegressor(n_estimators=20, min_child_samples=2, n_jobs=1, verbose=-1),
            random_state=0,
        ),
        SmoothedClassifier(DecisionTreeClassifier(random_state=0)),
    ],
    expected_failed_checks=lambda estimator: BY_DESIGN[type(estimator).__name__],
    xfail_strict=True,
)
def test_wrappers_are_scikit_learn_estimators(estimator: Any, check: Callable[[Any], None]) -> None:
    check(estimator)


# ---------------------------------------------------------------------------- the registry


def _build_dummy(task: TaskKind, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
    if task == "regression":
        return DummyRegressor(strategy="mean" if params["strategy"] == "prior" else "median")
    return DummyClassifier(strategy=params["strategy"], random_state=seed)


def _dummy_space(trial: optuna.Trial, task: TaskKind) -> dict[str, Any]:
    return {"strategy": trial.suggest_categorical("dummy.strategy", ["prior", "stratified"])}


def _dummy_task_params(task: TaskKind, params: dict[str, Any]) -> dict[str, Any]:
    return {"strategy": params["strategy"]}  # "note" is only a label


#: A family defined here, in one record: what adding a family to loopml takes.
DUMMY = ModelFamily(
    name="dummy",
    build=_build_dummy,
    defaults={"strategy": "prior", "note": "baseline"},
    space=_dummy_space,
    cost_prior=0.1,
    needs_scaling=True,
    portfolio_rank=15,  # between LightGBM (10) and the linear models (20)
    interpretable=True,
    task_params=_dummy_task_params,
)


def test_a_family_defined_in_one_record_joins_the_registry(
    frames: dict[str, tuple[pd.DataFrame, pd.Series]],
) -> None:
    families = default_registry().with_families(DUMMY)

    assert families.names[:3] == ("lightgbm", "dummy", "linear")
    assert families.portfolio(["mlp", "dummy", "lightgbm"]) == ("lightgbm", "dummy", "mlp")
    assert families.interpretable == ("dummy", "linear", "decision_tree")
    assert families.available(["dummy", "linear"]) == ("dummy", "linear")
    assert "dummy" not in families.unavailable()
    assert families.cost_prior("dummy") == 0.1
    assert families["dummy"].encoding == "onehot"
    weighted = {**DUMMY.defaults, "class_weight": "balanced"}
    assert families.relevant_params("dummy", "binary", weighted) == {
        "strategy": "prior",
        "class_weight": "balanced",
    }
    assert families.relevant_params("dummy", "regression", weighted) == {"strategy": "prior"}
    assert "dummy" not in default_registry()  # the built-in registry is unchanged

    X, y = frames["binary"]
    pipe = make_pipeline(ROLES, families["dummy"], "binary", None, seed=0, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(
        pipe.predict_proba(X)[0], y.value_counts(normalize=True).sort_index()
    )
    assert type(unwrap(pipe)) is DummyClassifier
    X, y = frames["regression"]
    pipe = make_pipeline(ROLES, DUMMY, "regression", {"strategy": "median"}, 0, 1).fit(X, y)
    np.testing.assert_allclose(pipe.predict(X), np.median(y))

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    assert DUMMY.space(trial, "binary")["strategy"] in ("prior", "stratified")
    assert list(trial.params) == ["dummy.strategy"]


def test_a_registry_iterates_in_portfolio_order_and_knows_its_names() -> None:
    families = FamilyRegistry([FAMILIES["mlp"], FAMILIES["linear"], FAMILIES["lightgbm"]])

    assert families.names == ("lightgbm", "linear", "mlp")
    assert [f.name for f in families] == ["lightgbm", "linear", "mlp"]
    assert len(families) == 3
    assert "linear" in families
    assert "knn" not in families
    assert 3 not in families
    assert families["mlp"] is FAMILIES["mlp"]
    assert families.portfolio() == families.names
    assert families.available(["mlp", "linear"]) == ("mlp", "linear")  # in the order given
    assert repr(families) == "FamilyRegistry(lightgbm, linear, mlp)"


def test_unknown_family_names_are_refused_with_the_known_ones() -> None:
    message = r"unknown model family 'svm'; known: lightgbm, linear, hist_gradient_boosting"
    with pytest.raises(KeyError, match=message):
        FAMILIES["svm"]
    with pytest.raises(ValueError, match=message):
        FAMILIES.portfolio(["linear", "svm"])
    with pytest.raises(KeyError, match=message):
        FAMILIES.available(["svm"])
    with pytest.raises(KeyError, match=message):
        FAMILIES.unavailable(["svm"])
    with pytest.raises(KeyError, match=message):
        FAMILIES.only(["svm"])
    with pytest.raises(KeyError, match=message):
        FAMILIES.relevant_params("svm", "binary", {})
    with pytest.raises(ValueError, match=r"model family 'linear' is given twice"):
        FamilyRegistry([FAMILIES["linear"], FAMILIES["linear"]])


def test_with_families_replaces_and_only_keeps_without_changing_the_original() -> None:
    last = dataclasses.replace(FAMILIES["linear"], portfolio_rank=1000)

    moved = FAMILIES.with_families(last)
    few = FAMILIES.only(["knn", "linear", "knn"])

    assert moved.names[-2:] == ("tabm", "linear")
    assert moved["linear"] is last
    assert len(moved) == len(FAMILIES)
    assert FAMILIES.names[1] == "linear"
    assert few.names == ("linear", "knn")
    assert few.interpretable == ("linear",)
    assert FAMILIES.only([]).names == ()


def test_cost_priors_scaling_and_ranks_of_the_built_in_families() -> None:
    table = {f.name: (f.cost_prior, f.needs_scaling) for f in FAMILIES}

    assert table == {
        "lightgbm": (1.0, False),
        "linear": (1.0, True),
        "hist_gradient_boosting": (1.0, False),
        "xgboost": (2.0, False),
        "extra_trees": (2.0, False),
        "random_forest": (3.0, False),
        "catboost": (8.0, False),
        "decision_tree": (0.3, False),
        "knn": (1.5, True),
        "mlp": (2.5, True),
        "realmlp": (70.0, True),  # measured: benchmarks/results/neural-cost.md
        "tabm": (70.0, True),
    }
    assert FAMILIES.cost_prior("svm") == 70.0  # an unknown family: the largest prior
    assert FamilyRegistry([]).cost_prior("svm") == 1.0
    onehot = [f.name for f in FAMILIES if f.encoding == "onehot"]
    assert onehot == ["linear", "knn", "mlp", "realmlp", "tabm"]
    assert [f.name for f in FAMILIES if f.native_categoricals] == ["catboost"]
    assert {f.name: f.load_seconds for f in FAMILIES if f.load_seconds} == {
        "realmlp": 15.0,  # importing torch and pytabkit, before the first fold
        "tabm": 15.0,
    }
    assert FAMILIES.load_seconds("lightgbm") == FAMILIES.load_seconds("svm") == 0.0
    assert all(f.unwrap is unwrap for f in FAMILIES)
    assert default_registry() is default_registry()


def test_a_family_whose_module_is_missing_is_unavailable_with_the_reason() -> None:
    needy = dataclasses.replace(
        DUMMY,
        name="needy",
        requires=("json", "loopml_no_such_module"),
        install_hint="pip install loopml-no-such-module",
    )
    families = default_registry().with_families(needy)

    reason = needy.why_unavailable()

    assert reason == (
        "needy needs the loopml_no_such_module package, which could not be imported "
        "(ModuleNotFoundError: No module named 'loopml_no_such_module'); install it with "
        "`pip install loopml-no-such-module`."
    )
    assert families.unavailable(["linear", "needy"]) == {"needy": reason}
    assert families.available(["needy", "linear"]) == ("linear",)
    assert "needy" in families.portfolio()  # known, only not trainable here
    assert DUMMY.why_unavailable() is None


def test_a_family_record_is_frozen_and_builds_on_its_defaults() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"cannot assign to field 'name'"):
        DUMMY.name = "other"  # type: ignore[misc]
    assert DUMMY.make("binary", {"strategy": "stratified"}, 3, 1).get_params()["strategy"] == (
        "stratified"
    )
    assert DUMMY.make("binary", None, 3, 1).get_params()["random_state"] == 3


def test_the_registry_pickles_for_worker_processes(
    frames: dict[str, tuple[pd.DataFrame, pd.Series]],
) -> None:
    copy = pickle.loads(pickle.dumps(FAMILIES))

    assert copy.names == FAMILIES.names
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = copy["extra_trees"].space(trial, "binary")
    assert list(trial.params) == ["et.n_estimators", "et.max_features", "et.min_samples_leaf"]
    X, y = frames["binary"]
    pipe = make_pipeline(ROLES, copy["extra_trees"], "binary", {**params, "n_estimators": 5}, 0, 1)
    assert pipe.fit(X, y).predict_proba(X).shape == (len(X), 2)
