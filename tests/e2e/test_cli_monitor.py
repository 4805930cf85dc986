"""``loopml monitor`` on a trained tiny project and a real prediction log: no drift exits 0,
a shifted feature exits with EXIT_DRIFT naming it, and the files it leaves are there."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

from loopml import Project
from loopml._cli_monitor import EXIT_DRIFT as CLI_EXIT_DRIFT
from loopml.cli import app
from loopml.errors import EXIT_CODES
from loopml.monitoring import EXIT_DRIFT
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

runner = CliRunner()
DAY = 86_400.0
START = 20_000 * DAY  # 2024-10-04, midnight UTC


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("monitored")
    config = write_tiny_project(directory, rows=2000)
    Project(config).train()
    return config


def _traffic(config: Path, days: list[float], *, labelled: bool = True) -> None:
    """One day of predictions per entry of ``days`` (a shift of ``x`` in standard
    deviations), each logged by the champion with its label a day later."""
    project = Project(config)
    bundle, info = project.registry.load("champion")
    with PredictionLog(base_dir=config.parent, mode="sync") as plog:
        for day, shift in enumerate(days):
            rows = frame(1500, 100 + day)
            rows["x"] = rows["x"] + shift
            labels = rows.pop("label")
            scored = bundle.predict_frame(rows)
            t0 = START + day * DAY
            entries = [
                LoggedPrediction(
                    f"d{day}-{i}",
                    t0 + i * 50.0,
                    info.version,
                    {k: (None if pd.isna(v) else v) for k, v in rec.items()},
                    scored["prediction"].iloc[i],
                    {c: float(scored[f"proba_{c}"].iloc[i]) for c in bundle.problem.classes},
                    0.3,
                )
                for i, rec in enumerate(rows.drop(columns=["row_id"]).to_dict("records"))
            ]
            plog.record(entries)
            if labelled:
                plog.feedback(
                    [Feedback(f"d{day}-{i}", lab, t0 + DAY) for i, lab in enumerate(labels)]
                )


def _monitor(config: Path, *args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["monitor", "-c", str(config), "--json", *args])
    assert result.exit_code in (0, EXIT_DRIFT), result.output
    return result.exit_code, json.loads(result.stdout)


def test_monitoring_before_anything_was_served_says_so(trained: Path) -> None:
    result = runner.invoke(app, ["monitor", "-c", str(trained)])
    assert result.exit_code == 3
    assert "nothing has been served yet" in result.output


def test_steady_traffic_raises_no_alarm_and_a_shift_names_its_feature(trained: Path) -> None:
    _traffic(trained, [0.0, 0.0, 1.0])

    code, report = _monitor(trained, "--since", "2024-10-04", "--until", "2024-10-07")

    assert code == EXIT_DRIFT
    windows = report["windows"]
    assert [w["rows"] for w in windows] == [1500, 1500, 1500]
    assert [w["drifted"] for w in windows] == [False, False, True]
    drifted = [f["name"] for f in windows[2]["features"] if f["drifted"]]
    assert drifted == ["x"]
    for feature in windows[0]["features"]:
        assert set(feature) >= {"name", "test", "statistic", "p_value", "adjusted_p_value",
                                "effect", "drifted"}  # fmt: skip
    assert windows[0]["performance"]["value"] > 0.8
    assert windows[0]["estimated_performance"]["value"] > 0.8
    assert Path(report["report_html"]).is_file()
    status = json.loads(Path(report["status_file"]).read_text())
    assert any(g["name"] == "loopml_monitoring_alarm" and g["value"] == 1.0
               for g in status["gauges"])  # fmt: skip

    code, calm = _monitor(trained, "--since", "2024-10-04", "--until", "2024-10-06")
    assert code == 0 and not calm["drifted"]


def test_a_bad_time_or_window_is_a_config_error(trained: Path) -> None:
    bad_time = runner.invoke(app, ["monitor", "-c", str(trained), "--since", "last week"])
    bad_window = runner.invoke(app, ["monitor", "-c", str(trained), "--window", "daily"])
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.output
    assert bad_window.exit_code == 2 and "90s, 30m, 6h, 1d or 2w" in bad_window.output


def test_the_drift_exit_code_is_its_own() -> None:
    assert CLI_EXIT_DRIFT == EXIT_DRIFT
    assert EXIT_DRIFT not in set(EXIT_CODES.values()) | {0, 1, 2, 130}


def test_the_console_shows_each_window_and_the_alarm(trained: Path) -> None:
    result = runner.invoke(
        app,
        ["monitor", "-c", str(trained), "--since", "2024-10-04", "--until", "2024-10-07"],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == EXIT_DRIFT, result.output
    assert "2024-10-06" in result.stdout and "x drifted" in result.stdout
    assert "Drift or decay found" in result.stdout and "monitoring.html" in result.stdout
