"""`loopml train --tensorboard DIR` with a network end to end: RealMLP trains, its search is
written for TensorBoard, the registered bundle (a pickled network) batch-scores, and ONNX
export refuses it, naming the step. Skipped
without torch and pytabkit, except in CI (CI=true)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _tiny import write_tiny_project
from typer.testing import CliRunner

import _needs as needs
from loopml.cli import app

runner = CliRunner()


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture(scope="module", autouse=True)
def _neural_extra() -> None:
    needs.module("torch")
    needs.module("pytabkit")
    needs.module("tensorboard")


def test_train_writes_the_search_for_tensorboard_and_the_network_scores(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = write_tiny_project(tmp_path / "tiny", rows=150, models="realmlp")
    logs = tmp_path / "runs" / "first"

    trained = _invoke("train", "-c", str(config), "--tensorboard", str(logs))
    assert trained.exit_code == 0, trained.output
    assert f"TensorBoard log: {logs}" in trained.output
    scored = _invoke(
        "score",
        str(config.parent / "data" / "new.csv"),
        str(tmp_path / "scored.csv"),
        "-c",
        str(config),
    )
    assert scored.exit_code == 0, scored.output
    exported = _invoke("export", "onnx", str(tmp_path / "m.onnx"), "-c", str(config))
    assert exported.exit_code != 0  # no ONNX converter for the networks: said, nothing written
    assert "step 'model (NeuralClassifier)' has no ONNX converter" in exported.output
    assert "--runtime python" in exported.output and not (tmp_path / "m.onnx").exists()

    (events_file,) = logs.glob("events.out.tfevents.*")
    tags = set(EventAccumulator(str(events_file)).Reload().Tags()["scalars"])
    assert {"trials/realmlp", "trials/best"} <= tags
    assert {f"curves/realmlp/trial_0/fold_{k}" for k in range(3)} <= tags  # cv_folds: 3
    predictions = pd.read_csv(tmp_path / "scored.csv")
    assert len(predictions) == 60
    assert predictions.filter(like="prob").sum(axis=1).round(6).eq(1.0).all()


def test_train_without_tensorboard_installed_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_tiny_project(tmp_path / "tiny", models="linear")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)

    done = _invoke("train", "-c", str(config), "--tensorboard", str(tmp_path / "tb"))

    assert done.exit_code != 0
    assert "--tensorboard needs torch and tensorboard" in done.output
    assert "pip install 'loopml[neural]'" in done.output
    assert not (config.parent / ".loopml" / "mlflow.db").exists()  # nothing trained
