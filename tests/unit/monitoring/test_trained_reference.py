"""The statistics on a trained model's own reference, the way training stores it in the bundle
(build_reference over the training rows, the holdout's labels, predictions, probabilities)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, reference_statistics, resolve_problem
from loopml.modeling import make_pipeline
from loopml.monitoring import (
    Reference,
    build_reference,
    data_quality,
    estimated_performance,
    feature_drift,
    prediction_drift,
    realised_performance,
)
from loopml.registry import ModelBundle


def customers(n: int, seed: int, *, older: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": rng.normal(45 + older, 12, n).round(),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
            "signup": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d"),
        }
    )
    logit = 2.0 - 0.06 * frame["age"] + 1.2 * (frame["plan"] == "basic")
    frame["churned"] = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return frame


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> ModelBundle:
    """A bundle trained as Project.train does, with the monitoring reference, saved and
    loaded back."""
    train, holdout = customers(3000, 0), customers(2000, 1)
    problem = resolve_problem(train, ProblemConfig(target="churned"))
    schema = infer_schema(train, "churned", id_columns=["customer_id"])
    X, y = train.drop(columns="churned"), prepare_target(train["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    model = ModelBundle(pipeline, schema, problem, reference=reference_statistics(X, schema))
    scored = model.predict_frame(holdout.drop(columns="churned"))
    model.reference["monitoring"] = build_reference(
        X,
        schema,
        problem,
        holdout_y=prepare_target(holdout["churned"], problem.task),
        holdout_predictions=scored["prediction"],
        holdout_probabilities=scored.drop(columns="prediction"),
    )
    directory = tmp_path_factory.mktemp("bundle") / "m"
    model.save(directory)
    return ModelBundle.load(directory)


def traffic(bundle: ModelBundle, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window as the log holds it (JSON values) and the model's outputs on it."""
    X = frame.drop(columns="churned")
    scored = bundle.predict_frame(X)
    proba = scored.drop(columns="prediction").rename(columns=lambda c: c.removeprefix("proba_"))
    return X.astype(object).where(X.notna(), None), scored.assign(**proba)


def test_the_loaded_reference_has_the_features_and_the_holdout(bundle: ModelBundle) -> None:
    ref = Reference.from_dict(bundle.reference["monitoring"])
    assert [(c.name, c.kind) for c in ref.features] == [
        ("age", "numeric"),
        ("plan", "labels"),
        ("signup", "none"),
    ]
    assert ref.classes == ("no", "yes") and ref.positive_class == "yes"
    assert ref.holdout_rows == 2000 and ref.holdout_probabilities is not None
    # the coarse per-column summaries of reference_statistics stay next to it, as they were
    assert set(bundle.reference) == {"age", "plan", "signup", "monitoring"}


def test_same_traffic_raises_nothing(bundle: ModelBundle) -> None:
    ref = Reference.from_dict(bundle.reference["monitoring"])
    window, scored = traffic(bundle, customers(2000, 2))
    assert not any(f.drifted for f in feature_drift(ref, window, alpha=0.01, min_effect=0.005))
    assert not any(q.drifted for q in data_quality(ref, window))
    drift = prediction_drift(ref, scored["prediction"], scored[["no", "yes"]], alpha=0.01,
                             min_effect=0.005)  # fmt: skip
    assert drift is not None and not drift.drifted


def test_older_customers_drift_and_cbpe_follows_the_realised_accuracy(
    bundle: ModelBundle,
) -> None:
    ref = Reference.from_dict(bundle.reference["monitoring"])
    frame = customers(3000, 3, older=8.0)
    window, scored = traffic(bundle, frame)
    found = feature_drift(ref, window, alpha=0.01, min_effect=0.005)
    assert [f.name for f in found if f.drifted] == ["age"]
    drift = prediction_drift(ref, scored["prediction"], scored[["no", "yes"]], alpha=0.01,
                             min_effect=0.005)  # fmt: skip
    assert drift is not None and drift.drifted
    est = estimated_performance(ref, scored[["no", "yes"]], "accuracy")
    real = realised_performance(bundle.problem, frame["churned"], scored["prediction"],
                                scored[["no", "yes"]], "accuracy")  # fmt: skip
    assert est is not None and est.value is not None and real.value is not None
    assert est.value == pytest.approx(real.value, abs=0.03)


def test_the_bundle_round_trip_keeps_the_reference_exact(
    bundle: ModelBundle, tmp_path: Path
) -> None:
    bundle.save(tmp_path / "again")
    again = ModelBundle.load(tmp_path / "again")
    assert again.reference["monitoring"] == bundle.reference["monitoring"]
