"""``Project`` itself: training on a prepared set, the champion comparison, promotion, and
failed runs that leave nothing behind.

Each project is a few hundred rows made here, one linear model and one trial
(``training.max_trials``), so what a test asserts does not depend on the machine's speed.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from loopml import Project
from loopml.errors import DataError, IntegrityError, RegistryError
from loopml.registry import ModelBundle, ModelVersionInfo, Registry
from loopml.types import DataSet

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
"""


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering sets MLflow's process-wide URIs; put them back after each test."""
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows whose label is ``x > 0`` with a little noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "row_id": np.arange(n),
            "x": x.round(4),
            "z": rng.normal(size=n).round(4),
            "color": rng.choice(["red", "green", "blue"], size=n),
            "label": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
        }
    )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    rows(200).to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    return Project(tmp_path, env={})


def _registry_state(project: Project) -> tuple[Any, ...]:
    """The versions with their aliases and tags, and the report files."""
    versions = [(v.version, v.aliases, v.tags) for v in project.registry.versions()]
    reports = project.workspace / "reports"
    files = sorted(p.name for p in reports.iterdir()) if reports.is_dir() else []
    return versions, files


# ---------------------------------------------------------------------------- prepared=


def test_train_with_a_prepared_set_does_not_collect_again(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = rows(150, seed=3)
    prepared = project.prepare(DataSet(fresh, fingerprint="fresh-rows", origin="test:fresh"))

    def collect(*args: Any, **kwargs: Any) -> DataSet:
        raise AssertionError("train(prepared=...) collected the data again")

    monkeypatch.setattr(Project, "collect", collect)
    result = project.train(prepared=prepared)
    assert result.data["origin"] == "test:fresh"
    assert result.data["rows_with_target"] == 150
    run = project.registry._client.get_run(result.version.run_id).data
    assert run.params["data_fingerprint"] == "fresh-rows"
    assert int(run.params["train_rows"]) + int(run.params["holdout_rows"]) == 150
    assert run.params["max_trials"] == "1"


def test_train_without_a_prepared_set_collects_the_source(project: Project) -> None:
    result = project.train()
    assert result.data["origin"].endswith("train.csv")
    assert result.data["rows_with_target"] == 200
    assert (result.version.version, result.alias) == ("1", "champion")
    assert result.report == project.workspace / "reports" / "tiny-v1.html"
    assert result.report.is_file()
    assert result.version.report == str(result.report)


# ---------------------------------------------------------------------------- the champion


def test_a_second_model_is_compared_with_the_champion_on_the_same_holdout(
    project: Project,
) -> None:
    project.train()
    second = project.train()
    assert second.decision.champion_score is not None
    assert "the champion's" in second.decision.reason
    assert "no champion exists yet" not in second.decision.reason


def _load_champion_as(monkeypatch: pytest.MonkeyPatch, replace: Any) -> None:
    """Registry.load('champion') answers with ``replace(bundle, info)``."""
    original = Registry.load

    def load(self: Registry, ref: str | int = "champion") -> tuple[ModelBundle, ModelVersionInfo]:
        bundle, info = original(self, ref)
        return replace(bundle, info) if ref == "champion" else (bundle, info)

    monkeypatch.setattr(Registry, "load", load)


def test_a_champion_that_cannot_be_loaded_is_not_compared(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    project.train()

    def damaged(bundle: ModelBundle, info: ModelVersionInfo) -> Any:
        raise IntegrityError("model file model.joblib does not match its checksum")

    _load_champion_as(monkeypatch, damaged)
    with caplog.at_level(logging.WARNING, logger="loopml.project"):
        second = project.train()
    assert second.decision.reason == "passes the gate and no champion exists yet"
    assert second.alias == "champion"
    assert "the current champion cannot be loaded" in caplog.text
    assert "does not match its checksum" in caplog.text


def test_a_champion_for_another_task_is_not_compared(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    project.train()

    def regression(bundle: ModelBundle, info: ModelVersionInfo) -> Any:
        problem = dataclasses.replace(bundle.problem, task="regression", classes=())
        return dataclasses.replace(bundle, problem=problem), info

    _load_champion_as(monkeypatch, regression)
    with caplog.at_level(logging.WARNING, logger="loopml.project"):
        second = project.train()
    assert second.decision.reason == "passes the gate and no champion exists yet"
    assert caplog.text == ""


def test_a_missing_champion_is_no_error(project: Project) -> None:
    """A store with versions but no champion: the new model is not compared."""
    project.train()
    project.registry.delete_alias("champion")
    second = project.train()
    assert second.decision.reason == "passes the gate and no champion exists yet"


# ---------------------------------------------------------------------------- promotion


def test_promotion_moves_the_aliases_and_records_why(project: Project) -> None:
    project.train()
    second = project.train()
    assert second.alias == "challenger"  # the same data and seed do not beat the champion

    promoted = project.promote("2")
    assert promoted.aliases == ("champion",)  # it gave up its challenger alias
    first = project.model("1")
    assert first.aliases == ()
    assert first.promotion_reason.startswith("was champion until ")
    assert "when version 2 became champion" in first.promotion_reason
    assert promoted.promotion_reason.startswith("champion: promoted by hand")
    assert promoted.promotion_reason.endswith("(previous champion: version 1)")

    project.promote("1", alias="challenger")
    assert [(v.version, v.aliases) for v in project.models()] == [
        ("2", ("champion",)),
        ("1", ("challenger",)),
    ]


def test_promoting_the_champion_again_changes_nothing(project: Project) -> None:
    project.train()
    before = _registry_state(project)
    project.promote("1")
    assert _registry_state(project) == before


# ---------------------------------------------------------------------------- failures


def test_a_failed_report_write_leaves_the_registry_and_reports_as_they_were(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.train()
    before = _registry_state(project)

    def full(path: Path, text: str) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr("loopml.registry._release.write_text_atomic", full)
    with pytest.raises(RegistryError, match=r"while writing the report .*No space left"):
        project.train()
    assert _registry_state(project) == before
    assert project.model("champion").version == "1"


def test_a_failure_before_registering_leaves_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(outcome: Any, project_name: str) -> str:
        raise RuntimeError("template error")

    monkeypatch.setattr("loopml._train_register.training_report", broken)
    with pytest.raises(RuntimeError, match="template error"):
        project.train()
    assert project.models() == []
    assert _registry_state(project) == ([], [])


def test_a_quality_failure_trains_nothing(project: Project) -> None:
    frame = rows(200)
    frame["x_copy"] = frame["label"].map({"yes": 1.0, "no": 0.0})  # the target, leaked
    strict = project.config.model_copy(
        update={"quality": project.config.quality.model_copy(update={"fail_on": "warning"})}
    )
    strict_project = Project(project.config_path, config=strict, env={})
    prepared = strict_project.prepare(DataSet(frame, fingerprint="leaky", origin="test:leaky"))
    with pytest.raises(DataError, match=r"data quality check failed .*nothing was trained"):
        strict_project.train(prepared=prepared)
    assert strict_project.models() == []


def test_a_champion_published_as_challenger_reports_the_registrys_reason() -> None:
    from loopml._train_result import TrainResult, held_alias
    from loopml.loop import PromotionDecision

    moved = (
        "challenger: it was to become champion (beats version 1; compared with version 1), "
        "but version 3 became champion while it trained"
    )
    version = ModelVersionInfo(
        "tiny", "4", "run", ("challenger",), "2026-12-05", promotion_reason=moved
    )
    decision = PromotionDecision("champion", "beats version 1")
    fields: dict[str, Any] = {"leaderboard": None, "evaluation": None, "report": Path("r")}

    published = TrainResult(version, held_alias(version.aliases, "champion"), decision, **fields)
    as_decided = TrainResult(
        dataclasses.replace(version, aliases=("champion",), promotion_reason="champion: x"),
        "champion",
        decision,
        **fields,
    )

    assert published.alias == "challenger"
    assert published.promotion_reason == moved.removeprefix("challenger: ")
    assert as_decided.promotion_reason == "beats version 1"
    assert held_alias((), "challenger") == "challenger"


# ---------------------------------------------------------------------------- latency


def test_a_latency_limit_records_each_candidates_serving_latency(tmp_path: Path) -> None:
    rows(200).to_csv(tmp_path / "train.csv", index=False)
    limited = CONFIG.replace('  success: "roc_auc >= 0.6"\n', '  success: "roc_auc >= 0.6"\n'
                             "  constraints: {max_latency_ms: 100000}\n")  # fmt: skip
    (tmp_path / "loopml.yaml").write_text(limited, encoding="utf-8")

    result = Project(tmp_path, env={}).train()

    (trial,) = result.leaderboard.trials
    assert trial.status == "ok"
    assert trial.latency_ms is not None and trial.latency_ms > 0
    assert "ms per row" in result.report.read_text(encoding="utf-8")
