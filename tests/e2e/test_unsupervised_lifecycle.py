"""Clustering and anomaly projects through the whole lifecycle as a user runs it: train,
score a file, serve over HTTP (a real ``loopml serve`` on a port), and monitor logged
traffic whose cluster shares or anomaly rate moved (issue 14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _served import free_port, wait_ready
from loopml import Project
from loopml.cli import app
from loopml.monitoring import EXIT_DRIFT
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

runner = CliRunner()
DAY = 86_400.0
START = 20_000 * DAY  # 2024-10-04, midnight UTC
CENTRES = {"a": (0.0, 0.0), "b": (8.0, 0.0), "c": (0.0, 8.0)}
CONFIG = """\
name: {name}
problem:
{problem}
data:
  source: {{type: csv, path: rows.csv}}
  id_columns: [row_id]
training:
  budget_seconds: 20
  seed: 0
"""


def segments(rows: int, seed: int, shares: tuple[float, float, float] = (0.4, 0.35, 0.25)):
    """Three well-separated segments of customers: two numbers and a category that follows
    the segment; the segment itself is not a column."""
    rng = np.random.default_rng(seed)
    names = rng.choice(list(CENTRES), size=rows, p=shares)
    centre = np.array([CENTRES[n] for n in names])
    xy = centre + rng.normal(scale=1.0, size=(rows, 2))
    plan = np.where(names == "a", "basic", np.where(names == "b", "pro", "team"))
    return pd.DataFrame(
        {
            "row_id": np.arange(rows) + 10_000 * seed,
            "spend": xy[:, 0],
            "visits": xy[:, 1],
            "plan": plan,
        }
    )


def transactions(rows: int, seed: int, anomalies: float = 0.03) -> pd.DataFrame:
    """Ordinary transactions and a share of planted anomalies (far larger amounts at odd
    hours), marked ``fraud: yes``."""
    rng = np.random.default_rng(seed)
    bad = rng.random(rows) < anomalies
    amount = np.where(bad, rng.normal(900, 100, rows), rng.normal(50, 15, rows))
    hour = np.where(bad, rng.normal(3, 1, rows), rng.normal(14, 3, rows))
    return pd.DataFrame(
        {
            "row_id": np.arange(rows) + 10_000 * seed,
            "amount": amount.round(2),
            "hour": hour.round(1),
            "channel": rng.choice(["web", "shop"], rows),
            "fraud": np.where(bad, "yes", "no"),
        }
    )


def _project(root: Path, name: str, problem: str, frame: pd.DataFrame) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "rows.csv", index=False)
    config = root / "loopml.yaml"
    config.write_text(CONFIG.format(name=name, problem=problem), encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def clustering(tmp_path_factory: pytest.TempPathFactory) -> Path:
    problem = "  task: clustering\n  max_clusters: 6\n  success: 'stability >= 0.8'"
    config = _project(tmp_path_factory.mktemp("seg"), "segments", problem, segments(900, 0))
    result = runner.invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == 0, result.output
    return config


@pytest.fixture(scope="module")
def anomaly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    problem = "  task: anomaly\n  target: fraud\n  success: 'pr_auc >= 0.5'"
    config = _project(tmp_path_factory.mktemp("tx"), "transactions", problem, transactions(1500, 0))
    result = runner.invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == 0, result.output
    return config


def test_clustering_finds_the_segments_and_explains_them(clustering: Path) -> None:
    bundle, info = Project(clustering).registry.load("champion")

    assert bundle.problem.task == "clustering"
    assert len(bundle.problem.classes) == 3
    assert bundle.metrics["stability"] >= 0.8
    assert bundle.metrics["silhouette"] > 0.5
    html = Path(info.report).read_text(encoding="utf-8")
    assert "Why this clustering" in html and "What sets each cluster apart" in html
    assert "plan" in html  # the category that follows the segment sets the clusters apart


def test_scoring_assigns_every_row_one_segment_consistently(clustering: Path) -> None:
    new = segments(300, 1)
    new.to_csv(clustering.parent / "new.csv", index=False)
    out = clustering.parent / "scored.csv"

    result = runner.invoke(
        app,
        [
            "score",
            "-c",
            str(clustering),
            str(clustering.parent / "new.csv"),
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    assert {"row_id", "prediction", "proba_0", "proba_1", "proba_2"} <= set(scored.columns)
    # each planted segment lands in one cluster, and different segments in different ones
    segment = new["plan"].to_numpy()
    pairs = pd.crosstab(segment, scored["prediction"])
    assert (pairs.gt(0).sum(axis=1) == 1).all() and (pairs.gt(0).sum(axis=0) == 1).all()


def test_anomaly_model_flags_planted_anomalies_and_scores_them(anomaly: Path) -> None:
    bundle, _ = Project(anomaly).registry.load("champion")
    rows = transactions(400, 2).drop(columns=["fraud"])
    rows.loc[0, ["amount", "hour"]] = [1200.0, 2.0]
    rows.loc[1, ["amount", "hour"]] = [45.0, 13.0]

    scored = bundle.predict_frame(rows.drop(columns=["row_id"]))

    assert bundle.metrics["pr_auc"] > 0.9
    report = Path(Project(anomaly).registry.load("champion")[1].report).read_text("utf-8")
    assert "The most anomalous holdout rows" in report
    assert list(scored.columns) == ["prediction", "proba_False", "proba_True", "anomaly_score"]
    assert scored["prediction"].iloc[0] and not scored["prediction"].iloc[1]
    assert scored["anomaly_score"].iloc[0] > scored["anomaly_score"].iloc[1]
    assert ((scored["proba_True"] > 0.5) == scored["prediction"]).all()


@contextmanager
def _serving(config: Path) -> Iterator[str]:
    port = free_port()
    loopml = Path(sys.executable).parent / "loopml"
    log = config.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(loopml), "serve", "-c", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env=dict(os.environ),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.services
def test_the_service_answers_clusters_and_anomaly_flags(clustering: Path, anomaly: Path) -> None:
    rows = segments(3, 5).drop(columns=["row_id"]).to_dict("records")
    with _serving(clustering) as url:
        answer = httpx.post(f"{url}/v1/predict", json={"instances": rows}).json()
        wrong = httpx.post(f"{url}/v1/predict", json={"instances": [{"spend": "lots"}]})
    bundle, _ = Project(clustering).registry.load("champion")
    expected = bundle.predict_frame(pd.DataFrame(rows))
    assert answer["predictions"] == expected["prediction"].tolist()
    assert set(answer["probabilities"][0]) == {"0", "1", "2"}
    assert wrong.status_code == 422

    odd = {"amount": 1500.0, "hour": 3.0, "channel": "web"}
    usual = {"amount": 52.0, "hour": 14.0, "channel": "shop"}
    with _serving(anomaly) as url:
        flags = httpx.post(f"{url}/v1/predict", json={"instances": [odd, usual]}).json()
    assert flags["predictions"] == [True, False]
    assert flags["probabilities"][0]["True"] > 0.5 > flags["probabilities"][1]["True"]
    assert flags["anomaly_scores"][0] > flags["anomaly_scores"][1]
    assert "anomaly_scores" not in answer  # only anomaly models have scores


def _log_traffic(config: Path, days: list[pd.DataFrame]) -> None:
    project = Project(config)
    bundle, info = project.registry.load("champion")
    with PredictionLog(base_dir=config.parent, mode="sync") as plog:
        for day, rows in enumerate(days):
            features = rows.drop(columns=["row_id", "fraud"], errors="ignore")
            scored = bundle.predict_frame(features)
            t0 = START + day * DAY
            plog.record(
                [
                    LoggedPrediction(
                        f"d{day}-{i}",
                        t0 + i * 20.0,
                        info.version,
                        record,
                        scored["prediction"].iloc[i],
                        {
                            str(c): float(scored[f"proba_{c}"].iloc[i])
                            for c in bundle.problem.classes
                        },
                        0.2,
                    )
                    for i, record in enumerate(features.to_dict("records"))
                ]
            )
            if "fraud" in rows:  # the labels arrive a day later
                plog.feedback(
                    [Feedback(f"d{day}-{i}", v, t0 + DAY) for i, v in enumerate(rows["fraud"])]
                )


def _monitor(config: Path) -> tuple[int, dict]:
    result = runner.invoke(
        app,
        [
            "monitor",
            "-c",
            str(config),
            "--json",
            "--since",
            "2024-10-04",
            "--until",
            "2024-10-06",
        ],
    )
    assert result.exit_code in (0, EXIT_DRIFT), result.output
    return result.exit_code, json.loads(result.stdout)


def test_monitoring_sees_cluster_shares_move(clustering: Path) -> None:
    _log_traffic(clustering, [segments(900, 11), segments(900, 12, shares=(0.1, 0.1, 0.8))])

    code, report = _monitor(clustering)

    assert code == EXIT_DRIFT
    first, second = report["windows"]
    assert not first["drifted"] and second["drifted"]
    assert second["prediction_drift"]["drifted"]


def test_monitoring_sees_the_anomaly_rate_rise(anomaly: Path) -> None:
    _log_traffic(anomaly, [transactions(900, 21), transactions(900, 22, anomalies=0.2)])

    code, report = _monitor(anomaly)

    assert code == EXIT_DRIFT
    first, second = report["windows"]
    assert not first["prediction_drift"]["drifted"] and second["prediction_drift"]["drifted"]
    # the late labels ("yes"/"no" in the label column) are read as known anomalies
    assert first["performance"]["metric"] == "pr_auc"
    assert first["performance"]["value"] > 0.9


def test_retrain_says_to_train_instead(clustering: Path) -> None:
    result = runner.invoke(app, ["retrain", "-c", str(clustering)])

    assert result.exit_code == 2, result.output
    assert "loopml train" in result.output and "clustering" in result.output


def test_evaluating_a_clustering_on_a_file_needs_no_labels(clustering: Path) -> None:
    segments(300, 3).to_csv(clustering.parent / "more.csv", index=False)

    result = runner.invoke(
        app, ["evaluate", "-c", str(clustering), "--data", str(clustering.parent / "more.csv")]
    )

    assert result.exit_code == 0, result.output
    assert "silhouette" in result.output and "stability" in result.output
