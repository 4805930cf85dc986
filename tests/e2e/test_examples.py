"""The projects in examples/ run as their README says (on a shorter training budget)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import adjusted_rand_score, average_precision_score
from typer.testing import CliRunner

from loopml.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_the_fairness_example_fails_its_fairness_clause_and_names_the_groups(
    tmp_path: Path,
) -> None:
    project = tmp_path / "fairness"
    shutil.copytree(
        EXAMPLES / "fairness", project, ignore=shutil.ignore_patterns(".loopml", "data")
    )
    made = subprocess.run(
        [sys.executable, "make_data.py"], cwd=project, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    config = project / "loopml.yaml"
    text = config.read_text(encoding="utf-8").replace("budget_seconds: 30", "budget_seconds: 10")
    config.write_text(text + "  models: [linear]\n  tune: false\n", encoding="utf-8")

    result = runner.invoke(app, ["train", "-c", str(config)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "selection_rate_ratio >= 0.8" in result.output and "✗ → FAILED" in result.output
    assert "as challenger" in result.output
    assert "Fairness: selection rate: smallest ratio" in result.output
    assert "region" in result.output


def _example(name: str, tmp_path: Path, budget: str) -> Path:
    """A copy of examples/<name> with its data made and a shorter training budget."""
    project = tmp_path / name
    shutil.copytree(EXAMPLES / name, project, ignore=shutil.ignore_patterns(".loopml", "data"))
    made = subprocess.run(
        [sys.executable, "make_data.py"], cwd=project, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    config = project / "loopml.yaml"
    text = config.read_text(encoding="utf-8").replace("budget_seconds: 30", budget)
    config.write_text(text, encoding="utf-8")
    return config


def _train_and_score(config: Path, data: str) -> tuple[dict[str, Any], pd.DataFrame]:
    trained = runner.invoke(app, ["train", "-c", str(config), "--json"])
    assert trained.exit_code == 0, trained.output
    scored = config.parent / "scored.csv"
    done = runner.invoke(app, ["score", str(config.parent / data), str(scored), "-c", str(config)])
    assert done.exit_code == 0, done.output
    return json.loads(trained.stdout), pd.read_csv(scored)


def test_the_clustering_example_finds_the_planted_segments(tmp_path: Path) -> None:
    config = _example("clustering", tmp_path, "budget_seconds: 15")
    result, scored = _train_and_score(config, "data/customers.csv")

    assert result["alias"] == "champion"
    gate = result["evaluation"]["gate"]
    assert (gate["gate"], gate["passed"]) == ("stability >= 0.8", True)
    assert result["evaluation"]["metrics"]["n_clusters"] == 4
    truth = pd.read_csv(config.parent / "data" / "segments.csv")
    both = scored.merge(truth, on="customer_id", validate="one_to_one")
    # every planted segment is one cluster, whatever numbers the clusters got
    assert adjusted_rand_score(both["segment"], both["prediction"]) > 0.95


def test_the_anomaly_example_ranks_the_planted_anomalies_first(tmp_path: Path) -> None:
    config = _example("anomaly", tmp_path, "budget_seconds: 15")
    result, scored = _train_and_score(config, "data/transactions.csv")

    assert result["alias"] == "champion"
    assert result["evaluation"]["gate"]["passed"] is True
    assert result["evaluation"]["metrics"]["pr_auc"] >= 0.8
    truth = pd.read_csv(config.parent / "data" / "transactions.csv")["label"] == "fraud"
    assert average_precision_score(truth, scored["anomaly_score"]) >= 0.8
    assert 0.01 <= scored["prediction"].mean() <= 0.04  # about the planted 2% flagged
