"""Reference and drift statistics as map-reduce over partitions agree with the in-memory ones
(within the documented tolerance), in this process and on a real local Dask cluster."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import _needs as needs
from loopml.data import Problem, infer_schema
from loopml.monitoring import (
    Reference,
    build_reference,
    feature_drift,
    partitioned_stats,
    reference_from_partitions,
    sketch_drift,
)
from loopml.monitoring._sketch import sketch_ks

PROBLEM = Problem(task="regression", target="y", metric="rmse", gate=None)


def _rows(n: int, seed: int, *, shift: float = 0.0, share: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40 + shift * 12, 12, n).round(),  # many ties
            "income": rng.lognormal(10, 0.8, n),
            "plan": rng.choice(["basic", "pro", "team"], n, p=[0.7 - share, share, 0.3]),
            "flag": rng.choice([True, False], n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "income"] = np.nan
    frame["y"] = rng.normal(size=n)
    return frame


def _parts(frame: pd.DataFrame, k: int) -> list[pd.DataFrame]:
    edges = np.linspace(0, len(frame), k + 1).astype(int)
    return [frame.iloc[a:b] for a, b in itertools.pairwise(edges)]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, object]:
    frame = _rows(40_000, 0)
    return frame, infer_schema(frame, "y")


def test_the_merged_reference_agrees_with_the_in_memory_one(data: tuple) -> None:
    frame, schema = data
    X = frame.drop(columns="y")
    whole = Reference.from_dict(build_reference(X, schema, PROBLEM))
    merged = Reference.from_dict(reference_from_partitions(_parts(X, 7), schema, PROBLEM))
    for a, b in zip(whole.features, merged.features, strict=True):
        assert (a.name, a.kind, a.rows, a.missing, a.invalid) == (
            b.name, b.kind, b.rows, b.missing, b.invalid,
        )  # fmt: skip
        assert a.labels == b.labels and np.array_equal(a.counts, b.counts)
        if a.kind == "numeric":
            assert (a.minimum, a.maximum) == (b.minimum, b.maximum)
            assert b.mean == pytest.approx(a.mean, rel=1e-9)
            assert b.std == pytest.approx(a.std, rel=1e-9)
            assert sketch_ks(a.quantiles, b.quantiles) < 0.002  # the documented tolerance


@pytest.mark.parametrize(
    ("window", "drifting"),
    [
        (dict(seed=1), []),
        (dict(seed=2, shift=0.1), ["age"]),
        (dict(seed=3, share=0.35), ["plan"]),
    ],
)
def test_drift_on_a_sketched_window_agrees_with_the_rows(
    data: tuple, window: dict, drifting: list[str]
) -> None:
    frame, schema = data
    X = frame.drop(columns="y")
    reference = Reference.from_dict(build_reference(X, schema, PROBLEM))
    rows = _rows(20_000, **window).drop(columns="y")
    columns = [(c.name, c.role) for c in schema.feature_columns]
    by_rows = feature_drift(reference, rows.astype(object), alpha=0.01, min_effect=0.005)
    sketched = sketch_drift(
        reference, partitioned_stats(_parts(rows, 5), columns), alpha=0.01, min_effect=0.005
    )
    assert [f.name for f in sketched if f.drifted] == drifting
    assert [f.name for f in by_rows if f.drifted] == drifting
    for a, b in zip(by_rows, sketched, strict=True):
        assert (a.name, a.test, a.rows) == (b.name, b.test, b.rows)
        assert b.statistic == pytest.approx(a.statistic, abs=0.003 if a.test == "ks" else 1e-6)
        assert b.effect == pytest.approx(a.effect, abs=0.002)


@pytest.mark.services
def test_the_partitions_of_a_dask_dataframe_are_summarised_on_the_cluster(data: tuple) -> None:
    dd = needs.module("dask.dataframe")
    frame, schema = data
    X = frame.drop(columns="y")
    columns = [(c.name, c.role) for c in schema.feature_columns]
    with needs.dask_client(2) as client:
        on_cluster = partitioned_stats(dd.from_pandas(X, npartitions=6), columns)
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    here = partitioned_stats(_parts(X, 6), columns)
    assert all(n > 0 for n in executed.values())
    for a, b in zip(here, on_cluster, strict=True):
        assert (a.name, a.rows, a.missing) == (b.name, b.rows, b.missing)
        assert np.array_equal(a.counts, b.counts)
        if a.kind == "numeric":
            assert sketch_ks(a.quantiles, b.quantiles) < 0.002
