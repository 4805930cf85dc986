"""`loopml score` shows a progress bar of the rows scored (cli.py, on serving._batch)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_export_docker import registered_project
from typer.testing import CliRunner

from loopml._cli_progress import rows_in
from loopml.cli import app


def plain(text: str) -> str:
    """``text`` without terminal control sequences (colours, cursor moves)."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def rows(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": rng.integers(18, 80, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d"),
        }
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = registered_project(tmp_path_factory.mktemp("score") / "project")
    text = (root / "loopml.yaml").read_text()
    (root / "loopml.yaml").write_text(text + "scoring: {chunk_rows: 40}\n")
    return root


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_bar_counts_rows_to_the_total(
    project: Path, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws live bars only on a terminal
    source = tmp_path / f"in{suffix}"
    frame = rows(130)
    frame.to_csv(source, index=False) if suffix == ".csv" else frame.to_parquet(source)
    args = ["score", str(source), str(tmp_path / "out.csv"), "-c", str(project / "loopml.yaml")]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "scoring" in plain(done.stderr)
    assert "130/130 rows" in plain(done.stderr)
    # the summary, printed after the bar is gone
    assert "Scored 130 rows in 4 chunk(s)" in plain(done.stdout)
    assert len(pd.read_csv(tmp_path / "out.csv")) == 130


def test_json_output_has_no_bar(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    source = tmp_path / "in.csv"
    rows(10).to_csv(source, index=False)
    args = ["score", str(source), str(tmp_path / "o.csv"), "-c", str(project / "loopml.yaml")]
    done = CliRunner().invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    assert "scoring" not in done.stderr


def test_row_totals(tmp_path: Path) -> None:
    frame = rows(25)
    frame.to_parquet(tmp_path / "a.parquet")
    assert rows_in(tmp_path / "a.parquet") == 25
    frame.to_csv(tmp_path / "a.csv", index=False)
    assert rows_in(tmp_path / "a.csv") == 25
    text = (tmp_path / "a.csv").read_bytes().rstrip(b"\n")
    (tmp_path / "b.csv").write_bytes(text)  # no newline after the last row
    assert rows_in(tmp_path / "b.csv") == 25
    assert rows_in(tmp_path / "missing.csv") is None
