"""Fairness in the definition of success, through a real training run: a model that selects
one group far more often fails a gate with a fairness clause, stays challenger, and its
report and model card name the groups; the sensitive column is not a model input unless the
project says so; `loopml evaluate` checks the same clause."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _tiny import CONFIG, frame
from typer.testing import CliRunner

from loopml import Project
from loopml.cli import app
from loopml.errors import EXIT_GATE

runner = CliRunner()
FAIRNESS = """\
  sensitive_columns: [segment]
  fairness: {{min_group_size: 20, bootstrap: 50, as_features: {as_features}}}
"""


def _project(directory: Path, *, gap: float, as_features: bool = False) -> Path:
    """The tiny project with a ``segment`` column: segment ``b`` has larger ``x`` (``gap``),
    so the model, which follows ``x``, selects ``b`` more often."""
    (directory / "data").mkdir(parents=True)
    rows = frame(2_000, 0)
    rng = np.random.default_rng(5)
    rows["segment"] = rng.choice(["a", "b"], len(rows))
    b = rows["segment"] == "b"
    rows.loc[b, "x"] = rows.loc[b, "x"] + gap
    rows["label"] = np.where(rows["x"] + rng.normal(scale=0.3, size=len(rows)) > 0, "yes", "no")
    rows.to_csv(directory / "data" / "train.csv", index=False)
    frame(60, 1, with_target=False).assign(segment="a").to_csv(
        directory / "data" / "new.csv", index=False
    )
    text = CONFIG.format(models="linear").replace(
        'success: "roc_auc >= 0.6"',
        'success: "roc_auc >= 0.6 and selection_rate_ratio >= 0.8"\n'
        + FAIRNESS.format(as_features=str(as_features).lower()),
    )
    config = directory / "loopml.yaml"
    config.write_text(text, encoding="utf-8")
    return config


def test_an_unfair_model_fails_the_gate_and_the_report_names_the_groups(tmp_path: Path) -> None:
    config = _project(tmp_path, gap=1.5)
    result = Project(config).train()

    gate = result.evaluation.gate
    assert not gate.passed
    assert [ok for _, _, ok in gate.clauses] == [True, False]
    assert result.alias == "challenger"
    fairness = result.evaluation.fairness
    assert fairness is not None
    worst = fairness.worst("selection_rate_ratio")
    assert worst is not None and (worst.lowest, worst.highest) == ("a", "b")

    bundle, _ = Project(config).registry.load("challenger")
    assert "segment" not in [c.name for c in bundle.schema.feature_columns]
    assert "segment (sensitive: compared for fairness)" in result.data["ignored_columns"]
    html = result.report.read_text(encoding="utf-8")
    assert 'id="fairness"' in html and "By segment" in html
    clause = "Fairness clause &#39;selection_rate_ratio &gt;= 0.8&#39;"
    assert f"{clause} failed on segment: a has" in html

    base = ["evaluate", "-c", str(config), "-m", "challenger"]
    evaluated = runner.invoke(app, [*base, "--json"])
    # the whole evaluation is printed, then the failed gate is the exit code a pipeline checks
    assert evaluated.exit_code == EXIT_GATE, evaluated.output
    body = json.loads(evaluated.stdout)
    assert body["gate"]["passed"] is False
    assert body["fairness"]["values"]["selection_rate_ratio"] < 0.8
    shown = runner.invoke(app, base, terminal_width=200)
    assert shown.exit_code == EXIT_GATE
    printed = shown.output
    assert "selection_rate_ratio >= 0.8" in printed and "✗ → FAILED" in printed
    assert "Fairness: selection rate: smallest ratio" in printed and "lowest a" in printed


def test_a_fair_model_passes_and_a_sensitive_column_can_be_an_input(tmp_path: Path) -> None:
    config = _project(tmp_path, gap=0.0, as_features=True)
    result = Project(config).train()
    assert result.evaluation.gate.passed, result.evaluation.gate.describe()
    assert result.alias == "champion"
    bundle, _ = Project(config).registry.load("champion")
    assert "segment" in [c.name for c in bundle.schema.feature_columns]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("[segment]", "[segmnt]"), "problem.sensitive_columns"),
        (("as_features: false}", "as_features: false, min_group_size: 0}"), "min_group_size"),
    ],
)
def test_fairness_mistakes_stop_training_with_a_clear_error(
    tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    config = _project(tmp_path, gap=0.0)
    config.write_text(config.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    result = runner.invoke(app, ["train", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not (tmp_path / ".loopml" / "mlflow.db").exists()


def test_monitoring_compares_the_groups_of_live_traffic(tmp_path: Path) -> None:
    """The service logs the sensitive column next to the ids; `loopml monitor` compares the
    window's selection rates and, on its labelled rows, the full table, and raises an alarm
    where the window breaks the gate's fairness clause."""
    from fastapi.testclient import TestClient

    from loopml.serving._server import make_sink, model_source
    from loopml.serving.app import create_app, service_settings

    config = _project(tmp_path, gap=1.5)
    config.write_text(
        config.read_text(encoding="utf-8") + "serving: {prediction_log: {mode: sync}}\n",
        encoding="utf-8",
    )
    Project(config).train()
    project = Project(config)
    settings = service_settings(
        project.config,
        tracking_uri=project.registry.uri,
        workspace=project.workspace,
        overrides={"model": "challenger"},
    )
    rows = frame(600, 9)
    rows["segment"] = np.where(np.arange(600) % 2, "b", "a")
    rows.loc[rows["segment"] == "b", "x"] += 1.5
    labels = np.where(rows.pop("label").to_numpy() == "yes", "yes", "no")
    with TestClient(create_app(settings, model_source(settings), sink=make_sink(settings))) as c:
        answer = c.post("/v1/predict", json={"instances": rows.to_dict("records")})
        assert answer.status_code == 200, answer.text
        ids = answer.json()["request_ids"]
        feedback = [{"request_id": r, "label": str(y)} for r, y in zip(ids, labels, strict=True)]
        assert c.post("/v1/feedback", json=feedback).status_code == 200

    result = runner.invoke(app, ["monitor", "-c", str(config), "--model", "challenger", "--json"])
    assert result.exit_code == 10, result.output
    window = json.loads(result.stdout)["windows"][-1]
    fairness = window["fairness"]
    assert fairness["rows"] == 600 and fairness["labelled"] == 600
    assert fairness["values"]["selection_rate_ratio"] < 0.8
    assert fairness["groups"]["selection_rate_ratio"]["lowest"] == "a"
    assert "roc_auc_ratio" in fairness["values"]  # the full table, from the labelled rows
    alarm = [a for a in window["alarms"] if a.startswith("fairness:")]
    assert alarm and "selection_rate_ratio" in alarm[0] and "segment: a lowest" in alarm[0]
    report = runner.invoke(app, ["monitor", "-c", str(config), "--model", "challenger"])
    assert report.exit_code == 10
    html = next((tmp_path / ".loopml" / "reports").glob("*-monitoring.html")).read_text(
        encoding="utf-8"
    )
    assert "fairness: smallest ratio between groups" in html and "selection rate 0." in html
