"""`loopml export onnx`: the registered model, checked on the project's holdout, written only
when it predicts like the pipeline; otherwise a non-zero exit and no file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import _needs as needs
from e2e._tiny import frame, write_tiny_project
from loopml.cli import app

runner = CliRunner()


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(autouse=True, scope="module")
def _onnx_installed() -> None:
    for name in ("onnx", "onnxruntime", "skl2onnx"):
        needs.module(name)


def _trained(directory: Path, models: str, near_ties: bool = False) -> str:
    config = write_tiny_project(directory, models=models)
    if near_ties:
        # x is 40 or 1e-6 above it, and the label follows it: a split between values that
        # float32 cannot tell apart (HistGradientBoosting is written with float32 thresholds)
        rows = frame(300, 0)
        rows["x"] = np.where(np.arange(300) % 2 == 0, 40.0, 40.000001)
        rows["label"] = np.where(rows["x"] > 40, "yes", "no")
        rows.to_csv(directory / "data" / "train.csv", index=False, float_format="%.9g")
        # a two-valued x that decides the label looks like leakage to the quality check
        with (directory / "loopml.yaml").open("a", encoding="utf-8") as yaml:
            yaml.write("quality: {fail_on: never}\n")
    done = _invoke("train", "-c", str(config))
    assert done.exit_code == 0, done.output
    return str(config)


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _trained(tmp_path_factory.mktemp("onnx") / "tiny", "linear")


def test_export_writes_the_champion_checked_on_the_holdout(linear: str, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    done = _invoke("export", "onnx", str(out), "-c", linear, "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["model_version"] == "1" and result["path"] == str(out)
    assert result["inputs"] == {"x": "numeric", "z": "numeric", "color": "categorical"}
    assert result["parity"]["ok"] and result["parity"]["rows"] == 60  # the 20% holdout
    assert out.stat().st_size == result["bytes"]
    onnx = needs.module("onnx")
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["loopml.model_version"] == "1" and meta["loopml.task"] == "binary"
    shown = _invoke("export", "onnx", str(tmp_path / "again.onnx"), "-c", linear, "--model", "1")
    assert shown.exit_code == 0, shown.output
    assert "Parity on 60 holdout rows" in shown.stdout and "labels identical" in shown.stdout


def test_an_unknown_version_exits_non_zero_and_writes_nothing(linear: str, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    done = _invoke("export", "onnx", str(out), "-c", linear, "--model", "7")
    assert done.exit_code != 0
    assert "7" in done.output and not out.exists()


def test_a_model_that_cannot_convert_names_the_step(tmp_path: Path) -> None:
    config = _trained(tmp_path / "knn", "knn")
    out = tmp_path / "model.onnx"
    done = _invoke("export", "onnx", str(out), "-c", config)
    assert done.exit_code == 1, done.output
    assert "step 'model (KNeighborsClassifier)'" in done.output
    assert "weighs neighbours by distance" in done.output
    assert not out.exists()


def test_a_parity_failure_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    config = _trained(tmp_path / "ties", "hist_gradient_boosting", near_ties=True)
    out = tmp_path / "model.onnx"
    # version 1, not the champion: a model this perfect is held back from promotion
    done = _invoke("export", "onnx", str(out), "-c", config, "--model", "1")
    assert done.exit_code == 1, done.output
    assert "ParityError" in done.output and "disagrees with the pipeline" in done.output
    assert f"Nothing was written to {out}" in " ".join(done.output.split())
    assert list(tmp_path.glob("*.onnx*")) == [] and list(tmp_path.glob(".model.onnx*")) == []
