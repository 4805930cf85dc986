"""Stage 7a: the model bundle (save/load with checksums) and the MLflow-backed registry."""

from __future__ import annotations

from loopml.registry._bundle import FORMAT_VERSION, ModelBundle, sha256_file
from loopml.registry._mlflow import (
    ALIASES,
    ModelVersionInfo,
    Registry,
    resolve_tracking_uri,
    version_tags,
)

__all__ = [
    "ALIASES",
    "FORMAT_VERSION",
    "ModelBundle",
    "ModelVersionInfo",
    "Registry",
    "resolve_tracking_uri",
    "sha256_file",
    "version_tags",
]
