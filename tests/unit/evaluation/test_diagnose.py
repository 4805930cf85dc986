"""Holdout diagnostics (loopml.evaluation.diagnose) and the learning curve."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from loopml.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, ProblemConfig
from loopml.data import Problem, infer_schema, prepare_target, resolve_problem
from loopml.evaluation import (
    CurveSettings,
    DiagnosisSettings,
    Diagnostics,
    Resampling,
    TrainAndHoldout,
    bootstrap_interval,
    bootstrap_scores,
    diagnose,
    evaluate,
    learning_curve,
)
from loopml.modeling import make_pipeline, predict_scores


class FakeClock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


Data = tuple[Pipeline, Problem, pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]


def _prepare(train: pd.DataFrame, hold: pd.DataFrame, target: str, family: str = "linear") -> Data:
    problem = resolve_problem(train, ProblemConfig(target=target))
    schema = infer_schema(train, target)
    X, y = train.drop(columns=[target]), prepare_target(train[target], problem.task)
    pipeline = make_pipeline(schema.roles(), family, problem.task, None, 0, 1).fit(X, y)
    X_hold, y_hold = hold.drop(columns=[target]), prepare_target(hold[target], problem.task)
    return pipeline, problem, X, y, X_hold.reset_index(drop=True), y_hold.reset_index(drop=True)


def _separable(n_per_class: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-3, -1, n_per_class), rng.uniform(1, 3, n_per_class)])
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.choice(["u", "v"], 2 * n_per_class),
            "churned": ["no"] * n_per_class + ["yes"] * n_per_class,
        }
    )


def _noisy_binary(n: int, seed: int, signal: float = 1.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = signal * a + 0.5 * signal * b + rng.normal(size=n) > 0
    return pd.DataFrame({"a": a, "b": b, "c": rng.normal(size=n), "y": np.where(y, "yes", "no")})


def _linear(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    return pd.DataFrame(
        {"x": x, "z": rng.normal(size=n), "price": 2.0 * x + 1.0 + rng.normal(scale=0.5, size=n)}
    )


def _blobs(n_per_class: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = {"apple": (0.0, 3.0), "banana": (3.0, 0.0), "cherry": (-3.0, -3.0)}
    rows = [
        (cx + rng.normal(scale=1.5), cy + rng.normal(scale=1.5), label)
        for label, (cx, cy) in centres.items()
        for _ in range(n_per_class)
    ]
    return pd.DataFrame(rows, columns=["a", "b", "fruit"])


def _diagnose(
    data: Data, cv_scores: list[float], budget_seconds: float = 30.0, clock: FakeClock | None = None
) -> Diagnostics:
    pipeline, problem, X, y, X_hold, y_hold = data
    settings = DiagnosisSettings(seed=7, n_bootstrap=200, budget_seconds=budget_seconds)
    return diagnose(
        pipeline, TrainAndHoldout(X, y, X_hold, y_hold), problem, cv_scores=cv_scores,
        settings=settings, clock=clock or FakeClock(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def separable() -> Data:
    return _prepare(_separable(30, seed=0), _separable(10, seed=1), "churned")


@pytest.fixture(scope="module")
def noisy() -> Data:
    return _prepare(_noisy_binary(300, seed=0), _noisy_binary(200, seed=1), "y")


@pytest.fixture(scope="module")
def noisy_diagnostics(noisy: Data) -> Diagnostics:
    return _diagnose(noisy, [0.80, 0.82, 0.81])


@pytest.fixture(scope="module")
def regression() -> Data:
    return _prepare(_linear(80, seed=0), _linear(40, seed=1), "price")


# ---------------------------------------------------------------------------- intervals


def test_every_metric_has_its_interval(noisy_diagnostics: Diagnostics, noisy: Data) -> None:
    pipeline, problem, _, _, X_hold, y_hold = noisy
    d = noisy_diagnostics

    assert list(d.intervals) == list(CLASSIFICATION_METRICS)
    assert d.metric == "roc_auc" and d.interval is d.intervals["roc_auc"]
    assert {k: v.value for k, v in d.intervals.items()} == evaluate(
        pipeline, X_hold, y_hold, problem
    ).metrics
    pred, proba = predict_scores(pipeline, X_hold, "binary", problem.classes)
    expected = bootstrap_interval(
        "roc_auc",
        "binary",
        y_hold,
        pred,
        proba,
        problem.classes,
        "yes",
        resampling=Resampling(200, seed=7),
    )
    assert d.interval == expected
    assert d.interval.low < d.interval.value < d.interval.high


def test_the_same_inputs_give_the_same_diagnostics(noisy: Data) -> None:
    first = _diagnose(noisy, [0.80, 0.82, 0.81]).to_dict()
    again = _diagnose(noisy, [0.80, 0.82, 0.81]).to_dict()

    assert first == again


def test_to_dict_is_strict_json(noisy_diagnostics: Diagnostics) -> None:
    data = noisy_diagnostics.to_dict()

    text = json.dumps(data, allow_nan=False)

    assert json.loads(text) == data
    assert set(data) >= {
        "intervals",
        "fit",
        "learning_curve",
        "calibration",
        "lift",
        "permutation",
        "explanations",
        "notes",
    }


# ---------------------------------------------------------------------------- probabilities


def test_binary_has_calibration_and_lift(noisy_diagnostics: Diagnostics, noisy: Data) -> None:
    pipeline, _, _, _, X_hold, y_hold = noisy
    d = noisy_diagnostics
    p_yes = pipeline.predict_proba(X_hold)[:, list(pipeline.classes_).index("yes")]

    assert d.calibration is not None and [c.label for c in d.calibration.curves] == ["yes"]
    assert d.calibration.brier == pytest.approx(np.mean((np.asarray(y_hold == "yes") - p_yes) ** 2))
    assert d.lift is not None and d.lift.positive_class == "yes"
    assert len(d.lift.rows) == 10 and sum(r.rows for r in d.lift.rows) == 200
    assert d.lift.rows[0].lift > 1 > d.lift.rows[-1].lift  # the model ranks the rows


def test_multiclass_has_a_curve_per_class_and_no_lift() -> None:
    data = _prepare(_blobs(30, seed=0), _blobs(15, seed=1), "fruit")

    d = _diagnose(data, [0.5, 0.55])

    assert d.calibration is not None
    assert [c.label for c in d.calibration.curves] == ["apple", "banana", "cherry"]
    assert d.lift is None
    assert d.explanations is not None
    pipeline, _, _, _, X_hold, _ = data
    predicted = pipeline.predict(X_hold)
    for row in d.explanations.rows:
        assert row.explained == row.prediction == predicted[row.row]


def test_regression_has_neither_calibration_nor_lift(regression: Data) -> None:
    d = _diagnose(regression, [0.5, 0.6])

    assert list(d.intervals) == list(REGRESSION_METRICS)
    assert d.calibration is None and d.lift is None


# ---------------------------------------------------------------------------- fit checks


def test_the_dummy_baseline_of_a_classifier(noisy_diagnostics: Diagnostics, noisy: Data) -> None:
    pipeline, problem, _, _, X_hold, y_hold = noisy
    fit = noisy_diagnostics.fit

    # the prior dummy gives every row the same probabilities: ROC AUC is exactly 0.5
    assert fit.dummy == 0.5
    assert fit.dummy_strategy == "always predicts the training class frequencies"
    assert fit.improvement.value == pytest.approx(fit.holdout - 0.5)
    assert fit.is_underfit is False
    # the interval of the improvement is paired: the same resamples for model and dummy
    pred, proba = predict_scores(pipeline, X_hold, "binary", problem.classes)
    model = bootstrap_scores(
        "roc_auc",
        "binary",
        y_hold,
        pred,
        proba,
        problem.classes,
        "yes",
        resampling=Resampling(200, seed=7),
    )
    low, high = np.nanpercentile(model - 0.5, [2.5, 97.5])
    assert (fit.improvement.low, fit.improvement.high) == (
        pytest.approx(low, rel=1e-12),
        pytest.approx(high, rel=1e-12),
    )


def test_the_dummy_baseline_of_a_regressor(regression: Data) -> None:
    _, _, _, y, _, y_hold = regression

    fit = _diagnose(regression, [0.5, 0.6]).fit

    expected = math.sqrt(np.mean((np.asarray(y_hold) - np.mean(y)) ** 2))
    assert fit.dummy == pytest.approx(expected, rel=1e-12)
    assert fit.dummy_strategy == "always predicts the training mean"
    assert fit.improvement.value == pytest.approx(expected - fit.holdout, rel=1e-12)  # rmse: lower
    assert fit.improvement.low > 0 and fit.is_underfit is False


def test_a_model_of_noise_is_not_clearly_better_than_the_dummy() -> None:
    data = _prepare(
        _noisy_binary(300, seed=2, signal=0.0), _noisy_binary(150, seed=3, signal=0.0), "y"
    )

    d = _diagnose(data, [0.5, 0.52])

    assert d.fit.is_underfit is True
    assert d.fit.improvement.low <= 0
    [note] = [n for n in d.notes if n.kind == "underfit"]
    assert note.severity == "warning"
    assert note.message.startswith(
        "The model is not clearly better than a dummy that always predicts the training class "
        "frequencies (roc_auc "
    )


def test_a_train_score_far_better_than_cv_is_over_fitting(regression: Data) -> None:
    d = _diagnose(regression, [2.0, 2.1])  # rmse: the train rmse is about 0.5

    assert d.fit.is_overfit is True
    assert d.fit.gap == pytest.approx(2.05 - d.fit.train)
    [note] = [n for n in d.notes if n.kind == "overfit"]
    assert note.severity == "warning"  # the gap is more than twice the threshold
    assert "on its own training rows but 2.05 in cross-validation" in note.message
    # cross-validation promised worse than the holdout gives: an "easier holdout" note
    assert [n.severity for n in d.notes if n.kind == "shift"] == ["info"]


def test_a_holdout_worse_than_cv_promised_is_a_shift(regression: Data) -> None:
    d = _diagnose(regression, [0.1, 0.12])  # CV rmse far better than the holdout's ~0.5

    assert d.fit.is_overfit is False
    [note] = [n for n in d.notes if n.kind == "shift"]
    assert note.severity == "warning"
    assert note.message.startswith("The holdout rmse (")
    assert "is worse than cross-validation promised (0.11 ± 0.01)" in note.message


# ---------------------------------------------------------------------------- leakage


def test_a_perfect_holdout_and_a_dominant_column_look_like_leakage(separable: Data) -> None:
    d = _diagnose(separable, [1.0, 1.0])

    leakage = [n for n in d.notes if n.kind == "leakage"]
    assert [n.severity for n in leakage] == ["warning", "warning"]
    assert leakage[0].message.startswith("Near-perfect holdout scores (accuracy 1, ")
    assert "on 20 rows" in leakage[0].message
    assert leakage[1].message.startswith(
        "One column, 'x', carries 100% of the permutation importance."
    )
    assert d.permutation is not None
    assert [f.feature for f in d.permutation.features] == ["x", "noise"]
    assert d.permutation.features[1].mean == 0.0


def test_holdout_rows_copied_from_training_are_reported(noisy: Data) -> None:
    pipeline, problem, X, y, X_hold, y_hold = noisy
    X_copy = pd.concat([X.iloc[:60], X_hold.iloc[60:]], ignore_index=True)
    y_copy = pd.concat([y.iloc[:60], y_hold.iloc[60:]], ignore_index=True)

    d = _diagnose((pipeline, problem, X, y, X_copy, y_copy), [0.8, 0.8])

    assert d.duplicate_share == 0.3
    [note] = [n for n in d.notes if n.message.startswith("30% of the holdout rows")]
    assert (note.kind, note.severity) == ("leakage", "warning")


def test_a_realistic_model_raises_no_warning(noisy_diagnostics: Diagnostics) -> None:
    assert noisy_diagnostics.warnings == ()


# ---------------------------------------------------------------------------- importance


def test_permutation_importance_ranks_the_signal(noisy_diagnostics: Diagnostics) -> None:
    perm = noisy_diagnostics.permutation

    assert perm is not None
    assert (perm.metric, perm.n_rows, perm.n_repeats) == ("roc_auc", 200, 5)
    assert [f.feature for f in perm.features][:2] == ["a", "b"]
    assert perm.features[0].mean > perm.features[1].mean > perm.features[2].mean


def test_contributions_explain_rows_across_the_range(noisy_diagnostics: Diagnostics) -> None:
    expl = noisy_diagnostics.explanations

    assert expl is not None
    assert expl.method == "linear: coefficient × (value − background mean)"
    assert (expl.output, expl.additive, expl.n_rows) == ("log-odds", True, 200)
    assert len(expl.rows) == 5
    scores = [r.score for r in expl.rows]
    assert scores == sorted(scores, reverse=True)  # highest first, down to the lowest
    for row in expl.rows:
        assert row.explained == "yes"
        assert row.score == pytest.approx(row.base + sum(row.contributions.values()))
        sizes = [abs(v) for v in row.contributions.values()]
        assert sizes == sorted(sizes, reverse=True)
    assert list(expl.mean_abs)[:2] == ["a", "b"]


# ---------------------------------------------------------------------------- learning curve


def test_the_learning_curve_refits_on_growing_shares(
    noisy: Data, noisy_diagnostics: Diagnostics
) -> None:
    curve = noisy_diagnostics.learning_curve

    assert [p.fraction for p in curve.points] == [0.1, 0.25, 0.5, 1.0]
    assert [p.rows for p in curve.points] == [30, 75, 150, 300]
    assert curve.skipped == ()
    full = curve.points[-1]
    assert full.seconds is None  # the fitted pipeline itself
    assert full.holdout == noisy_diagnostics.interval.value
    assert full.train == noisy_diagnostics.fit.train


def test_points_that_would_overrun_the_budget_are_skipped_and_said_so(noisy: Data) -> None:
    pipeline, problem, X, y, X_hold, y_hold = noisy

    # every reading of the clock moves it one second: each fit "takes" one second
    curve = learning_curve(
        pipeline, TrainAndHoldout(X, y, X_hold, y_hold), problem,
        settings=CurveSettings(fractions=(0.1, 0.25, 0.5, 1.0), seed=0, budget_seconds=5.0),
        clock=FakeClock(1.0),
    )  # fmt: skip

    assert [p.fraction for p in curve.points] == [0.1, 1.0]
    assert curve.points[0].seconds == 1.0
    assert curve.skipped == (
        (
            0.25,
            "a refit on 75 rows would take about 3.1 s, more than the 1.0 s left of the 5.0 s "
            "the learning curve was given",
        ),
        (0.5, "no time was left of the 5.0 s the learning curve was given"),
    )
    assert curve.absent is None  # two points make a curve


def test_the_first_refit_is_estimated_from_a_cross_validation_fit(noisy: Data) -> None:
    pipeline, problem, X, y, X_hold, y_hold = noisy

    # a fold of 200 rows took 1000 s: 30 rows would take 150 s (with the margin, 187.5 s)
    curve = learning_curve(
        pipeline, TrainAndHoldout(X, y, X_hold, y_hold), problem,
        settings=CurveSettings(fractions=(0.1, 1.0), budget_seconds=30.0, reference=(200, 1000.0)),
        clock=FakeClock(),
    )  # fmt: skip

    assert [p.fraction for p in curve.points] == [1.0]
    assert curve.absent == (
        "No learning curve: a refit on 30 rows would take about 187.5 s, more than the 30.0 s "
        "left of the 30.0 s the learning curve was given. A larger training.budget_seconds "
        "gives the diagnostics more time."
    )


def test_too_few_rows_for_a_point_are_skipped(noisy: Data) -> None:
    pipeline, problem, X, y, X_hold, y_hold = noisy

    curve = learning_curve(
        pipeline,
        TrainAndHoldout(X, y, X_hold, y_hold),
        problem,
        settings=CurveSettings(fractions=(0.05, 1.0)),
        clock=FakeClock(),
    )

    assert curve.skipped == ((0.05, "15 rows are too few to fit on"),)
    assert [p.fraction for p in curve.points] == [1.0]


def test_no_time_left_gives_one_sentence_not_a_one_point_curve(noisy: Data) -> None:
    """A user saw "0.0 s with -0.0 s of the 0.0 s budget left" and a curve of one point."""
    d = _diagnose(noisy, [0.8, 0.8], budget_seconds=0.0)

    assert [p.fraction for p in d.learning_curve.points] == [1.0]
    assert d.learning_curve.absent == (
        "No learning curve: no time was left of the 0.0 s the learning curve was given. "
        "A larger training.budget_seconds gives the diagnostics more time."
    )
    [note] = [n for n in d.notes if n.kind == "learning_curve"]
    assert (note.severity, note.message) == ("info", d.learning_curve.absent)
    assert " s with " not in json.dumps(d.to_dict())  # the old "0.0 s with -0.0 s ..."


def test_the_learning_curve_keeps_its_share_when_the_rest_overruns(noisy: Data) -> None:
    # every clock reading is one second: the parts before the curve take longer than 8 s
    d = _diagnose(noisy, [0.8, 0.8], budget_seconds=8.0, clock=FakeClock(1.0))

    assert d.learning_curve.budget_seconds == 2.0  # a quarter of the diagnosis budget
    assert [p.fraction for p in d.learning_curve.points] == [0.1, 1.0]
    assert d.learning_curve.absent is None


def test_too_few_training_rows_for_any_point_are_said_in_one_sentence(noisy: Data) -> None:
    pipeline, problem, X, y, X_hold, y_hold = noisy

    curve = learning_curve(
        pipeline,
        TrainAndHoldout(X.iloc[:36], y.iloc[:36], X_hold, y_hold),
        problem,
        clock=FakeClock(),
    )

    assert curve.absent == (
        "No learning curve: the 36 training rows are too few to refit on a share of them "
        "(a point needs at least 20 rows)."
    )


def _with_unused_columns(n: int, seed: int) -> pd.DataFrame:
    frame = _noisy_binary(n, seed)
    frame.insert(0, "row_id", np.arange(n) + 1000 * seed)
    frame["email"] = [f"user{i}@example.com" for i in range(n)]
    return frame


@pytest.mark.parametrize("ensemble", [False, True], ids=["pipeline", "ensemble"])
def test_columns_the_model_does_not_read_are_not_explained(ensemble: bool) -> None:
    """Ids and dropped columns were listed among the contributions with 0.0 each."""
    from loopml.modeling._ensemble import WeightedEnsemble

    train, hold = _with_unused_columns(200, 0), _with_unused_columns(100, 1)
    problem = resolve_problem(train, ProblemConfig(target="y"))
    schema = infer_schema(train, "y", id_columns=["row_id"], drop_columns=["email"])
    X, y = train.drop(columns=["y"]), prepare_target(train["y"], problem.task)
    members = [
        make_pipeline(schema.roles(), f, problem.task, None, 0, 1) for f in ("linear", "knn")
    ]
    model = WeightedEnsemble(members, [0.5, 0.5], "binary") if ensemble else members[0]
    model.fit(X, y)
    X_hold, y_hold = hold.drop(columns=["y"]), prepare_target(hold["y"], problem.task)

    d = diagnose(
        model, TrainAndHoldout(X, y, X_hold, y_hold), problem, cv_scores=[0.8, 0.8],
        settings=DiagnosisSettings(seed=0, n_bootstrap=50), clock=FakeClock(),
    )  # fmt: skip

    assert d.explanations is not None and d.permutation is not None
    assert set(d.explanations.mean_abs) == {"a", "b", "c"}
    assert all(set(r.contributions) == {"a", "b", "c"} for r in d.explanations.rows)
    assert {f.feature for f in d.permutation.features} == {"a", "b", "c"}
