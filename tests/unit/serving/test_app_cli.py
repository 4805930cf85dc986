"""`loopml serve` refuses to start, with a clear message, when it could not serve safely."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import _needs as needs
from loopml.cli import app
from loopml.config import parse_config
from loopml.serving.app import service_settings

CONFIG = """\
name: churn
problem: {target: churned}
data:
  source: {type: csv, path: customers.csv}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "customers.csv").write_text("age,churned\n30,yes\n", encoding="utf-8")
    path = tmp_path / "loopml.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_serve_without_a_registered_model_says_how_to_get_one(project: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "-c", str(project)])

    assert result.exit_code != 0
    assert "no model is registered yet" in result.output
    assert "loopml train" in result.output


def test_serve_on_all_interfaces_without_a_key_is_refused(project: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "-c", str(project), "--host", "0.0.0.0"])

    assert result.exit_code != 0
    assert "refusing to serve on 0.0.0.0 without an API key" in result.output
    assert "serving.api_key_env" in result.output


def test_an_unknown_runtime_flag_is_named(project: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "-c", str(project), "--runtime", "gpu"])

    assert result.exit_code != 0
    assert "--runtime must be auto, onnx, python or frame, not 'gpu'" in result.output


def test_flags_override_the_serving_section(tmp_path: Path) -> None:
    config = parse_config(
        CONFIG + "serving:\n  port: 9000\n  workers: 3\n  limits: {max_instances: 5}\n"
    )
    settings = service_settings(
        config,
        tracking_uri="sqlite:///x.db",
        workspace=tmp_path / ".loopml",
        overrides={"port": 8123, "workers": None, "model": "4"},
    )

    assert (settings.port, settings.workers, settings.model) == (8123, 3, "4")
    assert settings.max_instances == 5
    assert settings.prediction_log["url"] == "sqlite:///.loopml/predictions.db"
    assert settings.project_root == str(tmp_path)


def test_a_bad_serving_value_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"serving\.prediction_log\.mode"):
        parse_config(CONFIG + "serving:\n  prediction_log: {mode: later}\n")


def test_an_unreachable_prediction_log_stops_the_start(project: Path) -> None:
    needs.module("psycopg")
    log = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # nothing listens on port 9
    project.write_text(project.read_text() + f"serving:\n  prediction_log: {{url: '{log}'}}\n")

    result = CliRunner().invoke(app, ["serve", "-c", str(project)])

    assert result.exit_code != 0
    assert "cannot open the prediction log at postgresql+psycopg://" in result.output
