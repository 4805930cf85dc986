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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loopml.errors import ModelNotFoundError, RegistryError
from loopml.registry._store_reader import StoredRun, StoreReader, Unsupported, local_directory

if TYPE_CHECKING:  # the bundle module loads pandas and numpy: imported where a bundle is made
    from loopml.registry._bundle import ModelBundle

log = logging.getLogger(__name__)

T = TypeVar("T")

ALIASES = ("champion", "challenger")
CHECKSUM_TAG = "loopml.sha256."

#: Version tags that describe a version; ModelVersionInfo shows them as fields.
FAMILY_TAG = "loopml.family"
METRIC_TAG = "loopml.metric"
GATE_TAG = "loopml.gate"  # the success gate's expression, or "none"
GATE_PASSED_TAG = "loopml.gate_passed"  # "true" | "false"
REASON_TAG = "loopml.promotion_reason"  # why the version holds its alias (or lost it)
REPORT_TAG = "loopml.report"  # the HTML report written next to the project
FIELD_TAGS = (FAMILY_TAG, METRIC_TAG, GATE_TAG, GATE_PASSED_TAG, REASON_TAG, REPORT_TAG)


def version_tags(
    *,
    family: str | None = None,
    metric: str | None = None,
    gate: str | None = None,
    gate_passed: bool | None = None,
    promotion_reason: str | None = None,
    report: str | None = None,
) -> dict[str, str]:
    """The version tags behind :class:`ModelVersionInfo`'s fields; only those given.

    ``gate`` is the success gate's expression; pass ``"none"`` when no gate is set.

    Examples
    --------
    >>> version_tags(family="linear", gate_passed=True)
    {'loopml.family': 'linear', 'loopml.gate_passed': 'true'}
    """
    given = {
        FAMILY_TAG: family,
        METRIC_TAG: metric,
        GATE_TAG: gate,
        GATE_PASSED_TAG: None if gate_passed is None else str(gate_passed).lower(),
        REASON_TAG: promotion_reason,
        REPORT_TAG: report,
    }
    return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered model version as the registry sees it.

    ``family``, ``metric``, ``gate``, ``gate_passed``, ``promotion_reason`` and ``report``
    come from the version's tags (or, for versions registered before loopml wrote them, from
    its run's parameters and tags); empty or None when unknown.
    """

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    created: str
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    family: str = ""
    metric: str = ""
    gate: str = ""  # "" when unknown, "none" when no gate was set
    gate_passed: bool | None = None
    promotion_reason: str = ""
    report: str = ""

    @property
    def holdout(self) -> float | None:
        """The primary metric on the holdout."""
        return self.metrics.get(f"holdout_{self.metric}") if self.metric else None

    @property
    def gate_value(self) -> float | None:
        """The gated metric's holdout value."""
        if not self.gate or self.gate == "none":
            return None
        return self.metrics.get(f"holdout_{self.gate.split()[0]}")

    def describe_gate(self) -> str:
        """``passed (roc_auc >= 0.75: 0.8123)``, ``FAILED (...)``, ``no gate`` or ``-``."""
        if self.gate == "none":
            return "no gate"
        if self.gate_passed is None:
            return "-"
        verdict = "passed" if self.gate_passed else "FAILED"
        if not self.gate:
            return verdict
        value = self.gate_value
        shown = f": {value:.4g}" if value is not None else ""
        return f"{verdict} ({self.gate}{shown})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "created": self.created,
            "family": self.family or None,
            "metric": self.metric or None,
            "holdout": self.holdout,
            "gate": {
                "expression": None if self.gate in ("", "none") else self.gate,
                "value": self.gate_value,
                "passed": self.gate_passed,
            },
            "promotion_reason": self.promotion_reason or None,
            "report": self.report or None,
            "metrics": self.metrics,
            "tags": {
                k: v
                for k, v in self.tags.items()
                if not k.startswith(CHECKSUM_TAG) and k not in FIELD_TAGS
            },
        }


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
            from mlflow import MlflowClient

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
            if self.uri.startswith("sqlite:///"):
                Path(self.uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client_obj = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            except Exception as exc:
                raise RegistryError(f"cannot open the MLflow store {self.uri}: {exc}") from exc
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
    ) -> ModelVersionInfo:
        """Log one training run with its model and register a new version.

        ``tags`` go on the run, ``version_tags`` (family, metric, gate, ...) on the version.
        Atomic for the user: if anything fails, the run and the version are deleted again.
        """
        import mlflow
        import mlflow.pyfunc

        client = self._client
        experiment_id = self._experiment_id()
        run = client.create_run(
            experiment_id, tags=dict(tags), run_name=tags.get("loopml.run_name")
        )
        run_id = run.info.run_id
        version: str | None = None
        try:
            with tempfile.TemporaryDirectory() as tmp:
                bundle_dir = Path(tmp) / "bundle"
                checksums = bundle.save(bundle_dir)
                for key, value in params.items():
                    client.log_param(run_id, key, _short(value))
                for key, value in metrics.items():
                    if value == value:  # NaN is not loggable as a metric
                        client.log_metric(run_id, key, float(value))
                for name, path in artifacts.items():
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
                        pip_requirements=_requirements(),
                        signature=_signature(bundle),
                    )
                    self._ensure_registered_model()
                    # inside: MLflow resolves the models:/ source through the global URIs
                    mv = client.create_model_version(
                        self.model_name,
                        source=info.model_uri,
                        run_id=run_id,
                        tags={
                            **dict(version_tags or {}),
                            **{CHECKSUM_TAG + k: v for k, v in checksums.items()},
                        },
                    )
                    version = str(mv.version)
            client.set_terminated(run_id, "FINISHED")
        except BaseException as exc:
            self._rollback(experiment_id, run_id, version)
            if isinstance(exc, Exception) and not isinstance(exc, RegistryError):
                raise RegistryError(f"registering the model failed: {exc}") from exc
            raise
        return self.version_info(version)

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
            if version is not None:
                client.delete_model_version(self.model_name, version)
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
                log.debug("reading %s through MLflow: %s", self.uri, exc)
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
                f"no model is registered yet (no store at {self.uri}). Run `loopml train` first."
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
                    f"cannot fetch model {self.model_name!r} version {version}: {exc}"
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


def _requirements() -> list[str]:
    """Pinned requirements of the running environment, so MLflow does not infer them."""
    from importlib.metadata import PackageNotFoundError, version

    names = [
        "mlflow",
        "scikit-learn",
        "lightgbm",
        "pandas",
        "numpy",
        "pyarrow",
        "joblib",
        "pydantic",
        "pyyaml",
        "optuna",
    ]
    reqs = []
    for name in names:
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return reqs


def _signature(bundle: ModelBundle) -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    def kind(dtype: str) -> str:
        # the type the column had in the training data, so the same kind of input passes
        if dtype.startswith(("int", "Int", "uint")):
            return "long"
        if dtype.startswith(("float", "Float")):
            return "double"
        if dtype == "bool":
            return "boolean"
        if dtype.startswith("datetime"):
            return "datetime"
        return "string"

    inputs = Schema(
        [ColSpec(kind(c.dtype), c.name, required=False) for c in bundle.schema.feature_columns]
    )
    out_type = "double" if bundle.problem.task == "regression" else "string"
    outputs = Schema(
        [
            ColSpec(out_type, "prediction"),
            *(ColSpec("double", f"proba_{c}") for c in bundle.problem.classes),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)
