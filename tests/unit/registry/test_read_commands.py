"""The registry's read commands load only what they need and open the store once.

`loopml models list` and `models show` read the local SQLite store without MLflow and need no
modelling library; `loopml score` unpickles a scikit-learn pipeline straight from the artifact
store, without MLflow, the search (Optuna) or the reports (Plotly, Jinja2). Checked on which
modules a real `loopml` process imports, not on time.
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


#: MLflow and what only MLflow loads: its store (SQLAlchemy, Alembic) and server (FastAPI).
MLFLOW = {"mlflow", "sqlalchemy", "alembic", "fastapi"}

#: Prints the top-level packages in sys.modules as the process exits, after the command ran.
AT_EXIT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('MODULES', *sorted({m.split('.')[0] for m in sys.modules})))\n"
    "from loopml.cli import main\n"
    "sys.argv = ['loopml', *sys.argv[1:]]\n"
    "main()\n"
)


def loaded_at_exit(args: list[str], cwd: Path) -> tuple[set[str], str]:
    """Top-level packages in ``sys.modules`` when a real `loopml ARGS` process exits, and
    what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", AT_EXIT, *args], capture_output=True, text=True, cwd=cwd
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed, _, modules = done.stdout.rpartition("MODULES ")
    return set(modules.split()), printed


#: What scoring never needs: the search, the reports, the other model families.
SEARCH_AND_REPORTS = {"optuna", "plotly", "jinja2", "xgboost", "catboost"}


@pytest.mark.parametrize(
    "args",
    [["models", "list"], ["models", "list", "--json"], ["models", "show"], ["models", "show", "1"]],
)
def test_models_list_and_show_read_the_store_without_mlflow_or_modelling(
    project: Path, args: list[str]
) -> None:
    loaded, printed = loaded_at_exit([*args, "-c", str(project / "loopml.yaml")], project)
    assert loaded & (MLFLOW | SEARCH_AND_REPORTS | {"sklearn", "lightgbm"}) == set()
    assert "sqlite3" in loaded  # it did read the store
    assert "champion" in printed and "passed" in printed  # version 1, its alias and gate


def test_score_loads_the_model_without_mlflow_the_search_or_the_reports(
    project: Path, churn: pd.DataFrame, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    churn.to_csv(rows, index=False)
    out, config = tmp_path / "scored.csv", str(project / "loopml.yaml")
    loaded, _ = loaded_at_exit(["score", str(rows), str(out), "-c", config, "--json"], project)
    assert "sklearn" in loaded  # the pipeline was unpickled
    assert loaded & (MLFLOW | SEARCH_AND_REPORTS) == set()
    assert pd.read_csv(out)["customer_id"].tolist() == churn["customer_id"].tolist()


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
    assert opened == []  # the reads went to the SQLite file, not through MLflow
    p.registry.set_tags("1", {"note": "checked"})
    p.registry.set_tags("1", {"note": "checked again"})
    assert p.model("1").tags["note"] == "checked again"  # and they see what MLflow wrote
    assert len(opened) == 1
    assert p.registry is p.registry
