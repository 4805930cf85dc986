"""The partitioned profile (map-reduce over parts) agrees with the in-memory profile: exactly
when the sample is every row and distinct counts stay under the sketch size, within the
documented tolerance otherwise; in this process and on a real local Dask cluster."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import _needs as needs
from _profiles import differences
from loopml.data import infer_schema, profile, profile_partitions
from loopml.data._profile_merge import KMV_HASHES, DistinctSketch, Moments
from loopml.errors import DataError
from loopml.reports import render_profile_report

PLAN_SHARES = [0.45, 0.25, 0.2, 0.05, 0.05]  # all different: one order of the top labels


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "count": rng.poisson(3, n).astype(float),
            "amount": np.exp(rng.normal(0, 3, n)),  # log-spaced bins
            "plan": rng.choice(
                ["basic", "pro", "team", None, " "], n, p=[0.45, 0.25, 0.2, 0.05, 0.05]
            ),
            "when": pd.date_range("2024-01-01", periods=n, freq="37min").astype(str),
            "note": _labels(n, rng),
            "y": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        }
    )
    frame.loc[rng.random(n) < 0.1, "x"] = np.nan
    frame.loc[rng.random(n) < 0.02, "count"] = np.inf
    frame.loc[rng.random(n) < 0.05, "when"] = "not a date"
    return frame


def _labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Labels with all-different counts (1, 2, 3, ... rows; the rest to the first), so that
    the most frequent have one order."""
    counts = np.arange(1, int(np.sqrt(2 * n)))
    while counts.sum() > n:
        counts = counts[:-1]
    counts[0] += n - counts.sum()
    return rng.permutation(np.repeat([f"label {j}" for j in range(len(counts))], counts))


def _parts(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table(9_000)


def test_over_parts_the_profile_is_the_in_memory_one(table: pd.DataFrame) -> None:
    schema = infer_schema(table, "y")
    whole = profile(table, target="y", schema=schema).to_dict()
    parts = profile_partitions(_parts(table, 2_000), target="y", schema=schema).to_dict()
    # memory counts each part's index; everything else agrees
    assert differences(whole, parts) == ["/memory"]
    assert parts["sampled"] == {} and parts["estimated"] == {}


def test_parts_read_by_functions_are_read_for_each_pass(table: pd.DataFrame) -> None:
    reads: list[int] = []

    def reader(i: int) -> Any:
        def read() -> pd.DataFrame:
            reads.append(i)
            return table.iloc[i * 3_000 : (i + 1) * 3_000]

        return read

    result = profile_partitions([reader(i) for i in range(3)], target="y")
    assert result.n_rows == len(table)
    assert sorted(reads) == [0, 0, 0, 1, 1, 2, 2]  # roles from the first, then two passes


def test_a_sampled_profile_keeps_exact_counts_and_quantiles_within_tolerance() -> None:
    table = _table(40_000, seed=1)
    schema = infer_schema(table, "y")
    whole = profile(table, target="y", schema=schema)
    parts = profile_partitions(_parts(table, 7_000), target="y", schema=schema, sample_rows=5_000)
    assert 4_000 < parts.sample_size < 6_000
    assert set(parts.sampled) == {"quantiles", "correlations", "text words", "target"}
    for name in ("x", "count", "amount"):
        a, b = whole.column(name).numeric, parts.column(name).numeric
        assert a is not None and b is not None
        assert (a.minimum, a.maximum, a.zeros, a.infinite, a.histogram) == (
            b.minimum, b.maximum, b.zeros, b.infinite, b.histogram,
        )  # fmt: skip
        assert math.isclose(a.mean, b.mean, rel_tol=1e-9)
        assert math.isclose(a.std, b.std, rel_tol=1e-9)
        values = np.sort(table[name].replace([np.inf], np.nan).dropna().to_numpy())
        for level, q in zip((0.05, 0.25, 0.5, 0.75, 0.95), b.quantiles.values(), strict=True):
            below, upto = np.searchsorted(values, q, "left"), np.searchsorted(values, q, "right")
            assert below / len(values) - 0.03 < level < upto / len(values) + 0.03  # se < 0.008
    assert whole.column("plan").categories == parts.column("plan").categories
    assert whole.column("when").datetime == parts.column("when").datetime


def test_distinct_counts_are_exact_below_the_sketch_size_and_estimated_above() -> None:
    small = DistinctSketch.of(np.arange(KMV_HASHES - 1, dtype=float))
    assert small.exact and small.estimate() == KMV_HASHES - 1
    values = np.arange(200_000, dtype=float)
    merged = DistinctSketch.of(values[:120_000]).merge(DistinctSketch.of(values[80_000:]))
    assert not merged.exact
    assert abs(merged.estimate() / 200_000 - 1) < 0.04  # 5 standard errors of 0.8%


@pytest.mark.parametrize("cut", [1, 17, 500, 999])
def test_merged_moments_equal_the_moments_of_all_rows(cut: int) -> None:
    values = np.random.default_rng(cut).lognormal(0, 1, 1_000)
    merged = Moments.of(values[:cut]).merge(Moments.of(values[cut:]))
    whole = Moments.of(values)
    assert merged.n == whole.n
    for got, want in (
        (merged.mean, whole.mean),
        (merged.std, whole.std),
        (merged.skew, whole.skew),
    ):
        assert math.isclose(got, want, rel_tol=1e-9)


def test_many_distinct_values_are_estimated_and_said_so() -> None:
    frame = pd.DataFrame({"x": np.arange(60_000, dtype=float), "y": [1.0, 2.0] * 30_000})
    result = profile_partitions(_parts(frame, 15_000), target="y", task="regression")
    assert abs(result.column("x").distinct / 60_000 - 1) < 0.04
    assert "distinct values" in result.estimated
    html = render_profile_report(result, title="parts")
    assert "estimated past 16,384" in html


def test_a_part_without_a_column_is_named() -> None:
    frame = _table(300)
    parts = [frame.iloc[:100], frame.iloc[100:200].drop(columns=["note"]), frame.iloc[200:]]
    with pytest.raises(DataError, match=r"part 1 .*'note'"):
        profile_partitions(parts)


def test_no_part_and_an_unknown_target_are_user_errors() -> None:
    with pytest.raises(DataError, match="no part"):
        profile_partitions([])
    with pytest.raises(DataError, match="target column 'label'"):
        profile_partitions([_table(50)], target="label")


def test_a_dask_dataframe_is_profiled_on_the_cluster(table: pd.DataFrame) -> None:
    dd = needs.module("dask.dataframe")
    schema = infer_schema(table, "y")
    whole = profile(table, target="y", schema=schema).to_dict()
    with needs.dask_client(2):
        frame = dd.from_pandas(table, npartitions=4)
        parts = profile_partitions(frame, target="y", schema=schema).to_dict()
    # Dask holds text in its string dtype, where pandas had object
    found = differences(whole, parts)
    assert [d for d in found if not d.endswith("/dtype")] == ["/memory"]


def test_an_iterator_of_parts_is_kept_for_the_second_pass(table: pd.DataFrame) -> None:
    parts = _parts(table, 3_000)
    from_list = profile_partitions(parts, target="y").to_dict()
    from_iterator = profile_partitions(iter(parts), target="y").to_dict()
    assert differences(from_list, from_iterator) == []


def test_past_a_thousand_texts_per_part_the_most_frequent_are_kept_and_said_so() -> None:
    def part(i: int) -> pd.DataFrame:
        texts = [f"free comment number {i}-{j} about the order" for j in range(1_500)]
        texts[:300] = ["the parcel never arrived at all"] * 300  # the one frequent text
        return pd.DataFrame({"comment": texts, "y": [1.0, 2.0] * 750})

    schema = infer_schema(part(0), "y")
    result = profile_partitions([part(i) for i in range(3)], schema=schema)
    text = result.column("comment").text
    assert text is not None and text.top[0] == ("the parcel never arrived at all", 900)
    assert "most frequent texts" in result.estimated
