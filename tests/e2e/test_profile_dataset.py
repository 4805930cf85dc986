"""`loopml profile --dataset`: the profile of a directory or glob of Parquet files computed
part by part, here and on a real local Dask cluster, equal to the in-memory profile of the
same rows; and its mistakes end in a clear error with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

import _needs as needs
from _profiles import differences
from loopml.cli import app
from loopml.config import load_config
from loopml.data import dataset_files, profile_data, profile_parquet

runner = CliRunner()


def _dataset(directory: Path, parts: int = 3, rows: int = 500) -> pd.DataFrame:
    directory.mkdir(parents=True)
    frames = []
    for i in range(parts):
        part = frame(rows, 10 + i)
        part.to_parquet(directory / f"day={i:02d}.parquet", index=False, row_group_size=200)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tiny_project(tmp_path / "project")


def test_a_dataset_is_profiled_part_by_part_like_all_its_rows(
    project: Path, tmp_path: Path
) -> None:
    rows = _dataset(tmp_path / "in")
    out = tmp_path / "profile.html"
    args = ["profile", "-c", str(project), "--dataset", str(tmp_path / "in"), "-o", str(out)]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"profile": str(out)}
    html = out.read_text(encoding="utf-8")
    assert "1,500" in html and "color" in html and "3 files" in html

    config = load_config(project)
    parts = profile_parquet(dataset_files(tmp_path / "in"), config).to_dict()
    whole = profile_data(rows, config).to_dict()
    assert differences(parts, whole) == ["/memory"]  # each part's index counts


def test_the_dask_engine_gives_the_same_profile(project: Path, tmp_path: Path) -> None:
    _dataset(tmp_path / "in")
    config = load_config(project)
    files = dataset_files(tmp_path / "in" / "day=*.parquet")
    here = profile_parquet(files, config).to_dict()
    with needs.dask_client(2):
        there = profile_parquet(files, config, engine="dask").to_dict()
    found = differences(there, here)  # Dask reads text as its string dtype
    assert [d for d in found if not d.endswith("/dtype")] == ["/memory"]


def test_dataset_mistakes_end_in_a_clear_error_and_write_nothing(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "profile.html"
    (tmp_path / "empty").mkdir()
    base = ["profile", "-c", str(project), "-o", str(out), "--dataset"]
    empty = runner.invoke(app, [*base, str(tmp_path / "empty")])
    assert empty.exit_code == 3
    assert "no Parquet file in directory" in empty.output

    _dataset(tmp_path / "in", parts=2, rows=50)
    frame(50, 3).drop(columns=["z"]).to_parquet(tmp_path / "in" / "day=02.parquet")
    lacking = runner.invoke(app, [*base, str(tmp_path / "in")])
    assert lacking.exit_code == 3
    assert "lacks the column(s) 'z'" in lacking.output
    assert not out.exists()
