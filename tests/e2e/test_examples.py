"""The projects in examples/ run as their README says (on a shorter training budget)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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
