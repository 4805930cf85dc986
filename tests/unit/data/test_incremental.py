"""Incremental loading: only rows newer than the last run's watermark, for any source."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import DataConfig
from loopml.data import collect
from loopml.data._incremental import newer_mask, watermark
from loopml.errors import DataError

EVENTS = "id,at,n\n1,2024-01-01T10:00:00,5\n2,2024-01-02T10:00:00,\n3,2024-01-03T10:00:00,7\n"


def config(source: dict[str, object], column: str | None = "at", **extra: object) -> DataConfig:
    fields: dict[str, object] = {"source": source, **extra}
    if column is not None:
        fields["incremental"] = {"column": column}
    return DataConfig.model_validate(fields)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    frame = pd.read_csv(tmp_path / "events.csv", parse_dates=["at"])
    frame.to_parquet(tmp_path / "events.parquet", index=False)
    return tmp_path


CSV = {"type": "csv", "path": "events.csv"}
PARQUET = {"type": "parquet", "path": "events.parquet"}


def test_first_run_loads_everything_and_sets_the_watermark(project: Path) -> None:
    data = collect(config(CSV), project)
    assert data.n_rows == 3
    assert data.watermark == "2024-01-03T10:00:00"
    assert data.origin == "csv:events.csv"


def test_next_run_loads_only_newer_rows(project: Path) -> None:
    first = collect(config(CSV), project)
    (project / "events.csv").write_text(EVENTS + "4,2024-01-04T00:00:00,1\n", encoding="utf-8")

    second = collect(config(CSV), project, since=first.watermark)

    assert second.frame["id"].tolist() == [4]
    assert second.frame.index.tolist() == [0]
    assert second.watermark == "2024-01-04T00:00:00"
    assert second.origin == "csv:events.csv where at > 2024-01-03T10:00:00"
    assert second.fingerprint != first.fingerprint


def test_nothing_new_keeps_the_watermark(project: Path) -> None:
    data = collect(config(CSV), project, since="2024-01-03T10:00:00")
    assert data.n_rows == 0
    assert data.watermark == "2024-01-03T10:00:00"


def test_datetime_column_with_a_timestamp_or_its_text(project: Path) -> None:
    first = collect(config(PARQUET), project)
    assert first.watermark == pd.Timestamp("2024-01-03T10:00:00")
    assert isinstance(first.watermark, pd.Timestamp)

    by_timestamp = collect(config(PARQUET), project, since=pd.Timestamp("2024-01-01T12:00"))
    by_text = collect(config(PARQUET), project, since="2024-01-01T12:00:00")
    by_datetime = collect(config(PARQUET), project, since=dt.datetime(2024, 1, 1, 12))
    for data in (by_timestamp, by_text, by_datetime):
        assert data.frame["id"].tolist() == [2, 3]


def test_text_column_with_a_timestamp_watermark_compares_as_times(project: Path) -> None:
    data = collect(config(CSV), project, since=pd.Timestamp("2024-01-02T09:00"))
    assert data.frame["id"].tolist() == [2, 3]


def test_numeric_column_and_numpy_watermarks(project: Path) -> None:
    data = collect(config(CSV, column="id"), project, since=np.int64(1))
    assert data.frame["id"].tolist() == [2, 3]
    assert data.watermark == 3
    assert type(data.watermark) is int


def test_missing_values_are_never_newer(project: Path) -> None:
    data = collect(config(CSV, column="n"), project, since=0)
    assert data.frame["id"].tolist() == [1, 3]
    assert data.watermark == 7.0


def test_timezone_aware_column_and_naive_watermark() -> None:
    values = pd.Series(pd.to_datetime(["2024-01-01T00:00Z", "2024-01-02T00:00Z"]), name="at")
    assert newer_mask(values, "2024-01-01T12:00").tolist() == [False, True]
    naive = values.dt.tz_localize(None)
    since = pd.Timestamp("2024-01-01T12:00", tz="Europe/Oslo")
    assert newer_mask(naive, since).tolist() == [False, True]


def test_watermark_of_nothing_is_none() -> None:
    assert watermark(pd.Series([np.nan, None], dtype=float)) is None
    assert watermark(pd.Series([], dtype="datetime64[ns]")) is None


def test_without_incremental_config_the_watermark_is_none(project: Path) -> None:
    data = collect(config(CSV, column=None), project, since="2024-01-02")
    assert data.n_rows == 3
    assert data.watermark is None


def test_unknown_column(project: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"^data\.incremental\.column 'updated' is not a column of csv:events\.csv "
        r"\(columns: id, at, n\)\. Fix data\.incremental\.column\.$",
    ):
        collect(config(CSV, column="updated"), project, since="2024-01-01")


def test_incomparable_watermark(project: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"^data\.incremental\.column 'id' of csv:events\.csv \(int64\) cannot be compared "
        r"with the last watermark 'yesterday'",
    ):
        collect(config(CSV, column="id"), project, since="yesterday")


def test_column_from_a_joined_source_filters_after_the_join(project: Path) -> None:
    (project / "customers.csv").write_text("id,name\n1,a\n2,b\n3,c\n", encoding="utf-8")
    cfg = config(
        {"type": "csv", "path": "customers.csv"},
        joins=[{"source": CSV, "on": ["id"]}],
    )
    data = collect(cfg, project, since="2024-01-02T00:00:00")
    assert data.frame["name"].tolist() == ["b", "c"]
    assert data.watermark == "2024-01-03T10:00:00"
