"""The registry's reads straight from MLflow's SQLite tables (loopml.registry._store_reader).

A real registry is built through ``Registry.register`` (tiny trained bundles), its aliases
moved, tags set and a version deleted; every read the registry makes is then answered twice,
by the reader and by MLflow's client, and must agree field for field. A store the reader does
not recognise is read by MLflow.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.store.db.utils import _get_latest_schema_revision
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from loopml.errors import ModelNotFoundError
from loopml.registry import ModelBundle, ModelVersionInfo, Registry, version_tags
from loopml.registry import _store_reader as store_reader
from loopml.registry._store_reader import (
    StoredVersion,
    StoreReader,
    local_directory,
    sqlite_path,
)

NAME = "churn"
REFS = ["1", "2", "3", "4", "99", "007", "champion", "challenger", "latest"]


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's process-wide URIs, as Registry.register leaves them, are put back."""
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ENABLE_WORKSPACES"):
        monkeypatch.delenv(var, raising=False)


def _registry(directory: Path) -> Registry:
    return Registry(
        uri=f"sqlite:///{directory}/mlflow.db",
        experiment="churn-training",
        model_name=NAME,
        artifact_root=directory / "artifacts",
    )


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, make_bundle: Callable[..., ModelBundle]
) -> Path:
    """Four versions registered; champion moved from 1 to 2 (which gives up challenger),
    challenger on 4, version 3 deleted, a NaN metric, a version described only by its run."""
    directory = tmp_path_factory.mktemp("store")
    registry = _registry(directory)
    bundle = make_bundle()

    def register(**options: Any) -> ModelVersionInfo:
        given: dict[str, Any] = {"params": {}, "metrics": {}, "artifacts": {}, "tags": {}}
        return registry.register(bundle, **{**given, **options})

    # registered before loopml tagged versions: family, metric and gate come from the run
    register(
        params={"model_family": "linear", "metric": "roc_auc"},
        metrics={"holdout_roc_auc": 0.9, "cv_roc_auc": 0.85},
        tags={"loopml.gate_passed": "true"},
    )
    for family, score in (("lightgbm", 0.93), ("forest", 0.91), ("ensemble", 0.92)):
        register(
            params={"model_family": family, "metric": "roc_auc"},
            metrics={"holdout_roc_auc": score, "holdout_accuracy": score - 0.1},
            version_tags=version_tags(
                family=family, metric="roc_auc", gate="roc_auc >= 0.75", gate_passed=True
            ),
        )
    registry.set_alias("2", "challenger")
    registry.set_alias("1", "champion")
    registry.set_alias("2", "champion")  # 2 gives up challenger
    registry.set_alias("4", "challenger")
    registry.set_tags("1", version_tags(promotion_reason="was champion until version 2"))
    registry.set_tags("2", version_tags(report=str(directory / "report.html")))
    client = registry._client
    client.log_metric(registry.version_info("4").run_id, "holdout_log_loss", math.nan)
    client.delete_model_version(NAME, "3")
    return directory


@pytest.fixture
def copy(store: Path, tmp_path: Path) -> Path:
    """The store copied, for a test that changes it."""
    shutil.copyfile(store / "mlflow.db", tmp_path / "mlflow.db")
    return tmp_path


@contextmanager
def _without_mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reads that must not reach MLflow's client (so the reader answered, not a fallback)."""
    with monkeypatch.context() as m:
        m.setattr(Registry, "_client", property(lambda self: pytest.fail("MLflow was asked")))
        yield


@contextmanager
def _through_mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reads answered by MLflow's client, as before the reader existed."""
    with monkeypatch.context() as m:
        m.setattr(StoreReader, "open", classmethod(lambda cls, uri, name: None))
        yield


def _answer(read: Callable[[], Any]) -> Any:
    """A read's result, or the error it raised (type and message), comparable as JSON."""
    try:
        result = read()
    except ModelNotFoundError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return json.dumps(_plain(result))  # NaN == NaN once written; dict order is compared too


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, ModelVersionInfo):
        return dataclasses.asdict(value)
    return value


def _reads(registry: Registry) -> dict[str, Any]:
    return {
        "versions": _answer(registry.versions),
        **{f"resolve {ref}": _answer(lambda ref=ref: registry.resolve(ref)) for ref in REFS},
        **{f"info {ref}": _answer(lambda ref=ref: registry.version_info(ref)) for ref in REFS},
    }


# ---------------------------------------------------------------------------- agreement


def test_the_reader_and_mlflow_agree_on_every_read(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _without_mlflow(monkeypatch):
        read = _reads(_registry(store))
    with _through_mlflow(monkeypatch):
        expected = _reads(_registry(store))

    assert read == expected
    # and the store is what the fixture says, so the agreement covers each case
    versions = json.loads(read["versions"])
    assert [(v["version"], v["aliases"]) for v in versions] == [
        ("4", ["challenger"]),
        ("2", ["champion"]),
        ("1", []),
    ]
    assert versions[2]["family"] == "linear" and versions[2]["gate_passed"] is True
    assert math.isnan(versions[0]["metrics"]["holdout_log_loss"])
    assert read["info 3"]["message"].startswith(f"model {NAME!r} has no version 3")
    assert read["resolve latest"] == json.dumps("4")


def test_stored_records_equal_what_mlflow_client_returns(store: Path) -> None:
    reader = StoreReader.open(f"sqlite:///{store}/mlflow.db", NAME)
    assert reader is not None
    client = mlflow.MlflowClient(
        tracking_uri=f"sqlite:///{store}/mlflow.db", registry_uri=f"sqlite:///{store}/mlflow.db"
    )
    searched = client.search_model_versions(f"name = '{NAME}'")
    assert [v.version for v in reader.versions()] == [str(mv.version) for mv in searched]
    for stored in reader.versions():
        mv = client.get_model_version(NAME, stored.version)
        assert stored == StoredVersion(
            version=str(mv.version),
            run_id=mv.run_id,
            creation_timestamp=mv.creation_timestamp,
            tags=mv.tags,
            aliases=tuple(sorted(mv.aliases)),
            download_uri=client.get_model_version_download_uri(NAME, stored.version),
        )
        assert list(stored.tags) == list(mv.tags)  # in the same order too
        run = reader.run(stored.run_id or "")
        data = client.get_run(mv.run_id).data
        assert run is not None
        assert (json.dumps(run.metrics), run.params, run.tags) == (
            json.dumps(data.metrics),
            data.params,
            data.tags,
        )
    for alias in ("champion", "challenger"):
        assert reader.alias(alias).version == str(  # type: ignore[union-attr]
            client.get_model_version_by_alias(NAME, alias).version
        )
    assert reader.version("3") is None  # deleted
    assert reader.run("0" * 32) is None


def test_a_version_loads_from_the_artifact_store_in_place(
    store: Path, churn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry(store)
    with _without_mlflow(monkeypatch):
        bundle, info = registry.load("champion")
        where = registry._local_files(info.version)
    with _through_mlflow(monkeypatch):
        downloaded, expected = _registry(store).load("champion")

    assert where is not None and where.is_relative_to(store / "artifacts")
    assert (where / "pipeline.joblib").is_file()
    assert info == expected
    assert bundle.manifest() == downloaded.manifest()
    assert bundle.predict_frame(churn).equals(downloaded.predict_frame(churn))


def test_artifacts_that_are_not_local_files_are_downloaded_through_mlflow(
    store: Path, churn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a version whose artifacts live elsewhere (a bucket, a server): MLflow fetches them
    monkeypatch.setattr("loopml.registry._mlflow.local_directory", lambda uri: None)
    registry = _registry(store)
    bundle, info = registry.load("2")
    assert registry._client_obj is not None  # MLflow was opened to download
    assert info.version == "2" and bundle.predict_frame(churn).shape[0] == len(churn)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///srv/mlruns/1/abc/artifacts", "/srv/mlruns/1/abc/artifacts"),
        ("file:///srv/with%20space", "/srv/with space"),
        ("/srv/plain/path", "/srv/plain/path"),
        ("models:/m-123", None),
        ("runs:/abc/model", None),
        ("s3://bucket/model", None),
        ("file://otherhost/srv/x", None),
        (None, None),
    ],
)
def test_local_directory_names_only_local_files(
    uri: str | None, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Path, "is_dir", lambda self: True)
    found = local_directory(uri)
    assert (str(found) if found else None) == expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:////srv/p/.loopml/mlflow.db", "/srv/p/.loopml/mlflow.db"),
        ("sqlite:///relative/mlflow.db", None),
        ("sqlite://", None),
        ("sqlite:////srv/mlflow.db?timeout=20", None),
        ("postgresql://db/mlflow", None),
        ("http://127.0.0.1:5000", None),
    ],
)
def test_only_a_local_sqlite_file_is_read_directly(uri: str, expected: str | None) -> None:
    found = sqlite_path(uri)
    assert (str(found) if found else None) == expected


def test_the_installed_head_revision_is_mlflows_own() -> None:
    assert store_reader.installed_head() == _get_latest_schema_revision()
    assert store_reader.installed_head() in store_reader.VERIFIED_REVISIONS


# ---------------------------------------------------------------------------- fallbacks


def _execute(directory: Path, *statements: str) -> None:
    with sqlite3.connect(directory / "mlflow.db") as con:
        for statement in statements:
            con.execute(statement)


def test_an_unknown_schema_revision_is_left_to_mlflow(copy: Path) -> None:
    _execute(copy, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", NAME) is None
    # MLflow answered, as it always did: it refuses a schema it does not know
    with pytest.raises(Exception, match="out-of-date database schema"):
        _registry(copy).versions()


def test_a_missing_column_is_left_to_mlflow(copy: Path) -> None:
    _execute(copy, "ALTER TABLE model_versions DROP COLUMN storage_location")
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", NAME) is None


def test_a_missing_table_is_left_to_mlflow(copy: Path) -> None:
    _execute(copy, "DROP TABLE registered_model_aliases")
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", NAME) is None


def test_a_newer_mlflow_schema_is_read_by_mlflow(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an MLflow whose head revision this reader was never checked against
    expected = _answer(_registry(copy).versions)
    monkeypatch.setattr(store_reader, "VERIFIED_REVISIONS", frozenset())
    registry = _registry(copy)
    assert _answer(registry.versions) == expected
    assert registry._reader_obj is None and registry._client_obj is not None


def test_enabled_workspaces_are_left_to_mlflow(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", NAME) is not None
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", NAME) is None


def test_rows_outside_the_default_workspace_are_left_to_mlflow(copy: Path) -> None:
    _execute(copy, "UPDATE experiments SET workspace = 'team-a' WHERE experiment_id = 1")
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", NAME) is None


@pytest.mark.parametrize("name", ["a/b", "a:b", "..", "it's", " churn", "churn\n"])
def test_a_name_mlflow_treats_specially_is_left_to_mlflow(copy: Path, name: str) -> None:
    assert StoreReader.open(f"sqlite:///{copy}/mlflow.db", name) is None


def test_a_model_that_is_a_prompt_is_read_as_mlflow_reads_it(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow hides prompts from model searches; the reader lets MLflow decide
    _execute(
        copy,
        "INSERT INTO model_version_tags (key, value, name, version, workspace) "
        f"VALUES ('mlflow.prompt.is_prompt', 'true', '{NAME}', 4, 'default')",
    )
    with _through_mlflow(monkeypatch):
        expected = _answer(_registry(copy).versions)
    assert _answer(_registry(copy).versions) == expected == json.dumps([])


def test_a_store_that_does_not_exist_yet_is_not_read(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    assert StoreReader.open(registry.uri, NAME) is None
    assert registry.versions() == []
    assert registry._client_obj is None  # nothing was created
