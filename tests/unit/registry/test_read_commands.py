"""The registry's read commands load only what they need and open the store once.

`loopml models list` reads versions from MLflow and needs no modelling library; `loopml score`
unpickles a scikit-learn pipeline but needs neither the search (Optuna) nor the reports
(Plotly, Jinja2). Checked on which modules a real `loopml` process imports, not on time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from loopml import Project
from loopml.registry import ModelBundle

CONFIG = """\
name: churn
problem: {target: churned}
data:
  source: {type: csv, path: customers.csv}
  id_columns: [customer_id]
"""


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, make_bundle: Callable[..., ModelBundle]
) -> Path:
    """A project with version 1 of a small linear model registered as champion."""
    root = tmp_path_factory.mktemp("project")
    (root / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    registry = Project(root).registry
    info = registry.register(
        make_bundle(),
        params={},
        metrics={"holdout_roc_auc": 0.9},
        artifacts={},
        tags={"loopml.gate_passed": "true"},
    )
    registry.set_alias(info.version, "champion")
    return root


def imported_by(args: list[str], cwd: Path) -> set[str]:
    """Top-level packages a real `loopml ARGS` process imports (from ``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loopml.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and not line.endswith("imported package")
    }


def test_models_list_loads_no_modelling_library(project: Path) -> None:
    loaded = imported_by(["models", "list", "-c", str(project / "loopml.yaml")], project)
    assert "mlflow" in loaded  # it did read the store
    heavy = {"sklearn", "lightgbm", "xgboost", "catboost", "optuna", "plotly", "jinja2"}
    assert loaded & heavy == set()


def test_score_loads_neither_the_search_nor_the_reports(
    project: Path, churn: pd.DataFrame, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    churn.to_csv(rows, index=False)
    out, config = tmp_path / "scored.csv", str(project / "loopml.yaml")
    loaded = imported_by(["score", str(rows), str(out), "-c", config], project)
    assert out.is_file()
    assert "sklearn" in loaded  # the pipeline was unpickled
    assert loaded & {"optuna", "plotly", "jinja2"} == set()


def test_a_project_opens_its_store_once(
    project: Path, churn: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = mlflow.MlflowClient

    def counting(*args: object, **kwargs: object) -> mlflow.MlflowClient:
        opened.append(str(kwargs.get("tracking_uri")))
        return real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "MlflowClient", counting)
    rows = tmp_path / "rows.csv"
    churn.to_csv(rows, index=False)
    p = Project(project)
    assert [v.version for v in p.models()] == ["1"]
    assert p.model("champion").version == "1"
    p.score(rows, tmp_path / "scored.csv")
    p.promote("1", alias="champion")
    assert len(opened) == 1
    assert p.registry is p.registry
