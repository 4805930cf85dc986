"""`loopml retrain`: from a trained project and a prediction log with late labels to a
promotion decision, as --json and as the console shows it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

from loopml.cli import app
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

runner = CliRunner()
DAY = 86_400.0


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def _log_changed_traffic(root: Path, n: int, seed: int, start: float, end: float) -> None:
    """``n`` labelled predictions in ``[start, end)`` whose label now follows ``z``."""
    rows = frame(n, seed, with_target=False)
    labels = np.where(rows["z"] > 0, "yes", "no")
    times = np.linspace(start, end, n, endpoint=False)
    with PredictionLog(base_dir=root, mode="sync") as plog:
        ids = [f"{seed}-{i}" for i in range(n)]
        plog.record(
            [
                LoggedPrediction(
                    rid, float(at), "1", {c: r[c] for c in ("x", "z", "color")}, "no", None, 1.0
                )
                for rid, at, (_, r) in zip(ids, times, rows.iterrows(), strict=True)
            ]
        )
        assert (
            plog.feedback([Feedback(rid, lab, end) for rid, lab in zip(ids, labels, strict=True)])
            == []
        )


def test_retrain_json_promotes_on_a_metric_drop_then_keeps_the_champion(tmp_path: Path) -> None:
    config = write_tiny_project(tmp_path / "tiny")
    with config.open("a", encoding="utf-8") as f:
        f.write("retraining: {min_labelled_rows: 100, bootstrap: 300}\n")
    trained = _invoke("train", "-c", str(config))
    assert trained.exit_code == 0, trained.output
    now = time.time()
    _log_changed_traffic(config.parent, 500, 5, now - 20 * DAY, now - 8 * DAY)
    _log_changed_traffic(config.parent, 200, 6, now - 5 * DAY, now - 60)

    done = _invoke("retrain", "-c", str(config), "--json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["triggered"] and body["trigger"].startswith("roc_auc ")
    assert "retraining.on_metric_drop: 0.02" in body["trigger"]
    assert body["rows"] == {"sources": 300, "logged": 500, "holdout": 200}
    assert (body["champion_version"], body["challenger_version"]) == ("1", "2")
    assert body["test"] == "paired bootstrap" and body["n_resamples"] == 300
    assert body["difference"] > 0.2 and body["interval"][0] > 0 and body["p_value"] < 0.05
    assert body["promoted"] is True and body["promote_if"] == "significant"
    assert Path(body["report"]).is_file()
    listed = _invoke("models", "list", "-c", str(config), "--json")
    aliases = {v["version"]: v["aliases"] for v in json.loads(listed.stdout)}
    assert aliases == {"1": [], "2": ["champion"]}

    # forced again on the same data: a challenger as good as the champion stays challenger
    again = _invoke("retrain", "-c", str(config), "--force")
    assert again.exit_code == 0, again.output
    assert "Trigger: forced (--force)" in again.stdout
    assert "Trained version 3 on 300 source rows and 500 labelled logged rows." in again.stdout
    assert "champion (version 2)" in again.stdout and "challenger (version 3)" in again.stdout
    assert "Not promoted (stays challenger)" in again.stdout


def test_a_retraining_check_that_trains_nothing_is_recorded_for_the_dashboard(
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from loopml import Project
    from loopml.ui.app import create_ui_app

    config = write_tiny_project(tmp_path / "tiny")
    assert _invoke("train", "-c", str(config)).exit_code == 0
    first = _invoke("retrain", "-c", str(config), "--json")
    second = _invoke("retrain", "-c", str(config), "--json")

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    checks = (config.parent / ".loopml" / "reports" / "tiny-retrain-checks.jsonl").read_text()
    lines = [json.loads(line) for line in checks.splitlines()]
    assert len(lines) == 2 and not any(line["promoted"] for line in lines)
    assert lines[1]["reason"] == json.loads(second.stdout)["reason"]
    with TestClient(create_ui_app(Project(config))) as ui:
        last = ui.get("/api/overview").json()["last_decision"]
        page = ui.get("/").text
    assert last["decided_at"] == lines[1]["decided_at"]
    assert "Nothing trained" in page
