"""Registering, setting the alias and writing the report as one step (loopml.registry._release),
and the run record that names every MLflow key (loopml.registry._record)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from loopml.config import TrainingConfig
from loopml.data import Problem, Split
from loopml.errors import ModelNotFoundError, RegistryError
from loopml.evaluation import Evaluation, GateResult
from loopml.modeling import Leaderboard, TrialResult
from loopml.registry import ModelBundle, Registry, Release, RunRecord, TrainingRun
from loopml.registry._history import AliasHistory
from loopml.types import DataSet

MakeBundle = Callable[..., ModelBundle]


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry.register sets MLflow's process-wide URIs; put them back after each test."""
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


def _registry(directory: Path) -> Registry:
    return Registry(
        uri=f"sqlite:///{directory}/mlflow.db",
        experiment="churn-training",
        model_name="churn",
        artifact_root=directory / "artifacts",
    )


@pytest.fixture(scope="module")
def bundle(make_bundle: MakeBundle) -> ModelBundle:
    return make_bundle()


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory, bundle: ModelBundle) -> Path:
    """A store with version 1 champion and version 2 challenger, each with its report;
    copied for each test, which then registers version 3."""
    directory = tmp_path_factory.mktemp("populated")
    registry = _registry(directory)
    for alias in ("champion", "challenger"):
        release = Release(alias, f"first {alias}", f"<p>{alias}</p>", directory / "reports")
        _register(registry, bundle, release)
    return directory


@pytest.fixture
def registry(tmp_path: Path, populated: Path) -> Registry:
    shutil.copytree(populated, tmp_path, dirs_exist_ok=True)
    return _registry(tmp_path)


def _register(registry: Registry, bundle: ModelBundle, release: Release | None) -> Any:
    return registry.register(
        bundle,
        params={"model_family": "linear"},
        metrics={"holdout_roc_auc": 0.9},
        artifacts={},
        tags={"loopml.run_name": "churn-linear"},
        release=release,
    )


def _release(registry: Registry, alias: str = "champion") -> Release:
    reports = Path(registry.uri.removeprefix("sqlite:///")).parent / "reports"
    return Release(alias, "it beat the champion", "<p>version 3</p>", reports)


def _state(registry: Registry) -> tuple[Any, ...]:
    """Everything a failed registration must leave as it was: versions with their aliases
    and tags, the runs that are not deleted, and the reports directory."""
    versions = [(v.version, v.aliases, v.tags) for v in registry.versions()]
    client = registry._client
    experiment = client.get_experiment_by_name(registry.experiment).experiment_id
    runs = sorted(r.info.run_id for r in client.search_runs([experiment]))
    reports = _release(registry).report_dir
    files = sorted((p.name, p.read_text()) for p in reports.iterdir()) if reports.is_dir() else None
    history = registry.alias_history(limit=100).to_dict()
    return versions, runs, files, history


def test_a_release_registers_sets_the_alias_and_writes_the_report(
    registry: Registry, bundle: ModelBundle
) -> None:
    info = _register(registry, bundle, _release(registry))
    assert (info.version, info.aliases) == ("3", ("champion",))
    report = Path(info.report)
    assert report == _release(registry).report_dir / "churn-v3.html"
    assert report.read_text() == "<p>version 3</p>"
    assert info.promotion_reason == "champion: it beat the champion (previous champion: version 1)"
    before = registry.version_info("1")
    assert before.aliases == ()
    assert before.promotion_reason.startswith("was champion until ")
    assert registry.version_info("2").aliases == ("challenger",)


def test_a_challenger_release_leaves_the_champion(registry: Registry, bundle: ModelBundle) -> None:
    info = _register(registry, bundle, _release(registry, "challenger"))
    assert info.aliases == ("challenger",)
    assert registry.version_info("1").aliases == ("champion",)
    assert registry.version_info("2").aliases == ()
    assert "was challenger until" in registry.version_info("2").promotion_reason


def _failing_set_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: Registry, version: str, alias: str) -> None:
        raise RuntimeError("alias store is down")

    monkeypatch.setattr(Registry, "set_alias", fail)


def _failing_reason_of_the_old_champion(monkeypatch: pytest.MonkeyPatch) -> None:
    """The alias moved; recording that version 1 lost it fails."""
    original = Registry.set_tags

    def fail(self: Registry, version: str, tags: dict[str, str]) -> None:
        if version == "1":
            raise RuntimeError("alias store is down")
        original(self, version, tags)

    monkeypatch.setattr(Registry, "set_tags", fail)


def _failing_report_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)  # as the real one does first
        raise OSError("disk full")

    monkeypatch.setattr("loopml.registry._release.write_text_atomic", fail)


def _failing_report_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Registry.set_tags

    def fail(self: Registry, version: str, tags: dict[str, str]) -> None:
        if "loopml.report" in tags:
            raise RuntimeError("alias store is down")
        original(self, version, tags)

    monkeypatch.setattr(Registry, "set_tags", fail)


@pytest.mark.parametrize(
    ("inject", "step"),
    [
        (_failing_set_alias, "setting the alias champion"),
        (_failing_reason_of_the_old_champion, "setting the alias champion"),
        (_failing_report_write, "writing the report"),
        (_failing_report_tag, "tagging the report"),
    ],
)
def test_a_failure_at_any_step_leaves_the_registry_and_reports_as_they_were(
    registry: Registry,
    bundle: ModelBundle,
    monkeypatch: pytest.MonkeyPatch,
    inject: Callable[[pytest.MonkeyPatch], None],
    step: str,
) -> None:
    before = _state(registry)
    with monkeypatch.context() as patch:
        inject(patch)
        with pytest.raises(RegistryError, match=f"registering the model failed while {step}"):
            _register(registry, bundle, _release(registry))
    assert _state(registry) == before
    assert registry.version_info("champion").version == "1"
    assert registry.version_info("challenger").version == "2"


def test_a_failed_first_release_leaves_no_alias_and_no_reports_directory(
    tmp_path: Path, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry(tmp_path)
    _failing_report_tag(monkeypatch)
    with pytest.raises(RegistryError, match="while tagging the report"):
        _register(registry, bundle, _release(registry))
    assert registry.versions() == []
    with pytest.raises(ModelNotFoundError, match="has no champion"):
        registry.resolve("champion")
    assert not _release(registry).report_dir.exists()


def test_a_report_left_by_an_earlier_version_with_the_same_number_is_kept(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = _release(registry).report_dir / "churn-v3.html"
    stale.write_text("<p>an older version 3</p>")
    _failing_report_tag(monkeypatch)
    with pytest.raises(RegistryError, match="while tagging the report"):
        _register(registry, bundle, _release(registry))
    assert stale.read_text() == "<p>an older version 3</p>"


def test_moving_an_alias_that_fails_half_way_puts_everything_back(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _state(registry)
    _failing_reason_of_the_old_champion(monkeypatch)
    with pytest.raises(RuntimeError, match="alias store is down"):
        registry.move_alias("2", "champion", "promoted by hand")
    assert _state(registry) == before


def test_promoting_the_challenger_takes_its_challenger_alias(registry: Registry) -> None:
    registry.move_alias("2", "champion", "promoted by hand")
    assert registry.version_info("2").aliases == ("champion",)
    assert registry.version_info("1").aliases == ()
    with pytest.raises(ModelNotFoundError, match="has no challenger"):
        registry.resolve("challenger")
    reason = registry.version_info("2").promotion_reason
    assert reason == "champion: promoted by hand (previous champion: version 1)"


# ---------------------------------------------------------------------------- alias history


def _moves(registry: Registry, **page: int) -> list[tuple[str, str, str, str | None, str]]:
    history = registry.alias_history(**page)
    return [(e.action, e.alias, e.version, e.previous, e.actor) for e in history.events]


def test_every_alias_move_is_kept_newest_first(registry: Registry) -> None:
    registry.move_alias("2", "champion", "promoted by hand", actor="promote via CLI")
    registry.move_alias(
        "1", "champion", "rolled back: version 2 misbehaved", actor="promote via UI"
    )
    history = registry.alias_history(limit=100)
    assert all(e.recorded for e in history.events)
    assert _moves(history) == [
        ("removed", "champion", "2", "1", "promote via UI"),
        ("set", "champion", "1", "2", "promote via UI"),
        ("removed", "challenger", "2", None, "promote via CLI"),  # a champion is not challenger
        ("removed", "champion", "1", "2", "promote via CLI"),
        ("set", "champion", "2", "1", "promote via CLI"),
        ("set", "challenger", "2", None, "train"),  # the populated store's registrations
        ("set", "champion", "1", None, "train"),
    ]
    reasons = [e.reason for e in history.events]
    assert reasons[:2] == ["version 1 became champion", "rolled back: version 2 misbehaved"]
    assert reasons[4:] == ["promoted by hand", "first challenger", "first champion"]
    assert history.events[1].text == "version 1 became champion, replacing version 2"
    assert history.events[0].text == "version 2 lost champion to version 1"
    assert [e.seq for e in history.events] == list(range(7, 0, -1))
    times = [e.time for e in history.events]
    assert times == sorted(times, reverse=True)


def _moves(history: AliasHistory) -> list[tuple[str, str, str, str | None, str]]:
    return [(e.action, e.alias, e.version, e.previous, e.actor) for e in history.events]


def test_the_alias_history_is_paginated(registry: Registry) -> None:
    registry.move_alias("2", "champion", "promoted by hand")
    everything = _moves(registry.alias_history(limit=100))
    pages = [registry.alias_history(limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [p.total for p in pages] == [5] * 4
    assert [len(p.events) for p in pages] == [2, 2, 1, 0]
    assert [m for p in pages for m in _moves(p)] == everything
    assert pages[1].to_dict()["offset"] == 2 and pages[1].to_dict()["events"][0]["text"]


def test_a_registration_records_its_alias_with_the_actor(
    registry: Registry, bundle: ModelBundle
) -> None:
    _register(registry, bundle, replace(_release(registry), actor="retrain"))
    newest = registry.alias_history(limit=2)
    assert _moves(newest) == [
        ("removed", "champion", "1", "3", "retrain"),
        ("set", "champion", "3", "1", "retrain"),
    ]
    assert newest.events[1].reason == "it beat the champion"


def test_a_challenger_published_because_the_champion_moved_says_so(
    registry: Registry, bundle: ModelBundle
) -> None:
    release = replace(_release(registry), champion_seen=None)  # decided with no champion
    assert _register(registry, bundle, release).aliases == ("challenger",)
    history = registry.alias_history(limit=2)
    assert _moves(history) == [
        ("removed", "challenger", "2", "3", "train"),
        ("set", "challenger", "3", "2", "train"),
    ]
    assert "version 1 became champion while it trained" in history.events[1].reason


def test_a_failed_move_leaves_no_event(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    before = registry.alias_history(limit=100)
    _failing_reason_of_the_old_champion(monkeypatch)
    with pytest.raises(RuntimeError, match="alias store is down"):
        registry.move_alias("2", "champion", "promoted by hand")
    assert registry.alias_history(limit=100) == before


def test_mlflow_s_client_reads_the_history_the_sqlite_reader_reads(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL or a tracking server the history is read through MLflow's client."""
    registry.move_alias("2", "champion", "promoted by hand")
    read = registry.alias_history(limit=100)
    assert read.total == 5
    monkeypatch.setattr("loopml.registry._mlflow.StoreReader.open", lambda uri, name: None)
    through_mlflow = _registry(Path(registry.uri.removeprefix("sqlite:///")).parent)
    assert through_mlflow.alias_history(limit=100) == read


def _forget_events(registry: Registry) -> None:
    """The store as a loopml release without the alias history left it."""
    client = registry._client
    for key in client.get_registered_model("churn").tags:
        client.delete_registered_model_tag("churn", key)


def test_a_project_older_than_the_history_tells_the_latest_reasons(registry: Registry) -> None:
    registry.move_alias("2", "champion", "promoted by hand")
    _forget_events(registry)
    history = registry.alias_history(limit=100)
    told = [(e.recorded, e.action, e.alias, e.version, e.previous) for e in history.events]
    assert told == [  # version 2's reason is newer than version 1's; each tells its latest
        (False, "set", "champion", "2", None),
        (False, "removed", "champion", "1", "2"),
    ] or told == [
        (False, "removed", "champion", "1", "2"),
        (False, "set", "champion", "2", None),
    ]
    assert history.events[0].reason.startswith(("champion: promoted by hand", "was champion"))
    registry.move_alias("1", "champion", "rolled back")  # once recorded, events tell both
    assert [e.recorded for e in registry.alias_history(limit=100).events] == [True, True]


# ---------------------------------------------------------------------------- the run record


PASSED = GateResult("roc_auc >= 0.8", 0.88, True)


def _training_run(**overrides: Any) -> TrainingRun:
    trials = (
        TrialResult(0, "linear", {"C": 0.5}, (0.8, 0.9), 1.0, "ok"),
        TrialResult(1, "lightgbm", {}, (), 0.0, "not_started"),
    )
    values: dict[str, Any] = {
        "project": "churn",
        "loopml_version": "9.9.9",
        "problem": Problem("binary", "churned", "roc_auc", None, ("no", "yes"), "yes"),
        "data": DataSet(pd.DataFrame({"x": [1]}), fingerprint="abc", origin="csv:data.csv"),
        "split": Split(np.arange(8), np.arange(8, 10), "stratified"),
        "n_folds": 3,
        "training": TrainingConfig(budget_seconds=30, max_trials=5),
        "leaderboard": Leaderboard("roc_auc", True, trials, 30.0, 3.0, 3, stopped_by="max_trials"),
        "model": "linear",
        "evaluation": Evaluation("binary", "roc_auc", 0.88, {"roc_auc": 0.88}, PASSED, 2),
        "business": {"expected_cost": 1.5},
    }
    values.update(overrides)
    return TrainingRun(**values)


def test_the_run_record_names_params_metrics_and_tags() -> None:
    record = RunRecord.of(_training_run())
    assert record.params == {
        "model_family": "linear",
        "model.C": 0.5,
        "task": "binary",
        "metric": "roc_auc",
        "split": "stratified",
        "budget_seconds": 30.0,
        "cv_folds": 3,
        "n_trials": 1,
        "max_trials": 5,
        "stopped_by": "max_trials",
        "train_rows": 8,
        "holdout_rows": 2,
        "data_origin": "csv:data.csv",
        "data_fingerprint": "abc",
    }
    assert record.metrics == pytest.approx(
        {"holdout_roc_auc": 0.88, "holdout_expected_cost": 1.5, "cv_roc_auc": 0.85}
    )
    assert record.tags == {
        "loopml.version": "9.9.9",
        "loopml.run_name": "churn-linear",
        "loopml.data_fingerprint": "abc",
        "loopml.gate_passed": "true",
    }
    assert record.run_name == "churn-linear"
    assert record.version_tags == {
        "loopml.family": "linear",
        "loopml.metric": "roc_auc",
        "loopml.gate": "roc_auc >= 0.8",
        "loopml.gate_passed": "true",
    }


def test_the_run_record_says_none_for_no_gate_and_no_trial_limit() -> None:
    evaluation = Evaluation("binary", "roc_auc", 0.6, {}, GateResult(None, None, True), 2)
    record = RunRecord.of(
        _training_run(evaluation=evaluation, training=TrainingConfig(budget_seconds=30))
    )
    assert record.params["max_trials"] == "none"
    assert record.version_tags["loopml.gate"] == "none"
