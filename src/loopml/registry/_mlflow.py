"""The MLflow-backed registry: runs, registered versions, aliases, verified loading."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loopml.errors import ModelNotFoundError, RegistryError
from loopml.registry._history import EVENT_TAG, AliasHistory, legacy_events, recorded_events
from loopml.registry._history import page as history_page
from loopml.registry._pyfunc_spec import requirements, signature
from loopml.registry._release import UNCHECKED, Publication, Release, move_alias
from loopml.registry._store import exclusive, open_client, scrub, shown_uri
from loopml.registry._store_reader import StoredRun, StoreReader, Unsupported, local_directory
from loopml.registry._version import (
    ALIASES,
    CHECKSUM_TAG,
    FAMILY_TAG,
    GATE_PASSED_TAG,
    GATE_TAG,
    METRIC_TAG,
    REASON_TAG,
    REPORT_TAG,
    RUN_NAME_TAG,
    ModelVersionInfo,
)

if TYPE_CHECKING:  # the bundle module loads pandas and numpy: imported where a bundle is made
    from loopml.registry._bundle import ModelBundle

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class _RunData:
    """What :meth:`Registry.register` logs on the run and tags on the version."""

    params: Mapping[str, Any]
    metrics: Mapping[str, float]
    artifacts: Mapping[str, Path]
    version_tags: dict[str, str]


def resolve_tracking_uri(uri: str, base_dir: Path) -> str:
    """Make a relative ``sqlite:///`` path absolute against the project directory."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = (base_dir / uri[len(prefix) :]).resolve()
        return prefix + str(path)
    return uri


class Registry:
    """Model registry and tracking for one project, on an MLflow tracking URI.

    Parameters
    ----------
    uri
        MLflow tracking URI (``sqlite:////abs/path/mlflow.db`` by default).
    experiment
        Experiment name for training runs.
    model_name
        Registered model name.
    artifact_root
        Where a new experiment stores artifacts (a local directory).
    """

    def __init__(self, uri: str, experiment: str, model_name: str, artifact_root: Path):
        self.uri = uri
        self.experiment = experiment
        self.model_name = model_name
        self.artifact_root = artifact_root
        self._client_obj: Any = None
        self._reader_obj: StoreReader | None = None

    # ------------------------------------------------------------------ plumbing

    def exists(self) -> bool:
        """False when the store was never created (nothing was ever registered)."""
        if self.uri.startswith("sqlite:///"):
            return Path(self.uri[len("sqlite:///") :]).is_file()
        return True

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            # MLflow's per-file download bars are noise for a model of a few files
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            for name in (
                "alembic",
                "mlflow.store.db.utils",
                "mlflow.tracking._model_registry",
                "mlflow.pyfunc",
                "mlflow.models.model",
            ):
                logging.getLogger(name).setLevel(logging.WARNING)
            self._client_obj = open_client(self.uri)
        return self._client_obj

    def _experiment_id(self) -> str:
        exp = self._client.get_experiment_by_name(self.experiment)
        if exp is not None:
            return str(exp.experiment_id)
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return str(
            self._client.create_experiment(
                self.experiment, artifact_location=self.artifact_root.resolve().as_uri()
            )
        )

    # ------------------------------------------------------------------ writing

    def register(
        self,
        bundle: ModelBundle,
        *,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        artifacts: Mapping[str, Path],
        tags: Mapping[str, str],
        version_tags: Mapping[str, str] | None = None,
        release: Release | None = None,
    ) -> ModelVersionInfo:
        """Log one training run with its model and register a new version.

        ``tags`` go on the run, ``version_tags`` (family, metric, gate, ...) on the version
        (:class:`~loopml.registry.RunRecord` builds all four). With ``release``, the version
        also gets its alias and its report in the same step.

        All or nothing: if anything fails, the aliases and their reasons are as they were,
        no report file is left, the run and the version are deleted, and the error is raised.
        """
        client = self._client
        experiment_id = self._experiment_id()
        run = client.create_run(experiment_id, tags=dict(tags), run_name=tags.get(RUN_NAME_TAG))
        run_id = run.info.run_id
        version: str | None = None
        publication: Publication | None = None
        try:
            version = self._log_model(
                run_id, bundle, _RunData(params, metrics, artifacts, dict(version_tags or {}))
            )
            client.set_terminated(run_id, "FINISHED")
            if release is not None:
                publication = Publication(self, version, release)
                with exclusive(self.uri, self.model_name):
                    publication.apply()
        except BaseException as exc:
            if publication is not None:
                publication.undo()
            self._rollback(experiment_id, run_id, version)
            if isinstance(exc, Exception) and not isinstance(exc, RegistryError):
                where = f" while {publication.step}" if publication is not None else ""
                raise RegistryError(
                    f"registering the model failed{where}: {scrub(str(exc), self.uri)}. "
                    "Nothing was registered; "
                    "the aliases are as they were."
                ) from exc
            raise
        return self.version_info(version)

    def _log_model(self, run_id: str, bundle: ModelBundle, run: _RunData) -> str:
        """Log the run's data and the model into run ``run_id``; register it; its version."""
        import mlflow
        import mlflow.pyfunc

        client = self._client
        with tempfile.TemporaryDirectory() as tmp:
            bundle_dir = Path(tmp) / "bundle"
            checksums = bundle.save(bundle_dir)
            for key, value in run.params.items():
                client.log_param(run_id, key, _short(value))
            for key, value in run.metrics.items():
                if value == value:  # NaN is not loggable as a metric
                    client.log_metric(run_id, key, float(value))
            for name, path in run.artifacts.items():
                client.log_artifact(run_id, str(path), artifact_path=name)
            with (
                _global_uris(self.uri),
                mlflow.start_run(run_id=run_id),
                warnings.catch_warnings(),
            ):
                # MLflow nudges towards type hints and input examples; our explicit
                # signature and bundle schema cover what those would give.
                warnings.simplefilter("ignore", UserWarning)
                info = mlflow.pyfunc.log_model(
                    name="model",
                    # "models from code": MLflow runs this file to build the model, so
                    # nothing is cloudpickled; code_paths ships the loopml package.
                    python_model=str(Path(__file__).with_name("_pyfunc_model.py")),
                    artifacts={"bundle": str(bundle_dir)},
                    code_paths=[str(Path(__file__).resolve().parents[1])],  # the loopml package
                    pip_requirements=requirements(),
                    signature=signature(bundle),
                )
                self._ensure_registered_model()
                # inside: MLflow resolves the models:/ source through the global URIs
                mv = client.create_model_version(
                    self.model_name,
                    source=info.model_uri,
                    run_id=run_id,
                    tags={
                        **run.version_tags,
                        **{CHECKSUM_TAG + k: v for k, v in checksums.items()},
                    },
                )
                return str(mv.version)

    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._client.get_registered_model(self.model_name)
        except MlflowException:
            self._client.create_registered_model(self.model_name)

    def _rollback(self, experiment_id: str, run_id: str, version: str | None) -> None:
        """Undo a partial registration: version, logged model, run, and their local files."""
        client = self._client
        with contextlib.suppress(Exception):
            versions = [version] if version is not None else []
            if not versions:  # created, but the step failed before it returned the number
                found = client.search_model_versions(f"run_id = '{run_id}'")
                versions = [str(mv.version) for mv in found if mv.name == self.model_name]
            for number in versions:
                client.delete_model_version(self.model_name, number)
        with contextlib.suppress(Exception):
            if not client.search_model_versions(f"name = '{self.model_name}'"):
                client.delete_registered_model(self.model_name)
        with contextlib.suppress(Exception):
            for logged in client.search_logged_models(
                experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
            ):
                client.delete_logged_model(logged.model_id)
                _remove_local(logged.artifact_location)
        with contextlib.suppress(Exception):
            _remove_local(client.get_run(run_id).info.artifact_uri)
        with contextlib.suppress(Exception):
            client.delete_run(run_id)

    def set_alias(self, version: str, alias: str) -> None:
        """Point ``alias`` at ``version``; it leaves the version that held it.

        A version is never both champion and challenger: the champion-to-be gives up its
        challenger alias, and the champion cannot be made challenger.
        """
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r}; use one of {', '.join(ALIASES)}")
        info = self.version_info(version)  # raises if absent
        if alias == "challenger" and "champion" in info.aliases:
            raise RegistryError(
                f"version {info.version} of {self.model_name!r} is the champion; a version "
                "cannot be both. Promote another version to champion first."
            )
        self._client.set_registered_model_alias(self.model_name, alias, str(info.version))
        if alias == "champion" and "challenger" in info.aliases:
            self.delete_alias("challenger")

    def move_alias(
        self,
        version: str,
        alias: str,
        reason: str,
        *,
        held_by: str | None = UNCHECKED,
        actor: str = "promote",
    ) -> bool:
        """Point ``alias`` at ``version`` with ``reason`` as its promotion reason; the version
        that held the alias records that it lost it, and the alias history what ``actor``
        did. All or nothing (see :func:`move_alias`); one move or publication at a time
        across processes.

        With ``held_by`` (a version, or None for nobody), the alias moves only if it is still
        held by that version when the move starts; False when it is not (nothing changed).
        """
        self._client  # noqa: B018 - opened before the lock: opening takes the store's own
        with exclusive(self.uri, self.model_name):
            if held_by != UNCHECKED:
                try:
                    holder: str | None = self.resolve(alias)
                except ModelNotFoundError:
                    holder = None
                if holder != held_by:
                    return False
            move_alias(self, version, alias, reason, actor=actor)
        return True

    def log_to_run(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] = {},
        metrics: Mapping[str, float] = {},
        tags: Mapping[str, str] = {},
    ) -> None:
        """Add parameters, metrics (NaN skipped) and tags to a finished run, e.g. the
        retraining decision on the challenger's training run. Tags may be overwritten later;
        parameters may not."""
        client = self._client
        for key, value in params.items():
            client.log_param(run_id, key, _short(value))
        for key, value in metrics.items():
            if value == value:
                client.log_metric(run_id, key, float(value))
        for key, value in tags.items():
            client.set_tag(run_id, key, value)

    def set_tags(self, version: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags of a version, e.g. its promotion reason and report."""
        for key, value in tags.items():
            self._client.set_model_version_tag(self.model_name, str(version), key, value)

    def delete_alias(self, alias: str) -> None:
        with contextlib.suppress(Exception):
            self._client.delete_registered_model_alias(self.model_name, alias)

    # ------------------------------------------------------------------ reading
    #
    # On a local SQLite store the reads go straight to MLflow's tables (StoreReader), so
    # `models list`, `models show`, `score` and `evaluate` never import MLflow; where the reader
    # cannot answer exactly as MLflow would, MLflow's client answers.

    def _read(self, stored: Callable[[StoreReader], T], through_mlflow: Callable[[], T]) -> T:
        """``stored(reader)`` where the store can be read without MLflow, else
        ``through_mlflow()``."""
        if self._reader_obj is None:
            self._reader_obj = StoreReader.open(self.uri, self.model_name)
        if self._reader_obj is not None:
            try:
                return stored(self._reader_obj)
            except Unsupported as exc:
                log.debug("reading %s through MLflow: %s", shown_uri(self.uri), exc)
        return through_mlflow()

    def versions(self) -> list[ModelVersionInfo]:
        if not self.exists():
            return []

        def stored(reader: StoreReader) -> list[ModelVersionInfo]:
            return [
                self._info(mv, list(mv.aliases), _stored_run(reader, mv.run_id))
                for mv in reader.versions()
            ]

        def through_mlflow() -> list[ModelVersionInfo]:
            found = self._client.search_model_versions(f"name = '{self.model_name}'")
            # search results carry no aliases; the registered model has them all
            aliases: dict[str, list[str]] = {}
            if found:
                model = self._client.get_registered_model(self.model_name)
                for alias, version in (getattr(model, "aliases", None) or {}).items():
                    aliases.setdefault(str(version), []).append(alias)
            return [
                self._info(mv, aliases.get(str(mv.version), []), self._client_run(mv.run_id))
                for mv in found
            ]

        infos = self._read(stored, through_mlflow)
        return sorted(infos, key=lambda i: int(i.version), reverse=True)

    def resolve(self, ref: str | int) -> str:
        """A version number for ``ref`` (a number, ``champion``, ``challenger`` or ``latest``)."""
        ref = str(ref)
        if ref.isdigit():
            return ref
        if not self.exists():
            raise ModelNotFoundError(
                f"no model is registered yet (no store at {shown_uri(self.uri)}). Run "
                "`loopml train` first."
            )
        if ref == "latest":
            versions = self.versions()
            if not versions:
                raise ModelNotFoundError(f"model {self.model_name!r} has no versions yet.")
            return versions[0].version
        if ref not in ALIASES:
            raise ModelNotFoundError(
                f"unknown model reference {ref!r}; use a version number, champion, challenger "
                "or latest."
            )
        missing = (
            f"model {self.model_name!r} has no {ref} yet. Train one with `loopml train`, or "
            "promote a version with `loopml models promote VERSION`."
        )

        def stored(reader: StoreReader) -> str:
            mv = reader.alias(ref)
            if mv is None:
                raise ModelNotFoundError(missing)
            return mv.version

        def through_mlflow() -> str:
            from mlflow.exceptions import MlflowException

            try:
                mv = self._client.get_model_version_by_alias(self.model_name, ref)
            except MlflowException as exc:
                raise ModelNotFoundError(missing) from exc
            return str(mv.version)

        return self._read(stored, through_mlflow)

    def version_info(self, ref: str | int | None) -> ModelVersionInfo:
        version = self.resolve(ref if ref is not None else "latest")
        missing = f"model {self.model_name!r} has no version {version}. See `loopml models list`."

        def stored(reader: StoreReader) -> ModelVersionInfo:
            mv = reader.version(version)
            if mv is None:
                raise ModelNotFoundError(missing)
            return self._info(mv, None, _stored_run(reader, mv.run_id))

        def through_mlflow() -> ModelVersionInfo:
            from mlflow.exceptions import MlflowException

            try:
                mv = self._client.get_model_version(self.model_name, version)
            except MlflowException as exc:
                raise ModelNotFoundError(missing) from exc
            return self._info(mv, None, self._client_run(mv.run_id))

        return self._read(stored, through_mlflow)

    def alias_history(self, *, limit: int = 50, offset: int = 0) -> AliasHistory:
        """Alias moves, newest first, ``limit`` of them from ``offset``, with their total.

        Each move recorded its events (see :mod:`loopml.registry._history`); versions moved
        before loopml recorded them tell their latest move through their promotion reason.
        """
        if not self.exists():
            return AliasHistory([], 0, limit, offset)

        def through_mlflow() -> dict[str, str | None]:
            from mlflow.exceptions import MlflowException

            try:
                return dict(self._client.get_registered_model(self.model_name).tags or {})
            except MlflowException:
                return {}

        tags = self._read(lambda reader: reader.model_tags(EVENT_TAG), through_mlflow)
        recorded = recorded_events(tags)
        return history_page(recorded + legacy_events(self.versions(), recorded), limit, offset)

    def _client_run(self, run_id: str | None) -> StoredRun:
        """The run's metrics, parameters and tags through MLflow; empty if it has none."""
        if run_id:
            with contextlib.suppress(Exception):
                data = self._client.get_run(run_id).data
                return StoredRun(dict(data.metrics), dict(data.params), dict(data.tags))
        return StoredRun()

    def _info(self, mv: Any, aliases: list[str] | None, run: StoredRun) -> ModelVersionInfo:
        """``mv`` is MLflow's ``ModelVersion`` or the reader's ``StoredVersion``."""
        created = ""
        if mv.creation_timestamp:
            import datetime as dt

            created = dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=dt.UTC).strftime(
                "%Y-%m-%d %H:%M:%S UTC"
            )
        tags = dict(mv.tags or {})
        params, run_tags = run.params, run.tags
        passed = tags.get(GATE_PASSED_TAG, run_tags.get(GATE_PASSED_TAG))
        return ModelVersionInfo(
            name=self.model_name,
            version=str(mv.version),
            run_id=mv.run_id or "",
            aliases=tuple(sorted(aliases or getattr(mv, "aliases", None) or [])),
            created=created,
            metrics=dict(run.metrics),
            tags=tags,
            # versions registered before these tags existed: what their run recorded
            family=tags.get(FAMILY_TAG, params.get("model_family", "")),
            metric=tags.get(METRIC_TAG, params.get("metric", "")),
            gate=tags.get(GATE_TAG, ""),
            gate_passed=None if passed is None else passed == "true",
            promotion_reason=tags.get(REASON_TAG, ""),
            report=tags.get(REPORT_TAG, ""),
        )

    def _local_files(self, version: str) -> Path | None:
        """The bundle directory of a version whose files are in a local artifact store, read
        in place (no MLflow, no copy); None where they must be downloaded through MLflow."""

        def stored(reader: StoreReader) -> Path | None:
            mv = reader.version(version)
            root = local_directory(mv.download_uri) if mv is not None else None
            return _find_bundle(root) if root is not None else None

        return self._read(stored, lambda: None)

    @contextlib.contextmanager
    def _downloaded(self, version: str) -> Iterator[Path]:
        import mlflow.artifacts

        with tempfile.TemporaryDirectory() as tmp:
            try:
                uri = self._client.get_model_version_download_uri(self.model_name, version)
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=tmp, tracking_uri=self.uri
                )
            except Exception as exc:
                raise RegistryError(
                    f"cannot fetch model {self.model_name!r} version {version}: "
                    f"{scrub(str(exc), self.uri)}"
                ) from exc
            found = _find_bundle(Path(local))
            if found is None:
                raise RegistryError(f"model version {version} holds no loopml bundle.")
            yield found

    def load(self, ref: str | int = "champion") -> tuple[ModelBundle, ModelVersionInfo]:
        """The bundle of a version, its files checked against the checksums registered.

        Files in a local artifact store are verified and loaded where they are; others are
        downloaded through MLflow first.
        """
        from loopml.registry._bundle import ModelBundle

        info = self.version_info(ref)
        expected = {
            k[len(CHECKSUM_TAG) :]: v for k, v in info.tags.items() if k.startswith(CHECKSUM_TAG)
        }
        if not expected:
            raise RegistryError(
                f"model {self.model_name!r} version {info.version} has no recorded checksums; "
                "it was not registered by loopml."
            )
        local = self._local_files(info.version)
        if local is not None:
            return ModelBundle.load(local, expected=expected), info
        with self._downloaded(info.version) as bundle_dir:
            bundle = ModelBundle.load(bundle_dir, expected=expected)
        return bundle, info

    def report_path(self, run_id: str, name: str, dst: Path) -> Path | None:
        """Download artifact ``name`` of a run into ``dst``; None if it has none."""
        try:
            local = self._client.download_artifacts(run_id, name, str(dst))
        except Exception:
            return None
        return Path(local)

    def wipe(self) -> None:
        """Remove a sqlite store entirely (used only by tests and `forget`)."""
        if self.uri.startswith("sqlite:///"):
            Path(self.uri[len("sqlite:///") :]).unlink(missing_ok=True)
        shutil.rmtree(self.artifact_root, ignore_errors=True)


def _stored_run(reader: StoreReader, run_id: str | None) -> StoredRun:
    """The run's metrics, parameters and tags from the store; empty if it has none."""
    return (reader.run(run_id) if run_id else None) or StoredRun()


def _find_bundle(root: Path) -> Path | None:
    """The loopml bundle inside a registered MLflow model's directory (``artifacts/bundle``)."""
    from loopml.registry._bundle import MANIFEST_FILE

    if (root / "artifacts" / "bundle" / MANIFEST_FILE).is_file():
        return root / "artifacts" / "bundle"
    found = next(root.rglob(MANIFEST_FILE), None)
    return found.parent if found is not None else None


@contextlib.contextmanager
def _global_uris(uri: str) -> Iterator[None]:
    """MLflow's fluent logging reads process-wide URIs; set them only while we log."""
    import mlflow

    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry)


def _remove_local(uri: str | None) -> None:
    if uri and uri.startswith("file://"):
        shutil.rmtree(uri[len("file://") :], ignore_errors=True)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 6000 else text[:5997] + "..."
