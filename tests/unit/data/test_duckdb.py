"""loopml.data._duckdb: DuckDB SQL over local files, relative to the project directory."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from loopml.config import DataConfig, DuckDbSource, Incremental
from loopml.data import collect
from loopml.data._duckdb import load_duckdb
from loopml.errors import DataError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {"id": [1, 2], "amount": [10.0, 20.0], "day": ["2024-01-01", "2024-01-02"]}
    ).to_parquet(data / "part-1.parquet", index=False)
    pd.DataFrame({"id": [3], "amount": [30.0], "day": ["2024-01-03"]}).to_parquet(
        data / "part-2.parquet", index=False
    )
    (data / "plans.csv").write_text("id,plan\n1,basic\n2,pro\n3,pro\n", encoding="utf-8")
    return tmp_path


def duck(query: str, **params: object) -> DuckDbSource:
    return DuckDbSource(type="duckdb", query=query, params=params)


def test_query_over_a_parquet_glob_with_relative_paths(project: Path) -> None:
    source = duck("select id, amount from read_parquet('data/*.parquet') order by id")
    data = load_duckdb(source, project)
    assert data.frame.to_dict("list") == {"id": [1, 2, 3], "amount": [10.0, 20.0, 30.0]}
    assert data.origin == "duckdb:select id, amount from read_parquet('data/*.parquet') order by id"


def test_join_of_csv_and_parquet_with_params(project: Path) -> None:
    source = duck(
        """
        select p.id, p.amount, c.plan
        from 'data/*.parquet' p join read_csv('data/plans.csv') c using (id)
        where c.plan = $plan and p.amount >= $low
        order by p.id;
        """,
        plan="pro",
        low=20,
    )
    data = load_duckdb(source, project)
    assert data.frame.to_dict("list") == {
        "id": [2, 3],
        "amount": [20.0, 30.0],
        "plan": ["pro", "pro"],
    }


def test_missing_file(project: Path) -> None:
    source = duck("select * from read_csv('data/nope.csv')")
    expected = "the DuckDB query failed (data.source.query): IO Error: No files found"
    with pytest.raises(DataError, match=f"^{re.escape(expected)}") as info:
        load_duckdb(source, project)
    message = str(info.value)
    assert "query: select * from read_csv('data/nope.csv')\n" in message
    assert f"relative paths are read from {project}" in message


def test_syntax_error(project: Path) -> None:
    with pytest.raises(
        DataError, match=r"failed \(data\.source\.query\): Parser Error: syntax error"
    ):
        load_duckdb(duck("selec 1"), project)


def test_missing_parameter(project: Path) -> None:
    source = duck("select * from 'data/*.parquet' where id = $wanted", other=1)
    with pytest.raises(DataError, match=r"^the DuckDB query with params \['other'\] failed"):
        load_duckdb(source, project)


def test_no_rows_is_an_error_for_collect(project: Path) -> None:
    cfg = DataConfig(source=duck("select * from 'data/*.parquet' where id > 99"))
    with pytest.raises(
        DataError, match=r"^duckdb:select \* from .* returned no rows \(data\.source\)"
    ):
        collect(cfg, project)


def test_incremental_filter_is_pushed_into_the_query(project: Path) -> None:
    cfg = DataConfig(
        source=duck("select * from 'data/*.parquet' where amount > $low", low=0),
        incremental=Incremental(column="day"),
    )
    data = collect(cfg, project, since="2024-01-01")
    assert data.frame["id"].tolist() == [2, 3]
    assert data.watermark == "2024-01-03"

    later = collect(cfg, project, since=data.watermark)
    assert len(later.frame) == 0
    assert later.watermark == "2024-01-03"


def test_incremental_unknown_column(project: Path) -> None:
    cfg = DataConfig(
        source=duck("select id from 'data/*.parquet'"), incremental=Incremental(column="day")
    )
    with pytest.raises(DataError, match=r"filtered on data\.incremental\.column 'day'"):
        collect(cfg, project, since="2024-01-01")
