"""`loopml forget` end to end: train, predict through the service, label, then erase one
entity from the prediction log by a plain and by a hashed column."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _tiny import write_tiny_project
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from loopml.cli import app
from loopml.data import privacy_replay
from loopml.project import Project
from loopml.serving._server import make_sink, model_source
from loopml.serving.app import create_app, service_settings

SALT = {"LOOPML_PII_SALT": "a-long-random-secret"}
runner = CliRunner()


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={**SALT, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project, its color column hashed by the privacy policy, trained once."""
    config = write_tiny_project(tmp_path_factory.mktemp("forget") / "tiny")
    text = config.read_text(encoding="utf-8")
    extra = "privacy: {columns: {color: hash}}\nserving: {prediction_log: {mode: sync}}\n"
    config.write_text(text + extra, encoding="utf-8")
    done = _invoke("train", "-c", str(config))
    assert done.exit_code == 0, done.output
    return config


def _predict_and_label(config: Path, instances: list[dict[str, Any]]) -> list[str]:
    """Predictions through the service (its log in sync mode), each labelled; their ids."""
    project = Project(config, env=SALT)
    settings = service_settings(
        project.config,
        tracking_uri=project.registry.uri,
        workspace=project.workspace,
        overrides={"model": "champion"},
    )
    with TestClient(create_app(settings, model_source(settings), sink=make_sink(settings))) as c:
        answer = c.post("/v1/predict", json={"instances": instances})
        assert answer.status_code == 200, answer.text
        ids = answer.json()["request_ids"]
        labels = [{"request_id": rid, "label": "yes"} for rid in ids]
        assert c.post("/v1/feedback", json=labels).status_code == 200
    return ids


def _logged(config: Path) -> list[tuple[str, dict[str, Any]]]:
    db = config.parent / ".loopml" / "predictions.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT request_id, features FROM loopml_predictions").fetchall()
    return sorted((r[0], json.loads(r[1])) for r in rows)


def _labels(config: Path) -> int:
    with sqlite3.connect(config.parent / ".loopml" / "predictions.db") as conn:
        return int(conn.execute("SELECT count(*) FROM loopml_feedback").fetchone()[0])


def test_forget_by_a_plain_and_by_a_hashed_column(served: Path) -> None:
    config = str(served)
    replay = privacy_replay({"color": "hash"}, "LOOPML_PII_SALT", SALT)
    assert replay is not None
    digest = replay(pd.DataFrame({"color": ["red"]}))["color"].iloc[0]
    ids = _predict_and_label(
        served,
        [
            {"x": 0.5, "z": 1.25, "color": digest},  # the client sends what the model reads
            {"x": 0.5, "z": -2.0, "color": "blue-digest"},
            {"x": -1.0, "z": 1.25, "color": "green-digest"},
        ],
    )
    assert len(_logged(served)) == 3 and _labels(served) == 3

    dry = _invoke("forget", "-c", config, "--column", "z", "--value", "1.25", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Would delete 2 prediction(s) and 2 label(s) with z" in dry.stdout
    assert "Dry run: nothing was deleted" in dry.stdout
    assert len(_logged(served)) == 3

    hashed = _invoke("forget", "-c", config, "--column", "color", "--value", "red", "--json")
    assert hashed.exit_code == 0, hashed.output
    report = json.loads(hashed.stdout)
    assert report["request_ids"] == [ids[0]]
    assert (report["predictions"], report["labels"], report["matched"]) == (1, 1, "hashed")
    assert [r for r, _ in _logged(served)] == sorted(ids[1:])

    plain = _invoke("forget", "-c", config, "--column", "z", "--value", "-2")
    assert plain.exit_code == 0, plain.output
    assert "Deleted 1 prediction(s) and 1 label(s) with z" in plain.stdout
    assert [r for r, _ in _logged(served)] == [ids[2]]
    assert _labels(served) == 1


def test_forget_by_the_id_column_the_service_logs(served: Path) -> None:
    config = str(served)
    before = len(_logged(served))
    ids = _predict_and_label(
        served,
        [
            {"row_id": 7, "x": 0.1, "z": 0.2, "color": "c-digest"},
            {"row_id": 8, "x": 0.3, "z": 0.4, "color": "c-digest"},
        ],
    )
    logged = dict(_logged(served))
    assert logged[ids[0]]["row_id"] == 7  # the model does not read it; the log keeps it
    by_id = _invoke("forget", "-c", config, "--column", "row_id", "--value", "7")
    assert by_id.exit_code == 0, by_id.output
    assert "Deleted 1 prediction(s) and 1 label(s) with row_id" in by_id.stdout
    left = dict(_logged(served))
    assert ids[0] not in left and ids[1] in left and len(left) == before + 1


def test_forget_explains_columns_the_log_does_not_hold(served: Path) -> None:
    config = str(served)

    unknown = _invoke("forget", "-c", config, "--column", "colour", "--value", "red")
    assert unknown.exit_code == 3
    assert "unknown column 'colour'" in unknown.output
    assert "Known columns: color, row_id, x, z" in unknown.output

    no_salt = runner.invoke(app, ["forget", "-c", config, "--column", "color", "--value", "x"])
    assert no_salt.exit_code == 2
    assert "set the environment variable LOOPML_PII_SALT" in no_salt.output
