"""The MLflow-backed registry on a SQLite store (loopml.registry._mlflow)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from loopml.errors import IntegrityError, ModelNotFoundError, RegistryError
from loopml.registry import ModelBundle, Registry, sha256_file, version_tags

MakeBundle = Callable[..., ModelBundle]
NAME = "churn"


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry.register sets MLflow's process-wide URIs (and their environment variables);
    put them back after each test so no test talks to another test's store."""
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _registry(directory: Path) -> Registry:
    return Registry(
        uri=f"sqlite:///{directory}/mlflow.db",
        experiment="churn-training",
        model_name=NAME,
        artifact_root=directory / "artifacts",
    )


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with MLflow's tables created once; copying it spares each test the
    database migrations (most of a second)."""
    directory = tmp_path_factory.mktemp("template")
    _registry(directory)._client.search_experiments()
    return directory / "mlflow.db"


@pytest.fixture
def registry(tmp_path: Path, empty_store: Path) -> Registry:
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return _registry(tmp_path)


@pytest.fixture
def no_store(tmp_path: Path) -> Registry:
    """A registry whose store does not exist yet."""
    return _registry(tmp_path)


@pytest.fixture(scope="module")
def bundle(make_bundle: MakeBundle) -> ModelBundle:
    return make_bundle()


def _register(registry: Registry, bundle: ModelBundle, **overrides: Any) -> Any:
    options: dict[str, Any] = {"params": {}, "metrics": {}, "artifacts": {}, "tags": {}}
    options.update(overrides)
    return registry.register(bundle, **options)


def _stored(registry: Registry, name: str) -> list[Path]:
    return sorted(registry.artifact_root.rglob(f"bundle/{name}"))


def _runs(registry: Registry) -> list[Any]:
    client = registry._client
    experiment = client.get_experiment_by_name(registry.experiment)
    return list(client.search_runs([experiment.experiment_id])) if experiment else []


# ---------------------------------------------------------------------------- register


def test_register_creates_version_1_with_checksum_tags(
    no_store: Registry, bundle: ModelBundle, tmp_path: Path
) -> None:
    registry = no_store
    report = tmp_path / "report.html"
    report.write_text("<html>report</html>", encoding="utf-8")
    assert registry.exists() is False

    info = _register(
        registry,
        bundle,
        params={"model_family": "linear", "model.C": 1.0, "space": {"C": [0.1, 1.0]}},
        metrics={"holdout_roc_auc": 0.9, "holdout_pr_auc": float("nan")},
        artifacts={"report": report},
        tags={"loopml.run_name": "churn-linear", "loopml.gate_passed": "true"},
    )

    assert registry.exists() is True
    assert (info.name, info.version, info.aliases) == (NAME, "1", ())
    expected = bundle.save(tmp_path / "reference")  # saving is deterministic
    assert info.tags == {
        "loopml.sha256.pipeline.joblib": expected["pipeline.joblib"],
        "loopml.sha256.manifest.json": expected["manifest.json"],
    }
    assert info.to_dict()["tags"] == {}  # checksums are not shown to users
    assert info.metrics == {"holdout_roc_auc": 0.9}  # NaN cannot be logged
    assert info.created.endswith(" UTC")

    run = registry._client.get_run(info.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "churn-linear"
    assert run.data.params == {
        "model_family": "linear",
        "model.C": "1.0",
        "space": json.dumps({"C": [0.1, 1.0]}),
    }
    assert run.data.tags["loopml.gate_passed"] == "true"
    artifacts = registry._client.list_artifacts(info.run_id, "report")
    assert [a.path for a in artifacts] == ["report/report.html"]
    assert len(_stored(registry, "pipeline.joblib")) == 1
    assert all(p.is_relative_to(tmp_path / "artifacts") for p in _stored(registry, "manifest.json"))


def test_versions_are_listed_newest_first(registry: Registry, bundle: ModelBundle) -> None:
    assert registry.versions() == []
    for _ in range(3):
        _register(registry, bundle)

    assert [v.version for v in registry.versions()] == ["3", "2", "1"]
    assert len({v.run_id for v in registry.versions()}) == 3
    assert registry.resolve("latest") == "3"
    assert registry.version_info(None).version == "3"


def test_long_params_are_shortened(registry: Registry, bundle: ModelBundle) -> None:
    info = _register(registry, bundle, params={"notes": "x" * 7000})

    logged = registry._client.get_run(info.run_id).data.params["notes"]
    assert logged == "x" * 5997 + "..."


# ---------------------------------------------------------------------------- aliases


def test_aliases_resolve(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    _register(registry, bundle)

    registry.set_alias("1", "champion")
    registry.set_alias("2", "challenger")

    assert registry.resolve("champion") == "1"
    assert registry.resolve("challenger") == "2"
    assert registry.resolve(2) == "2"
    assert registry.version_info("champion").aliases == ("champion",)
    assert registry.version_info("2").aliases == ("challenger",)


def test_promotion_moves_the_alias(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    _register(registry, bundle)
    registry.set_alias("1", "champion")

    registry.set_alias("2", "champion")

    assert registry.resolve("champion") == "2"
    assert registry.version_info("1").aliases == ()
    assert registry.version_info("2").aliases == ("champion",)


def test_versions_show_their_aliases(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    _register(registry, bundle)
    registry.set_alias("1", "champion")
    registry.set_alias("2", "challenger")

    assert [(v.version, v.aliases) for v in registry.versions()] == [
        ("2", ("challenger",)),
        ("1", ("champion",)),
    ]


def test_delete_alias(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    registry.set_alias("1", "challenger")

    registry.delete_alias("challenger")
    registry.delete_alias("challenger")  # deleting twice is fine

    with pytest.raises(ModelNotFoundError, match=f"model '{NAME}' has no challenger yet"):
        registry.resolve("challenger")


def test_unknown_alias_is_refused(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    with pytest.raises(RegistryError, match=r"unknown alias 'production'; use one of champion"):
        registry.set_alias("1", "production")


def test_alias_on_a_missing_version(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    with pytest.raises(ModelNotFoundError, match=f"model '{NAME}' has no version 9"):
        registry.set_alias("9", "champion")


def test_no_champion_yet(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    with pytest.raises(ModelNotFoundError, match=f"model '{NAME}' has no champion yet"):
        registry.resolve("champion")


def test_unknown_reference(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    with pytest.raises(ModelNotFoundError, match="unknown model reference 'best'"):
        registry.resolve("best")


@pytest.mark.parametrize("ref", ["champion", "challenger", "latest"])
def test_resolve_on_an_empty_store(no_store: Registry, ref: str) -> None:
    with pytest.raises(ModelNotFoundError, match="no model is registered yet"):
        no_store.resolve(ref)
    assert no_store.exists() is False  # asking did not create a store
    assert no_store.versions() == []


def test_load_on_an_empty_store(no_store: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="no model is registered yet"):
        no_store.load()


def test_resolve_in_a_store_without_the_model(registry: Registry) -> None:
    assert registry.exists() is True
    assert registry.versions() == []
    with pytest.raises(ModelNotFoundError, match=f"model '{NAME}' has no versions yet"):
        registry.resolve("latest")


# ---------------------------------------------------------------------------- load


def test_load_verifies_and_predicts_the_same(
    registry: Registry, bundle: ModelBundle, churn: pd.DataFrame
) -> None:
    _register(registry, bundle)
    registry.set_alias("1", "champion")

    loaded, info = registry.load("champion")

    assert info.version == "1"
    assert loaded.problem == bundle.problem
    assert loaded.schema == bundle.schema
    pd.testing.assert_frame_equal(loaded.predict_frame(churn), bundle.predict_frame(churn))


def test_tampered_pipeline_is_refused(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, bundle)
    [stored] = _stored(registry, "pipeline.joblib")
    with stored.open("ab") as fh:
        fh.write(b"tampered")
    monkeypatch.setattr(joblib, "load", _never_unpickle)

    with pytest.raises(
        IntegrityError, match=r"pipeline\.joblib was modified after registration .* Refusing"
    ):
        registry.load("1")


def test_tampered_pipeline_with_rewritten_manifest_is_refused(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(registry, bundle)
    [stored] = _stored(registry, "pipeline.joblib")
    joblib.dump(bundle.pipeline, stored, compress=0)  # a different file, same model
    manifest_path = stored.with_name("manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["checksums"] = {"pipeline.joblib": sha256_file(stored)}
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setattr(joblib, "load", _never_unpickle)

    # the tags recorded at registration still catch it
    with pytest.raises(IntegrityError, match="was modified after registration"):
        registry.load("1")


def _never_unpickle(*args: object, **kwargs: object) -> None:
    raise AssertionError("the pipeline was unpickled before its checksum was verified")


# ---------------------------------------------------------------------------- atomicity


def _assert_nothing_registered(registry: Registry) -> None:
    assert _runs(registry) == []
    assert registry._client.search_model_versions(f"name = '{NAME}'") == []
    assert registry.versions() == []
    with pytest.raises(ModelNotFoundError, match=f"model '{NAME}' has no versions yet"):
        registry.resolve("latest")


@pytest.mark.parametrize(
    "failing",
    [
        "log_param",  # before the model is logged
        "create_model_version",  # after the model is logged, before a version exists
        "set_terminated",  # after the version was created
    ],
)
def test_failed_register_leaves_nothing_behind(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(registry._client, failing, boom)

    with pytest.raises(RegistryError, match="registering the model failed: disk full"):
        _register(registry, bundle, params={"model_family": "linear"})

    _assert_nothing_registered(registry)


def test_failed_register_leaves_no_logged_model(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(registry._client, "create_model_version", boom)
    with pytest.raises(RegistryError, match="registering the model failed: disk full"):
        _register(registry, bundle)

    client = registry._client
    experiment = client.get_experiment_by_name(registry.experiment)
    assert list(client.search_logged_models([experiment.experiment_id])) == []
    assert _stored(registry, "pipeline.joblib") == []


def test_interrupted_register_leaves_nothing_behind(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("stopped by the user")

    monkeypatch.setattr(registry._client, "set_terminated", interrupt)

    with pytest.raises(KeyboardInterrupt, match="stopped by the user"):
        _register(registry, bundle)

    _assert_nothing_registered(registry)


def test_failed_bundle_save_leaves_nothing_behind(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: ModelBundle, directory: Path) -> dict[str, str]:
        raise OSError("read-only file system")

    monkeypatch.setattr(ModelBundle, "save", fail)

    with pytest.raises(RegistryError, match="registering the model failed: read-only file"):
        _register(registry, bundle)

    _assert_nothing_registered(registry)


def test_register_works_after_a_failure(
    registry: Registry, bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(registry._client, "create_model_version", _never_unpickle)
        with pytest.raises(RegistryError, match="registering the model failed"):
            _register(registry, bundle)

    info = _register(registry, bundle)

    assert [v.version for v in registry.versions()] == [info.version]
    assert len(_runs(registry)) == 1


# ---------------------------------------------------------------------------- MLflow model


def test_mlflow_pyfunc_loads_the_registered_model(
    registry: Registry,
    bundle: ModelBundle,
    churn: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _register(registry, bundle)
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading prepends the model's code path

    model = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    out = model.predict(churn.drop(columns=["customer_id"]))

    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["prediction", "proba_no", "proba_yes"]
    expected = bundle.predict_frame(churn)
    assert out["prediction"].tolist() == expected["prediction"].tolist()
    pd.testing.assert_frame_equal(
        out[["proba_no", "proba_yes"]].reset_index(drop=True),
        expected[["proba_no", "proba_yes"]].reset_index(drop=True),
    )
    inputs = model.metadata.get_input_schema().input_names()
    assert inputs == ["age", "plan", "signup"]  # the features, not the id column


# ---------------------------------------------------------------------------- what a version says


def test_version_tags_become_fields_and_leave_the_tags(
    registry: Registry, bundle: ModelBundle
) -> None:
    info = _register(
        registry,
        bundle,
        metrics={"holdout_roc_auc": 0.8123, "holdout_accuracy": 0.7},
        version_tags=version_tags(
            family="ensemble of lightgbm ×2, linear ×1",
            metric="roc_auc",
            gate="accuracy >= 0.75",
            gate_passed=False,
            promotion_reason="challenger: success gate not met",
        ),
    )
    registry.set_tags(info.version, version_tags(report="/p/.loopml/reports/churn-v1.html"))

    info = registry.version_info("1")
    assert (info.family, info.metric, info.holdout) == (
        "ensemble of lightgbm ×2, linear ×1",
        "roc_auc",
        0.8123,
    )
    assert (info.gate, info.gate_value, info.gate_passed) == ("accuracy >= 0.75", 0.7, False)
    assert info.describe_gate() == "FAILED (accuracy >= 0.75: 0.7)"
    assert info.report == "/p/.loopml/reports/churn-v1.html"
    data = info.to_dict()
    assert data["gate"] == {"expression": "accuracy >= 0.75", "value": 0.7, "passed": False}
    assert data["promotion_reason"] == "challenger: success gate not met"
    assert data["tags"] == {}  # checksums hidden, described tags shown as fields


def test_a_version_without_described_tags_falls_back_on_its_run(
    registry: Registry, bundle: ModelBundle
) -> None:
    _register(
        registry,
        bundle,
        params={"model_family": "linear", "metric": "roc_auc"},
        metrics={"holdout_roc_auc": 0.9},
        tags={"loopml.gate_passed": "true"},
    )

    info = registry.version_info("1")

    assert (info.family, info.metric, info.holdout, info.gate_passed) == (
        "linear",
        "roc_auc",
        0.9,
        True,
    )
    assert (info.gate, info.describe_gate()) == ("", "passed")


def test_no_gate_is_said_so(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle, version_tags=version_tags(gate="none", gate_passed=True))

    assert registry.version_info("1").describe_gate() == "no gate"
    assert registry.version_info("1").to_dict()["gate"]["expression"] is None


def test_the_new_champion_gives_up_its_challenger_alias(
    registry: Registry, bundle: ModelBundle
) -> None:
    _register(registry, bundle)
    _register(registry, bundle)
    registry.set_alias("1", "champion")
    registry.set_alias("2", "challenger")

    registry.set_alias("2", "champion")

    assert [(v.version, v.aliases) for v in registry.versions()] == [
        ("2", ("champion",)),
        ("1", ()),
    ]
    with pytest.raises(ModelNotFoundError, match=f"model '{NAME}' has no challenger yet"):
        registry.resolve("challenger")


def test_the_champion_cannot_be_made_challenger(registry: Registry, bundle: ModelBundle) -> None:
    _register(registry, bundle)
    registry.set_alias("1", "champion")

    with pytest.raises(
        RegistryError, match=r"^version 1 of 'churn' is the champion; a version cannot be both\."
    ):
        registry.set_alias("1", "challenger")
    assert registry.version_info("1").aliases == ("champion",)
