"""``loopml watch`` on a trained tiny project: ``--once`` before anything was served, and on
a day of drifted labelled traffic (monitoring finds it, the retraining answers it, exit 10
like ``loopml monitor``); and the loop as a real process that a second watch cannot join
and that SIGTERM stops cleanly."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

import _needs as needs
import loopml
from loopml import Project
from loopml._cli_watch import EXIT_DRIFT as CLI_EXIT_DRIFT
from loopml.cli import app
from loopml.monitoring import EXIT_DRIFT
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

runner = CliRunner()
DAY = 86_400.0
# drift triggers the retraining, nothing else: what a cycle decides does not depend on scores
POLICY = "retraining: {on_metric_drop: null, min_labelled_rows: 100, bootstrap: 200}\n"


def _trained(directory: Path, rows: int) -> Path:
    config = write_tiny_project(directory, rows=rows)
    with config.open("a", encoding="utf-8") as f:
        f.write(POLICY)
    Project(config).train()
    return config


def _watch_once(config: Path) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["watch", "-c", str(config), "--once", "--json"])
    assert result.exit_code in (0, EXIT_DRIFT), result.output
    return result.exit_code, json.loads(result.stdout)


def _log_yesterday(config: Path, shift: float) -> None:
    """A day of the champion's predictions in the latest complete day (UTC), ``x`` shifted
    by ``shift`` standard deviations, each with its label."""
    project = Project(config)
    bundle, info = project.registry.load("champion")
    rows = frame(1500, 7)
    rows["x"] = rows["x"] + shift
    labels = rows.pop("label")
    scored = bundle.predict_frame(rows)
    start = math.floor(time.time() / DAY) * DAY - DAY
    with PredictionLog(base_dir=config.parent, mode="sync") as plog:
        plog.record(
            [
                LoggedPrediction(
                    f"r{i}",
                    start + i * 50.0,
                    info.version,
                    {k: (None if pd.isna(v) else v) for k, v in rec.items()},
                    scored["prediction"].iloc[i],
                    {c: float(scored[f"proba_{c}"].iloc[i]) for c in bundle.problem.classes},
                    0.3,
                )
                for i, rec in enumerate(rows.drop(columns=["row_id"]).to_dict("records"))
            ]
        )
        plog.feedback([Feedback(f"r{i}", lab, start + DAY) for i, lab in enumerate(labels)])


def test_the_cli_exit_code_for_drift_is_monitorings() -> None:
    assert CLI_EXIT_DRIFT == EXIT_DRIFT


def test_once_on_drifted_traffic_monitors_retrains_and_exits_like_monitor(
    tmp_path: Path,
) -> None:
    config = _trained(tmp_path / "tiny", rows=2000)
    _log_yesterday(config, shift=1.0)

    code, cycle = _watch_once(config)

    assert code == EXIT_DRIFT
    monitoring, retraining = cycle["monitoring"], cycle["retraining"]
    assert monitoring["status"] == "drift" and monitoring["model_version"] == "1"
    assert monitoring["windows"] == 1 and monitoring["alarms"] >= 1
    assert retraining["status"] in ("promoted", "not promoted"), retraining
    decision = retraining["decision"]
    assert decision["trigger"] == "the latest monitoring window alarmed (drift or decay)"
    assert decision["challenger_version"] == "2" and decision["rows"]["holdout"] == 1500
    assert cycle["failed"] is False
    workspace = config.parent / ".loopml"
    [line] = (workspace / "watch" / "cycles.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == cycle
    assert (workspace / "reports" / "tiny-v1-monitoring.html").is_file()

    # the day is done: the next cycle monitors nothing new, and the alarm was answered
    code, again = _watch_once(config)
    assert code == 0
    assert again["monitoring"]["status"] == "no new window"
    assert again["retraining"]["status"] == "not triggered"
    assert "no drift alarm" in again["retraining"]["note"]


def test_once_survives_a_failed_retraining_alerts_it_and_leaves_the_champion(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _trained(tmp_path / "tiny", rows=2000)
    _log_yesterday(config, shift=1.0)
    (config.parent / "data" / "train.csv").unlink()  # the retraining cannot collect its data
    hook = needs.Webhook()
    try:
        with config.open("a", encoding="utf-8") as f:
            f.write(f"monitoring: {{webhook: '{hook.url}'}}\n")
        result = runner.invoke(app, ["watch", "-c", str(config), "--once", "--json"])
    finally:
        hook.close()

    assert result.exit_code == 1, result.output
    cycle = json.loads(result.stdout)
    assert cycle["failed"] is True and cycle["monitoring"]["status"] == "drift"
    assert cycle["retraining"]["status"] == "failed"
    assert cycle["retraining"]["note"].startswith("DataError: ")
    drift_alert, failure = hook.bodies  # monitoring's own alert, then the failure
    assert drift_alert["source"] == "loopml monitor" and "x drifted" in drift_alert["text"]
    assert failure["kind"] == "retraining_failed" and failure["project"] == "tiny"
    assert failure["error"]["type"] == "DataError" and "train.csv" in failure["error"]["message"]
    assert "retraining failed; the champion was not moved" in caplog.text  # with the traceback
    assert "Traceback" in caplog.text
    # nothing was registered and the champion did not move
    listed = runner.invoke(app, ["models", "list", "-c", str(config), "--json"])
    assert {v["version"]: v["aliases"] for v in json.loads(listed.stdout)} == {"1": ["champion"]}


def _spawn_watch(config: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    src = str(Path(loopml.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "200"
    return subprocess.Popen(
        [sys.executable, "-c", "from loopml.cli import main; main()", "watch", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_a_watch_process_before_anything_was_served_refuses_a_second_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    config = _trained(tmp_path / "tiny", rows=300)

    code, cycle = _watch_once(config)  # nothing served yet: not a failure
    assert code == 0 and cycle["failed"] is False
    assert cycle["monitoring"]["status"] == "nothing to monitor"
    assert cycle["monitoring"]["note"] == "nothing has been served yet: there is no prediction log"
    assert cycle["retraining"]["status"] == "not triggered"

    log = config.parent / ".loopml" / "watch" / "cycles.jsonl"
    process = _spawn_watch(config)
    try:
        deadline = time.monotonic() + 300  # a generous bound, not a measurement
        while len(log.read_text(encoding="utf-8").splitlines()) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the watch process wrote no cycle"
            time.sleep(0.2)
        second = runner.invoke(app, ["watch", "-c", str(config), "--once"])
        assert second.exit_code == 1
        said = " ".join(second.output.split())
        assert f"loopml watch is already running in this project: process {process.pid}" in said
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    # it went on from where --once got to: that day was done
    assert "watch cycle 1: monitoring no new window (the next window ends at" in out
    assert "Stopped after 1 cycle(s)" in err
