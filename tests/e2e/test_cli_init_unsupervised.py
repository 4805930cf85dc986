"""`loopml init --task clustering | anomaly`: drafts without a target that train as written,
and the flag mistakes refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loopml.cli import app
from loopml.config import load_config

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args), terminal_width=200)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """600 visitors in three well-separated groups, 12 of them planted far away and labelled
    ``bot`` in ``kind`` (the rest ``human``)."""
    rng = np.random.default_rng(4)
    n = 600
    group = np.arange(n) % 3
    pages = np.array([3.0, 12.0, 30.0])[group] * rng.normal(1, 0.05, n)
    minutes = np.array([2.0, 15.0, 6.0])[group] * rng.normal(1, 0.05, n)
    device = np.array(["phone", "desktop", "tablet"])[group]
    bots = np.arange(n) % 50 == 0
    pages[bots], minutes[bots] = 400 + rng.normal(0, 20, bots.sum()), 0.1
    path = tmp_path / "visits.csv"
    pd.DataFrame(
        {
            "visit_id": np.arange(1, n + 1),
            "pages": pages.round(1),
            "minutes": minutes.round(2),
            "device": device,
            "kind": np.where(bots, "bot", "human"),
        }
    ).to_csv(path, index=False)
    return path


def test_a_clustering_draft_trains_as_written(data: Path, tmp_path: Path) -> None:
    visits = pd.read_csv(data)
    visits.loc[visits["kind"] == "human"].drop(columns=["kind"]).to_csv(data, index=False)
    project = tmp_path / "groups"
    done = _invoke("init", str(data), "--task", "clustering", "--dir", str(project))
    assert done.exit_code == 0, done.output
    config = project / "loopml.yaml"
    assert load_config(config).problem.task == "clustering"
    text = config.read_text(encoding="utf-8").replace("budget_seconds: 60", "budget_seconds: 15")
    config.write_text(text, encoding="utf-8")

    trained = _invoke("train", "-c", str(config), "--json")
    assert trained.exit_code == 0, trained.output
    result = json.loads(trained.stdout)
    assert result["alias"] == "champion"
    assert result["evaluation"]["gate"]["gate"] == "stability >= 0.8"
    assert result["evaluation"]["metrics"]["n_clusters"] == 3


def test_an_anomaly_draft_names_the_label_column_and_its_anomaly_value(
    data: Path, tmp_path: Path
) -> None:
    done = _invoke("init", str(data), "--task", "anomaly", "-t", "kind", "--dir", str(tmp_path))
    assert done.exit_code == 0, done.output
    problem = load_config(tmp_path / "loopml.yaml").problem
    assert (problem.task, problem.target, problem.positive_class) == ("anomaly", "kind", "bot")
    assert (problem.gate.metric if problem.gate else None) == "pr_auc"


def test_an_anomaly_draft_needs_no_label_column(data: Path, tmp_path: Path) -> None:
    done = _invoke("init", str(data), "--task", "anomaly", "--dir", str(tmp_path))
    assert done.exit_code == 0, done.output
    config = load_config(tmp_path / "loopml.yaml")
    problem = config.problem
    assert (problem.task, problem.target, problem.metric) == ("anomaly", None, "anomaly_rate")
    # `kind` marks the bots: a detector must not see it, and the draft says how to use it
    assert config.data.drop_columns == ["kind"]
    assert "--task anomaly --target kind` uses it" in done.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "--target is required: name the column to predict"),
        (("--task", "regression"), "--target is required for task regression"),
        (("--task", "clustering", "--target", "kind"), "task clustering has no target"),
        (("--task", "segments"), "--task must be one of auto, binary"),
    ],
)
def test_init_refuses_a_target_that_does_not_fit_the_task(
    data: Path, tmp_path: Path, flags: tuple[str, ...], message: str
) -> None:
    done = _invoke("init", str(data), *flags, "--dir", str(tmp_path / "p"))
    assert done.exit_code == 2
    assert message in done.stderr
    assert not (tmp_path / "p" / "loopml.yaml").exists()
