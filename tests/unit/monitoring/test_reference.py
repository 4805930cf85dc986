"""Reference statistics (loopml.monitoring._reference): what training stores for monitoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from loopml.data import Problem, infer_schema
from loopml.errors import DataError
from loopml.monitoring import REFERENCE_FORMAT, Reference, build_reference
from loopml.monitoring._reference import MAX_HOLDOUT_ROWS, MAX_LABELS, QUANTILE_POINTS
from loopml.registry import ModelBundle

PROBLEM = Problem(
    task="binary", target="y", metric="accuracy", gate=None, classes=("no", "yes"),
    positive_class="yes",
)  # fmt: skip


def frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(1).astype(object),  # as logged: JSON values
            "plan": rng.choice(["basic", "pro", " Team "], n),
            "active": rng.choice(["yes", "no"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d"),
        }
    )
    out.loc[:9, "age"] = None
    out.loc[10:12, "age"] = "n/a?"
    out["y"] = rng.choice(["no", "yes"], n)
    return out


def reference_dict(n: int = 400) -> tuple[dict, pd.DataFrame]:
    data = frame(n)
    schema = infer_schema(data, "y")
    rng = np.random.default_rng(1)
    p = rng.uniform(size=n)
    proba = pd.DataFrame({"no": 1 - p, "yes": p})
    preds = np.where(p >= 0.5, "yes", "no")
    ref = build_reference(
        data.drop(columns="y"), schema, PROBLEM, holdout_y=data["y"],
        holdout_predictions=preds, holdout_probabilities=proba,
    )  # fmt: skip
    return ref, data


def test_the_reference_counts_each_column_by_its_role() -> None:
    d, data = reference_dict()
    ref = Reference.from_dict(json.loads(json.dumps(d)))
    age = ref.feature("age")
    assert (age.kind, age.rows, age.missing, age.invalid) == ("numeric", 400, 10, 3)
    assert len(age.quantiles) == QUANTILE_POINTS
    valid = pd.to_numeric(data["age"], errors="coerce").dropna()
    assert age.minimum == valid.min() and age.maximum == valid.max()
    assert age.mean == pytest.approx(valid.mean())
    plan = ref.feature("plan")
    assert plan.kind == "labels" and set(plan.labels) == {"basic", "pro", "team"}
    assert plan.counts.sum() == 400 and plan.other == 0
    signup = ref.feature("signup")
    assert (signup.kind, signup.rows, signup.missing) == ("none", 400, 0)
    assert [c.name for c in ref.features] == ["age", "plan", "active", "signup"]


def test_the_holdout_and_the_outputs_are_kept() -> None:
    d, data = reference_dict()
    ref = Reference.from_dict(json.loads(json.dumps(d)))
    assert ref.task == "binary" and ref.classes == ("no", "yes") and ref.positive_class == "yes"
    assert ref.holdout_rows == 400 and list(ref.holdout_labels) == list(data["y"])
    assert ref.holdout_probabilities is not None and ref.holdout_probabilities.shape == (400, 2)
    assert ref.prediction is not None and ref.prediction.kind == "labels"
    assert ref.positive_probability is not None and ref.positive_probability.kind == "numeric"


def test_a_large_holdout_is_sampled_with_the_seed() -> None:
    d, _ = reference_dict(MAX_HOLDOUT_ROWS + 600)
    again, _ = reference_dict(MAX_HOLDOUT_ROWS + 600)
    assert d["holdout"]["rows"] == MAX_HOLDOUT_ROWS + 600
    assert len(d["holdout"]["labels"]) == MAX_HOLDOUT_ROWS
    assert d["holdout"] == again["holdout"]


def test_many_categories_keep_the_most_common_and_one_other_count() -> None:
    n = MAX_LABELS + 500
    labels = [f"c{i}" for i in range(n)] * 3 + ["c0"] * 10
    data = pd.DataFrame({"c": labels, "y": 0.0})
    problem = Problem(task="regression", target="y", metric="rmse", gate=None)
    schema = infer_schema(data, "y")
    ref = Reference.from_dict(build_reference(data.drop(columns="y"), schema, problem))
    col = ref.feature("c")
    assert len(col.labels) == MAX_LABELS and col.labels[0] == "c0"
    assert col.counts.sum() + col.other == len(labels)


def test_the_reference_survives_a_bundle_save_and_load(tmp_path: Path) -> None:
    d, data = reference_dict()
    schema = infer_schema(data, "y")
    pipeline = Pipeline([("model", DummyClassifier())]).fit(data[["age"]].fillna(0), data["y"])
    bundle = ModelBundle(pipeline, schema, PROBLEM, reference={"monitoring": d})
    bundle.save(tmp_path / "m")
    loaded = ModelBundle.load(tmp_path / "m")
    ref = Reference.from_dict(loaded.reference["monitoring"])
    want = Reference.from_dict(d)
    assert ref.feature("age").quantiles.tolist() == want.feature("age").quantiles.tolist()
    assert ref.feature("plan").labels == want.feature("plan").labels
    assert ref.holdout_probabilities.tolist() == want.holdout_probabilities.tolist()


def test_a_reference_of_another_format_is_a_clear_error() -> None:
    d, _ = reference_dict(50)
    with pytest.raises(DataError, match=r"format 99, newer than this loopml reads \(format 1\)"):
        Reference.from_dict({**d, "format": REFERENCE_FORMAT + 98})
    with pytest.raises(DataError, match=r"has no format version.*Retrain it"):
        Reference.from_dict({"bins": {}})
