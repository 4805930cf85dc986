"""``ModelBundle``: the fitted pipeline with everything needed to trust and use it.

On disk a bundle is a directory::

    manifest.json    format version, problem, schema, metrics, config snapshot, reference
                     statistics, and the sha256 of every other file
    pipeline.joblib  the fitted scikit-learn Pipeline

Checksums are verified before anything is unpickled; the registry also keeps them as model
version tags, so a file changed after registration is refused even if its manifest was
rewritten too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.data import Problem, Schema
from loopml.errors import IntegrityError, RegistryError
from loopml.files import write_text_atomic

if TYPE_CHECKING:  # scikit-learn and joblib load when a pipeline is saved or loaded, not before
    from sklearn.pipeline import Pipeline

FORMAT_VERSION = 1
PIPELINE_FILE = "pipeline.joblib"
MANIFEST_FILE = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelBundle:
    """A trained model as registered: pipeline, schema, problem, metrics and provenance."""

    pipeline: Pipeline
    schema: Schema
    problem: Problem
    metrics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    id_columns: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def sensitive_columns(self) -> tuple[str, ...]:
        """The columns whose groups were compared for fairness when it was trained
        (``problem.sensitive_columns``): the service logs them, monitoring compares them."""
        problem = self.config.get("problem") or {}
        return tuple(problem.get("sensitive_columns") or ())

    # ---------------------------------------------------------------- prediction

    def output_columns(self) -> list[str]:
        cols = ["prediction"]
        if self.problem.is_classification:
            cols += [f"proba_{c}" for c in self.problem.classes]
        if self.problem.task == "anomaly":
            cols.append("anomaly_score")
        return cols

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions (and class probabilities) for ``frame``, indexed like it; an anomaly
        model's prediction is its flag, ``proba_True`` the flag's probability (0.5 at the
        threshold) and ``anomaly_score`` the raw score (a robust z-score)."""
        from loopml.modeling import decide

        self.schema.check(frame.columns, where="the input")
        if self.problem.task == "regression":
            pred = np.asarray(self.pipeline.predict(frame), dtype=float)
            return pd.DataFrame({"prediction": pred}, index=frame.index)
        raw = self.pipeline.predict_proba(frame)
        classes = list(self.problem.classes)
        proba = np.zeros((len(frame), len(classes)))
        for j, c in enumerate(self.pipeline.classes_):
            proba[:, classes.index(c)] = raw[:, j]
        out = pd.DataFrame(
            {f"proba_{c}": proba[:, j] for j, c in enumerate(classes)}, index=frame.index
        )
        out.insert(0, "prediction", decide(self.pipeline, proba, classes))
        if self.problem.task == "anomaly":
            typed = self.pipeline[:-1].transform(frame)
            out["anomaly_score"] = self.pipeline[-1].score_samples(typed)
        return out

    # ---------------------------------------------------------------- persistence

    def manifest(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "problem": self.problem.to_dict(),
            "schema": self.schema.to_dict(),
            "metrics": self.metrics,
            "config": self.config,
            "reference": self.reference,
            "data_fingerprint": self.data_fingerprint,
            "id_columns": list(self.id_columns),
            "info": self.info,
        }

    def save(self, directory: Path) -> dict[str, str]:
        """Write the bundle into ``directory`` (created); return file -> sha256."""
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        pipeline_path = directory / PIPELINE_FILE
        joblib.dump(self.pipeline, pipeline_path, compress=3)
        manifest = self.manifest()
        manifest["checksums"] = {PIPELINE_FILE: sha256_file(pipeline_path)}
        write_text_atomic(directory / MANIFEST_FILE, json.dumps(manifest, indent=2, default=_json))
        return {
            PIPELINE_FILE: manifest["checksums"][PIPELINE_FILE],
            MANIFEST_FILE: sha256_file(directory / MANIFEST_FILE),
        }

    @classmethod
    def load(cls, directory: Path, expected: Mapping[str, str] | None = None) -> ModelBundle:
        """Verify checksums (the manifest's, and ``expected`` if given), then unpickle."""
        manifest_path = directory / MANIFEST_FILE
        if not manifest_path.is_file():
            raise RegistryError(f"{directory} is not a loopml model bundle (no {MANIFEST_FILE}).")
        for name, digest in (expected or {}).items():
            _verify(directory / name, digest)
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        version = manifest.get("format_version")
        loader = _LOADERS.get(version)
        if loader is None:
            raise RegistryError(
                f"model bundle {directory} has format version {version!r}; this loopml reads "
                f"{', '.join(map(str, _LOADERS))}. Upgrade loopml to load it."
            )
        return loader(directory, manifest)


def _load_v1(directory: Path, manifest: dict[str, Any]) -> ModelBundle:
    import joblib

    for name, digest in manifest.get("checksums", {}).items():
        _verify(directory / name, digest)
    pipeline = joblib.load(directory / PIPELINE_FILE)
    return ModelBundle(
        pipeline=pipeline,
        schema=Schema.from_dict(manifest["schema"]),
        problem=Problem.from_dict(manifest["problem"]),
        metrics=manifest.get("metrics", {}),
        config=manifest.get("config", {}),
        reference=manifest.get("reference", {}),
        data_fingerprint=manifest.get("data_fingerprint", ""),
        id_columns=tuple(manifest.get("id_columns", ())),
        info=manifest.get("info", {}),
    )


#: One loader per bundle format version; old ones stay so old models keep loading.
_LOADERS: dict[int, Callable[[Path, dict[str, Any]], ModelBundle]] = {1: _load_v1}


def _verify(path: Path, digest: str) -> None:
    if not path.is_file():
        raise IntegrityError(f"model file {path} is missing; the model cannot be trusted.")
    actual = sha256_file(path)
    if actual != digest:
        raise IntegrityError(
            f"model file {path} was modified after registration (sha256 {actual[:12]}…, "
            f"recorded {digest[:12]}…). Refusing to load it. Restore the file or register a "
            "newly trained model."
        )


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)
