"""Small trained bundles for the registry tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, reference_statistics, resolve_problem
from loopml.modeling import make_pipeline
from loopml.registry import ModelBundle


def churn_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Customers with an id, a number with gaps, a category, date strings and the target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": rng.integers(18, 80, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    frame["churned"] = np.where((frame["age"] < 40) | (frame["plan"] == "basic"), "yes", "no")
    frame["spend"] = 2.0 * frame["age"] + 10.0 * (frame["plan"] == "team")
    frame.loc[[2, 5], "age"] = np.nan
    return frame


def build_bundle(target: str = "churned", family: str = "linear") -> ModelBundle:
    """Train a pipeline the way Project.train assembles a bundle, on tiny data."""
    frame = churn_frame()
    other = "spend" if target == "churned" else "churned"
    frame = frame.drop(columns=[other])
    problem = resolve_problem(frame, ProblemConfig(target=target))
    schema = infer_schema(frame, target, id_columns=["customer_id"])
    X = frame.drop(columns=[target])
    y = prepare_target(frame[target], problem.task)
    pipeline = make_pipeline(schema.roles(), family, problem.task, None, 0, 1).fit(X, y)
    return ModelBundle(
        pipeline=pipeline,
        schema=schema,
        problem=problem,
        metrics={"roc_auc": 0.91} if problem.is_classification else {"rmse": 1.5},
        config={"name": "churn", "training": {"seed": 0}},
        reference=reference_statistics(X, schema),
        data_fingerprint="f" * 64,
        id_columns=("customer_id",),
        info={"family": family, "cv_score": np.float64(0.9), "params": {"C": 1.0}},
    )


@pytest.fixture(scope="session")
def make_bundle() -> Callable[..., ModelBundle]:
    return build_bundle


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    """Feature rows to score (no target)."""
    return churn_frame(n=20, seed=1).drop(columns=["churned", "spend"])
