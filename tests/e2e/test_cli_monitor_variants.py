"""``loopml monitor`` on a prediction log holding an online comparison: the champion's
predictions and a worse challenger's in shadow, one label per request; ``--json`` carries
the comparison, the console and the HTML report show it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

from loopml import Project
from loopml.cli import app
from loopml.monitoring import EXIT_DRIFT
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

runner = CliRunner()
DAY = 86_400.0
START = 20_100 * DAY  # 2025-01-12, midnight UTC


def _entries(rows: pd.DataFrame, scored: pd.DataFrame, ids: list[str], version: str,
             variant: str, classes: tuple[object, ...]) -> list[LoggedPrediction]:  # fmt: skip
    return [
        LoggedPrediction(
            rid,
            START + i * 60.0,
            version,
            {k: (None if pd.isna(v) else v) for k, v in rec.items()},
            scored["prediction"].iloc[i],
            {str(c): float(scored[f"proba_{c}"].iloc[i]) for c in classes},
            0.3,
            variant,
        )
        for i, (rid, rec) in enumerate(zip(ids, rows.to_dict("records"), strict=True))
    ]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained project whose log holds 1200 requests answered by the champion and
    predicted in shadow by a worse challenger (it reads ``x`` with noise), all labelled."""
    config = write_tiny_project(tmp_path_factory.mktemp("compared"), rows=2000)
    project = Project(config)
    project.train()
    bundle, info = project.registry.load("champion")
    classes = bundle.problem.classes
    rows = frame(1200, 500)
    labels = rows.pop("label")
    rows = rows.drop(columns=["row_id"])
    ids = [f"q{i}" for i in range(len(rows))]
    champion = bundle.predict_frame(rows)
    noise = np.random.default_rng(7).normal(size=len(rows))
    challenger = bundle.predict_frame(rows.assign(x=rows["x"] + noise))
    with PredictionLog(base_dir=config.parent, mode="sync") as plog:
        plog.record(_entries(rows, champion, ids, info.version, "champion", classes))
        shadow = [f"{rid}#shadow" for rid in ids]
        plog.record(_entries(rows, challenger, shadow, "99", "shadow", classes))
        plog.feedback(
            [Feedback(rid, lab, START + DAY) for rid, lab in zip(ids, labels, strict=True)]
        )
    return config


def test_monitor_json_compares_champion_and_challenger(compared: Path) -> None:
    args = [
        "monitor",
        "-c",
        str(compared),
        "--json",
        "--since",
        "2025-01-12",
        "--until",
        "2025-01-13",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, EXIT_DRIFT), result.output
    report = json.loads(result.stdout)
    found = report["variant_comparison"]
    assert found["mode"] == "shadow" and found["challenger_version"] == "99"
    assert found["champion"]["rows"] == found["challenger"]["rows"] == 1200
    assert found["champion"]["value"] > found["challenger"]["value"]
    assert found["significant"] and not found["favours_challenger"]
    assert found["high"] < 0 and found["p_value"] < found["alpha"]
    assert "significantly worse" in found["summary"]
    # the champion's windows read the champion's rows only
    assert sum(w["rows"] for w in report["windows"]) == 1200
    html = Path(report["report_html"]).read_text(encoding="utf-8")
    assert "Champion and challenger" in html and "significantly worse" in html


def test_the_console_prints_the_comparison(compared: Path) -> None:
    args = ["monitor", "-c", str(compared), "--since", "2025-01-12", "--until", "2025-01-13"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code in (0, EXIT_DRIFT), result.output
    assert "Champion vs challenger (shadow, paired)" in result.stdout
    assert "significantly worse" in result.stdout
