"""A registered loopml model served by `mlflow models serve`, queried over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from _served import free_port
from loopml import Project
from loopml.demo import generate_customers, write_demo_project


@pytest.mark.services
def test_mlflow_models_serve_answers_with_loopml_predictions(tmp_path: Path) -> None:
    config = write_demo_project(tmp_path / "p", rows=800, budget_seconds=3, cv_folds=2)
    project = Project(config)
    project.train()
    port = free_port()
    bin_dir = Path(sys.executable).parent  # mlflow starts uvicorn from PATH, as in an active venv
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": project.registry.uri,
        "MLFLOW_REGISTRY_URI": project.registry.uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    mlflow_bin = bin_dir / "mlflow"
    server = subprocess.Popen(
        [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            "models:/churn-demo/1",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        rows = generate_customers(5, seed=11, with_target=False).head(5)
        body = json.dumps({"dataframe_records": json.loads(rows.to_json(orient="records"))})
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body.encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        if answer is None:
            server.kill()
            output = server.stdout.read().decode(errors="replace") if server.stdout else ""
            pytest.fail(f"mlflow models serve did not answer:\n{output[-3000:]}")
        predictions = pd.DataFrame(answer["predictions"])
        # whatever model the budget found: the server answers what the registered bundle
        # predicts for the same records
        bundle, _ = project.registry.load(1)
        records = pd.DataFrame(json.loads(body)["dataframe_records"])
        expected = bundle.predict_frame(records).reset_index(drop=True)
        assert list(predictions.columns) == ["prediction", "proba_no", "proba_yes"]
        assert predictions["prediction"].tolist() == expected["prediction"].tolist()
        pd.testing.assert_frame_equal(
            predictions[["proba_no", "proba_yes"]], expected[["proba_no", "proba_yes"]]
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
