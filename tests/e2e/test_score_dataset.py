"""Scoring a Parquet dataset (a directory or a glob) into a directory of Parquet parts, on this
machine and on a real local Dask cluster, including a worker killed in the middle."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

import _needs as needs
from loopml import Project
from loopml.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = write_tiny_project(tmp_path_factory.mktemp("dataset"))
    Project(config).train()
    return config


def _dataset(directory: Path, parts: int, rows: int) -> pd.DataFrame:
    """``parts`` Parquet files of ``rows`` rows (ids unique across them); all rows."""
    directory.mkdir(parents=True)
    frames = []
    for i in range(parts):
        part = frame(rows, 100 + i, with_target=False)
        part["row_id"] = part["row_id"] + 1_000_000 * i
        part.to_parquet(directory / f"day={i:02d}.parquet", index=False)
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _read(output: Path) -> pd.DataFrame:
    parts = sorted(output.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def _expected(config: Path, rows: pd.DataFrame) -> pd.DataFrame:
    bundle, _ = Project(config).registry.load("champion")
    scored = bundle.predict_frame(rows.drop(columns=["note"]))
    return pd.concat([rows[["row_id"]], scored], axis=1)


def test_a_directory_is_scored_into_parts_like_the_whole_file(
    trained: Path, tmp_path: Path
) -> None:
    rows = _dataset(tmp_path / "in", parts=3, rows=400)
    out = tmp_path / "scored"
    result = runner.invoke(
        app, ["score", str(tmp_path / "in"), str(out), "-c", str(trained), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["rows"] == 1200 and body["chunks"] == 3
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:05d}.parquet" for i in range(3)]
    got = _read(out)
    pd.testing.assert_frame_equal(got, _expected(trained, rows), check_dtype=False)
    assert sum(body["prediction_counts"].values()) == 1200

    # a glob, and the earlier output replaced whole
    again = runner.invoke(
        app, ["score", str(tmp_path / "in" / "day=0[01].parquet"), str(out), "-c", str(trained)]
    )
    assert again.exit_code == 0, again.output
    assert len(_read(out)) == 800 and len(list(out.iterdir())) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_dataset_mistakes_leave_nothing(trained: Path, tmp_path: Path) -> None:
    _dataset(tmp_path / "in", parts=2, rows=50)
    cli = ["-c", str(trained)]
    empty = runner.invoke(
        app, ["score", str(tmp_path / "none-*.parquet"), str(tmp_path / "o"), *cli]
    )
    assert empty.exit_code == 3 and "no Parquet file in pattern" in empty.output
    to_file = runner.invoke(app, ["score", str(tmp_path / "in"), str(tmp_path / "o.csv"), *cli])
    assert to_file.exit_code == 3 and "give an output directory" in to_file.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    in_the_way = runner.invoke(app, ["score", str(tmp_path / "in"), str(mine), *cli])
    assert in_the_way.exit_code == 3 and "notes.txt is in the way" in in_the_way.output
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    broken = tmp_path / "in" / "day=09.parquet"
    frame(10, 9, with_target=False).drop(columns="x").to_parquet(broken, index=False)
    missing = runner.invoke(app, ["score", str(tmp_path / "in"), str(tmp_path / "o"), *cli])
    assert missing.exit_code == 4 and "day=09.parquet" in missing.output  # SchemaError
    assert "x" in missing.output
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.services
def test_the_dask_engine_writes_the_same_rows(trained: Path, tmp_path: Path) -> None:
    needs.module("dask.dataframe")
    rows = _dataset(tmp_path / "in", parts=4, rows=300)
    out = tmp_path / "scored"
    cli = ["score", str(tmp_path / "in"), str(out), "-c", str(trained), "--dask", "local", "--json"]
    result = runner.invoke(app, cli)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 1200
    got = _read(out).sort_values("row_id", ignore_index=True)
    want = _expected(trained, rows).sort_values("row_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


@pytest.mark.services
def test_a_worker_killed_mid_scoring_loses_and_duplicates_no_row(
    trained: Path, tmp_path: Path
) -> None:
    from loopml.scale import score_dataset_dask

    rows = _dataset(tmp_path / "in", parts=60, rows=2000)
    bundle, info = Project(trained).registry.load("champion")
    out = tmp_path / "scored"
    killed: list[int] = []
    with needs.dask_client(2) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]

        def kill_once_parts_appear() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                staged = list(tmp_path.glob(".scored.*.part/part-*.parquet"))
                if staged:
                    killed.append(len(staged))
                    os.kill(victim, signal.SIGKILL)
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_once_parts_appear)
        killer.start()
        summary = score_dataset_dask(
            client,
            bundle,
            tmp_path / "in",
            out,
            model_version=info.version,
            transform=lambda f: f.drop(columns=["note"]),
        )
        killer.join()

    assert killed and killed[0] < 60  # the worker died with parts left to score
    assert summary.rows == 120_000
    got = _read(out).sort_values("row_id", ignore_index=True)
    assert got["row_id"].is_unique and len(got) == 120_000
    want = _expected(trained, rows).sort_values("row_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
