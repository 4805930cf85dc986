"""loopml: the machine-learning lifecycle for tabular data, as one declarative project.

The public API: :class:`Project` (one method per stage), the scikit-learn estimators
:class:`AutoClassifier` and :class:`AutoRegressor`, the config loader and the errors.

Heavy parts (scikit-learn, LightGBM, Optuna, MLflow, Plotly) load on first use, so commands
and stages that do not need them (``loopml profile``, ``loopml validate``) start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopml.config import ProjectConfig, load_config, parse_config
from loopml.errors import (
    ConfigError,
    DataError,
    IntegrityError,
    LoopmlError,
    ModelNotFoundError,
    RegistryError,
    SchemaError,
    TrainingError,
)
from loopml.types import DataSet, Finding, QualityReport

__version__ = "0.1.0"

_LAZY = {
    "AutoClassifier": "loopml.modeling",
    "AutoRegressor": "loopml.modeling",
    "Project": "loopml.project",
    "RunResult": "loopml.project",
    "TrainResult": "loopml.project",
}

if TYPE_CHECKING:
    from loopml.modeling import AutoClassifier, AutoRegressor
    from loopml.project import Project, RunResult, TrainResult


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'loopml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AutoClassifier",
    "AutoRegressor",
    "ConfigError",
    "DataError",
    "DataSet",
    "Finding",
    "IntegrityError",
    "LoopmlError",
    "ModelNotFoundError",
    "Project",
    "ProjectConfig",
    "QualityReport",
    "RegistryError",
    "RunResult",
    "SchemaError",
    "TrainResult",
    "TrainingError",
    "__version__",
    "load_config",
    "parse_config",
]
