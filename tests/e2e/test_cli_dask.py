"""``execution: {engine: dask}`` and ``--dask``: the search on a real local Dask cluster of two
worker processes, and each way the engine can be misconfigured."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from _tiny import write_tiny_project
from typer.testing import CliRunner

import _needs as needs
from loopml.cli import app

runner = CliRunner()


@pytest.mark.services
def test_training_on_a_local_dask_cluster_registers_a_champion(tmp_path: Path) -> None:
    needs.module("distributed")
    config = write_tiny_project(tmp_path, models="linear, lightgbm")
    with config.open("a", encoding="utf-8") as f:
        f.write("execution: {engine: dask, workers: 2}\n")
    result = runner.invoke(app, ["train", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["alias"] == "champion"
    board = body["leaderboard"]
    assert board["workers"] == 2  # the cluster's two task slots; locally n_jobs: 1 gives one
    assert {t["status"] for t in board["trials"]} == {"ok"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.services
def test_an_unreachable_scheduler_says_what_to_check(tmp_path: Path) -> None:
    needs.module("distributed")
    config = write_tiny_project(tmp_path)
    with config.open("a", encoding="utf-8") as f:
        f.write("execution: {engine: dask, connect_timeout_seconds: 2}\n")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    result = runner.invoke(app, ["train", "-c", str(config), "--dask", address])
    assert result.exit_code == 2, result.output
    assert f"cannot reach the Dask scheduler at {address}" in result.output
    assert "dask scheduler" in result.output
    assert not (tmp_path / ".loopml" / "reports").exists()  # nothing trained or registered


def test_a_bad_address_and_a_missing_extra_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_tiny_project(tmp_path)
    bad = runner.invoke(app, ["train", "-c", str(config), "--dask", "localhost:8786"])
    assert bad.exit_code == 2
    assert "--dask 'localhost:8786'" in bad.output and "tcp://host:8786" in bad.output

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if loopml[dask] were absent
    missing = runner.invoke(app, ["train", "-c", str(config), "--dask", "local"])
    assert missing.exit_code == 2, missing.output
    assert "pip install 'loopml[dask]'" in missing.output
