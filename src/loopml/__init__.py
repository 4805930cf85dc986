"""loopml: the machine-learning lifecycle for tabular data, as one declarative project.

The public API: :class:`Project` (one method per stage), the scikit-learn estimators
:class:`AutoClassifier` and :class:`AutoRegressor`, the config loader and the errors.

Every name but the errors loads on first use (PEP 562), so ``import loopml`` and the
``loopml`` command start in a fraction of a second; pandas, scikit-learn, LightGBM, Optuna,
MLflow and Plotly load only in the commands and stages that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports as _lazy_exports
from loopml._version import __version__
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

if TYPE_CHECKING:
    from loopml.config import ProjectConfig, load_config, parse_config
    from loopml.modeling import AutoClassifier, AutoRegressor
    from loopml.project import Project, RunResult, TrainResult
    from loopml.types import DataSet, Finding, QualityReport

__getattr__ = _lazy_exports(
    __name__,
    {
        "loopml.config": ["ProjectConfig", "load_config", "parse_config"],
        "loopml.modeling": ["AutoClassifier", "AutoRegressor"],
        "loopml.project": ["Project", "RunResult", "TrainResult"],
        "loopml.types": ["DataSet", "Finding", "QualityReport"],
    },
)[0]


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
