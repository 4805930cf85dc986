"""``Project.retrain``: the policy, a challenger on sources plus labelled traffic, the paired
test on the latest labelled traffic, and a champion that moves only when the challenger wins.

Each project is a few hundred rows, one linear model and one trial (``training.max_trials``),
so what a test asserts does not depend on the machine's speed. The prediction log is filled
directly: labelled rows whose label follows ``x`` (as in the sources) or ``z`` (the
relationship changed after the champion was trained).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from loopml import Project
from loopml.monitoring import DriftReport, WindowReport
from loopml.serving import Feedback, LoggedPrediction, PredictionLog

CONFIG = """\
name: tiny
problem:
  task: binary
  target: label
  positive_class: "yes"
  metric: roc_auc
  success: "roc_auc >= 0.6"
data:
  source: {type: csv, path: train.csv}
  id_columns: [row_id]
training:
  budget_seconds: 20
  max_trials: 1
  cv_folds: 3
  models: [linear]
  tune: false
  ensemble: false
  seed: 0
  n_jobs: 1
retraining:
  min_labelled_rows: 100
  bootstrap: 500
"""

NOW = 1_800_000_000.0  # the clock of every retraining here
DAY = 86_400.0


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering sets MLflow's process-wide URIs; put them back after each test."""
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


def rows(n: int, seed: int, *, follows: str = "x") -> pd.DataFrame:
    """Rows whose label is ``follows > 0`` with a little noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n) + 10_000 * seed,
            "x": rng.normal(size=n).round(4),
            "z": rng.normal(size=n).round(4),
            "color": rng.choice(["red", "green", "blue"], size=n),
            # personal data: the privacy policy drops it, the log never holds it
            "email": [f"user{i + 10_000 * seed}@example.com" for i in range(n)],
        }
    )
    signal = frame[follows] + rng.normal(scale=0.3, size=n)
    frame["label"] = np.where(signal > 0, "yes", "no")
    return frame


def log_traffic(project: Project, frame: pd.DataFrame, *, start: float, end: float) -> None:
    """Log ``frame``'s rows as predictions spread over ``[start, end)``, each labelled."""
    times = np.linspace(start, end, len(frame), endpoint=False)
    with PredictionLog(base_dir=project.root, mode="sync") as plog:
        entries, labels = [], []
        for (_, row), at in zip(frame.iterrows(), times, strict=True):
            rid = f"r{row.row_id}"
            features = {"x": float(row.x), "z": float(row.z), "color": row.color}
            entries.append(LoggedPrediction(rid, float(at), "1", features, "no", None, 1.0))
            labels.append(Feedback(rid, row.label, float(at) + 3600))
        plog.record(entries)
        assert plog.feedback(labels) == []


def fill_log(project: Project, *, follows: str, holdout_rows: int = 300) -> None:
    """600 labelled rows between 30 and 7 days ago, ``holdout_rows`` in the last 7 days."""
    log_traffic(
        project, rows(600, seed=11, follows=follows), start=NOW - 29 * DAY, end=NOW - 8 * DAY
    )
    recent = rows(holdout_rows, seed=12, follows=follows)
    log_traffic(project, recent, start=NOW - 6 * DAY, end=NOW - DAY)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    rows(200, seed=0).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    trained = Project(tmp_path, env={})
    assert trained.train().alias == "champion"
    return trained


def _aliases(project: Project) -> dict[str, tuple[str, ...]]:
    return {v.version: v.aliases for v in project.registry.versions()}


def test_a_changed_relationship_gives_a_significantly_better_champion(project: Project) -> None:
    fill_log(project, follows="z")
    decision = project.retrain(force=True, now=NOW)
    assert decision.triggered and decision.trigger == "forced (--force)"
    assert (decision.champion_version, decision.challenger_version) == ("1", "2")
    assert (decision.rows_sources, decision.rows_logged, decision.rows_holdout) == (200, 600, 300)
    test = decision.test
    assert test is not None and test.test == "paired bootstrap" and test.n_rows == 300
    assert test.champion < 0.65 < 0.85 < test.challenger  # x no longer tells, z does
    assert test.low > 0 and test.p_value < 0.01
    assert decision.promoted
    bundle, _ = project.registry.load("2")
    assert "email" not in bundle.schema.roles() and bundle.info["privacy"] == {"email": "drop"}
    assert decision.reason.startswith("significantly better at alpha 0.05: roc_auc")
    assert _aliases(project) == {"1": (), "2": ("champion",)}
    assert project.model("2").promotion_reason.startswith("champion: retrained: significantly")
    # recorded on the challenger's run and next to the training reports
    run = project.registry._client.get_run(project.model("2").run_id).data
    assert run.tags["loopml.retrain.promoted"] == "true"
    assert run.params["loopml.retrain.test"] == "paired bootstrap"
    assert run.params["loopml.retrain.rows_logged"] == "600"
    assert run.metrics["retrain_p_value"] == pytest.approx(test.p_value)
    assert run.metrics["retrain_challenger_score"] == pytest.approx(test.challenger)
    body = json.loads(Path(decision.report or "").read_text(encoding="utf-8"))
    assert body == json.loads(json.dumps(decision.to_dict()))
    assert body["interval"] == [pytest.approx(test.low), pytest.approx(test.high)]
    html = Path(decision.report or "").with_suffix(".html").read_text(encoding="utf-8")
    assert "challenger promoted" in html


def test_unchanged_data_trains_a_challenger_that_is_not_promoted(project: Project) -> None:
    fill_log(project, follows="x")
    decision = project.retrain(force=True, now=NOW)
    assert decision.challenger_version == "2"
    test = decision.test
    assert test is not None and test.low < 0 < test.high and test.p_value >= 0.05
    assert not decision.promoted
    assert "not significantly" in decision.reason or "not better" in decision.reason
    assert _aliases(project) == {"1": ("champion",), "2": ("challenger",)}
    said = project.model("2").promotion_reason
    assert said == f"challenger: retrained, not promoted: {decision.reason}"
    run = project.registry._client.get_run(project.model("2").run_id).data
    assert run.tags["loopml.retrain.promoted"] == "false"


def test_the_policy_decides_before_anything_is_trained(project: Project) -> None:
    fill_log(project, follows="x")
    # the 40-row holdout of the sources scored 0.9975, the latest traffic 0.9668
    policy = project.config.retraining.model_copy(update={"on_metric_drop": 0.05})
    config = project.config.model_copy(update={"retraining": policy})
    project = Project(project.root, config=config, env={})
    quiet = project.retrain(now=NOW)
    assert not quiet.triggered and not quiet.promoted
    assert quiet.trigger == (
        "no trigger fired: no monitoring status; roc_auc 0.9668 on the latest 300 labelled "
        "rows is 0.0307 worse than 0.9975 on its holdout, less than 0.05"
    )
    assert quiet.reason == "no retraining: " + quiet.trigger
    assert quiet.challenger_version is None and list(_aliases(project)) == ["1"]
    # the last monitoring run alarmed for the champion: that triggers
    status = project.workspace / "monitoring" / "status.json"
    status.parent.mkdir(parents=True)
    gauge = {"name": "loopml_monitoring_alarm", "labels": {"model_version": "1"}, "value": 1.0}
    status.write_text(json.dumps({"written": NOW, "gauges": [gauge]}), encoding="utf-8")
    # ... but with fewer labelled rows in the holdout window than asked, nothing is trained
    few = project.retrain(now=NOW + 5 * DAY)  # a fifth of the recent traffic is recent
    assert few.triggered and few.trigger.startswith("the latest monitoring window alarmed")
    assert few.reason.startswith("only 60 labelled rows in the last 7d")
    assert list(_aliases(project)) == ["1"]
    # a drift report handed in counts instead of the status file
    calm = DriftReport("tiny", "1", 0.01, 0.01, DAY, [_window(alarms=[])])
    assert not project.retrain(now=NOW + 5 * DAY, drift=calm).triggered
    drifted = DriftReport("tiny", "1", 0.01, 0.01, DAY, [_window(alarms=["x drifted"])])
    assert project.retrain(now=NOW + 5 * DAY, drift=drifted).triggered


def _window(alarms: list[str]) -> WindowReport:
    return WindowReport(NOW - DAY, NOW, 100, 0, [], None, [], None, None, alarms)


def test_a_failed_training_leaves_the_champion_as_it_was(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_log(project, follows="z")
    before = [(v.version, v.aliases, v.tags) for v in project.registry.versions()]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("the search ran out of memory")

    monkeypatch.setattr(Project, "_search", broken)
    with pytest.raises(MemoryError, match="ran out of memory"):
        project.retrain(force=True, now=NOW)
    assert [(v.version, v.aliases, v.tags) for v in project.registry.versions()] == before
    assert not list((project.workspace / "reports").glob("*retrain*"))
