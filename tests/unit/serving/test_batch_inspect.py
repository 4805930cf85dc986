"""Batch scoring counts input problems on distinct values (serving._batch._inspect): the
same counts as ``Schema.inspect`` on every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.data import Schema, infer_schema
from loopml.registry import ModelBundle
from loopml.serving._batch_checks import _inspect, inspect_chunk


@pytest.fixture(scope="module")
def schema() -> Schema:
    rng = np.random.default_rng(0)
    n = 300
    train = pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 80, n).astype(float),
            "visits": rng.integers(0, 5, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "active": rng.choice(["yes", "no"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "y": rng.choice(["a", "b"], n),
        }
    )
    return infer_schema(train, "y", id_columns=["id"])


def rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 80, n).astype(float),
            "visits": rng.integers(0, 5, n),
            "plan": rng.choice(["basic", " Pro", "TEAM", ""], n),
            "active": rng.choice(["yes", "no", "Yes"], n),
            "signup": pd.date_range("2025-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"),
        }
    )


def test_clean_rows_have_no_problems(schema: Schema) -> None:
    chunk = rows(500, seed=1)
    assert schema.inspect(chunk) == {}
    assert _inspect(schema, chunk) == {}


def test_problems_are_counted_as_on_every_row(schema: Schema) -> None:
    chunk = rows(500, seed=2)
    chunk.loc[::7, "plan"] = "enterprise"  # unseen
    chunk.loc[::50, "plan"] = np.nan
    chunk.loc[::11, "age"] = 150.0  # out of range
    chunk["visits"] = chunk["visits"].astype(object)
    chunk.loc[::13, "visits"] = "many"  # not a number
    chunk.loc[::17, "active"] = "perhaps"  # not a boolean
    chunk.loc[::19, "signup"] = "someday"  # not a date
    expected = schema.inspect(chunk)
    assert set(expected) == {"plan", "age", "visits", "active", "signup"}
    assert _inspect(schema, chunk) == expected


def test_a_column_absent_from_the_chunk_is_skipped(schema: Schema) -> None:
    chunk = rows(50, seed=3).drop(columns=["plan"])
    chunk.loc[::5, "age"] = -1.0
    assert _inspect(schema, chunk) == schema.inspect(chunk) == {"age": {"out_of_range": 10}}


def test_values_that_cannot_be_told_apart_are_checked_row_by_row(schema: Schema) -> None:
    chunk = rows(20, seed=4)
    chunk["plan"] = [["basic"]] * 10 + [["pro"]] * 10  # lists: unhashable
    assert _inspect(schema, chunk) == schema.inspect(chunk)


# ---------------------------------------------------------------------------- typed columns


@pytest.fixture(scope="module")
def bundle(schema: Schema) -> ModelBundle:
    """A model over the schema's columns: its coercion step types the chunks."""
    from loopml.config import ProblemConfig
    from loopml.data import prepare_target, resolve_problem
    from loopml.modeling import make_pipeline

    train = rows(300, seed=9)
    train["y"] = np.where(train["age"] > 45, "a", "b")
    problem = resolve_problem(train, ProblemConfig(target="y"))
    X = train.drop(columns=["y"])
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1)
    pipeline.fit(X, prepare_target(train["y"], problem.task))
    return ModelBundle(pipeline=pipeline, schema=schema, problem=problem, id_columns=("id",))


def _typed(bundle: ModelBundle, chunk: pd.DataFrame) -> pd.DataFrame:
    from loopml.serving._compile import CompiledPredictor

    return CompiledPredictor(bundle).coerce(chunk)


def test_typed_columns_give_the_counts_of_every_row(bundle: ModelBundle, schema: Schema) -> None:
    chunk = rows(500, seed=2)
    chunk.loc[::7, "plan"] = "enterprise"
    chunk.loc[::11, "age"] = 150.0
    chunk.loc[::12, "age"] = np.nan  # missing is not invalid
    chunk["visits"] = chunk["visits"].astype(object)
    chunk.loc[::13, "visits"] = "many"
    chunk.loc[::14, "visits"] = "  "  # blank is missing, not invalid
    chunk.loc[::17, "active"] = "perhaps"
    chunk.loc[::19, "signup"] = "someday"
    chunk.loc[::23, "signup"] = None
    expected = schema.inspect(chunk)
    assert set(expected) == {"plan", "age", "visits", "active", "signup"}

    assert inspect_chunk(bundle, chunk, _typed(bundle, chunk)) == expected
    assert inspect_chunk(bundle, chunk) == expected
    clean = rows(200, seed=5)
    assert inspect_chunk(bundle, clean, _typed(bundle, clean)) == schema.inspect(clean) == {}
