"""loopml: the machine-learning lifecycle for tabular data, as one declarative project.

The public API: :class:`Project` (one method per stage), the scikit-learn estimators
:class:`AutoClassifier` and :class:`AutoRegressor`, the config loader and the errors.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from loopml.modeling import AutoClassifier, AutoRegressor
from loopml.project import Project, RunResult, TrainResult
from loopml.types import DataSet

__all__ = [
    "AutoClassifier",
    "AutoRegressor",
    "ConfigError",
    "DataError",
    "DataSet",
    "IntegrityError",
    "LoopmlError",
    "ModelNotFoundError",
    "Project",
    "ProjectConfig",
    "RegistryError",
    "RunResult",
    "SchemaError",
    "TrainResult",
    "TrainingError",
    "__version__",
    "load_config",
    "parse_config",
]
