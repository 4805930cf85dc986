"""Stage 7a: the model bundle (save/load with checksums) and the MLflow-backed registry."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.registry._bundle import FORMAT_VERSION, ModelBundle, sha256_file
    from loopml.registry._mlflow import Registry, resolve_tracking_uri
    from loopml.registry._record import RunRecord, TrainingRun
    from loopml.registry._release import Release
    from loopml.registry._version import (
        ALIASES,
        ModelVersionInfo,
        parse_created,
        version_tags,
    )

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.registry._bundle": ["FORMAT_VERSION", "ModelBundle", "sha256_file"],
        "loopml.registry._mlflow": ["Registry", "resolve_tracking_uri"],
        "loopml.registry._record": ["RunRecord", "TrainingRun"],
        "loopml.registry._release": ["Release"],
        "loopml.registry._version": [
            "ALIASES",
            "ModelVersionInfo",
            "parse_created",
            "version_tags",
        ],
    },
)

__all__ = [
    "ALIASES",
    "FORMAT_VERSION",
    "ModelBundle",
    "ModelVersionInfo",
    "Registry",
    "Release",
    "RunRecord",
    "TrainingRun",
    "parse_created",
    "resolve_tracking_uri",
    "sha256_file",
    "version_tags",
]
