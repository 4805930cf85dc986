"""The project file, ``loopml.yaml``, as pydantic models.

Loading validates everything before any work starts. Errors name the key, the file and line,
the value that arrived and what is allowed::

    ConfigError: training.budget_seconds: Input should be greater than 0, got -5
    (loopml.yaml, line 14). ...
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from loopml._config_deploy import ChallengerConfig as ChallengerConfig
from loopml._config_deploy import MonitoringConfig as MonitoringConfig
from loopml._config_deploy import PredictionLogConfig as PredictionLogConfig
from loopml._config_deploy import RetrainingConfig as RetrainingConfig
from loopml._config_deploy import ServingConfig as ServingConfig
from loopml._config_deploy import ServingLimits as ServingLimits
from loopml._config_deploy import parse_duration as parse_duration
from loopml._config_errors import KeyRuleError, UniqueKeyLoader, format_errors, line_index
from loopml._config_problem import Constraints as Constraints
from loopml._config_problem import Costs as Costs
from loopml._config_problem import FairnessConfig as FairnessConfig
from loopml._config_problem import Gate as Gate
from loopml._config_problem import GateClause as GateClause
from loopml._config_problem import ProblemConfig as ProblemConfig
from loopml._config_problem import Task as Task
from loopml._config_problem import gate_mistake as gate_mistake
from loopml._config_sources import DuckDbSource as DuckDbSource
from loopml._config_sources import FileSource as FileSource
from loopml._config_sources import HttpSource as HttpSource
from loopml._config_sources import Incremental as Incremental
from loopml._config_sources import Join as Join
from loopml._config_sources import Pagination as Pagination
from loopml._config_sources import Section as _Section
from loopml._config_sources import Source as Source
from loopml._config_sources import SqlSource as SqlSource
from loopml._config_sources import reader_options as reader_options
from loopml._metric_names import ALL_METRICS as ALL_METRICS
from loopml._metric_names import CLASSIFICATION_METRICS as CLASSIFICATION_METRICS
from loopml._metric_names import METRIC_ALIASES as METRIC_ALIASES
from loopml._metric_names import REGRESSION_METRICS as REGRESSION_METRICS
from loopml._metric_names import UNSUPERVISED_TASKS as UNSUPERVISED_TASKS
from loopml._metric_names import suggest_metric as suggest_metric
from loopml._metric_names import task_metrics as task_metrics
from loopml.errors import ConfigError

# ALL_METRICS, METRIC_ALIASES, suggest_metric, ...: the metric names, re-exported above

#: Every candidate family loopml knows. xgboost and catboost need the [boost] extra, realmlp
#: and tabm the [neural] one; a family whose library is not installed is skipped with a note
#: on the leaderboard.
ModelFamily = Literal[
    "linear",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
    "catboost",
    "knn",
    "mlp",
    "decision_tree",
    "realmlp",
    "tabm",
]
MODEL_FAMILIES: tuple[ModelFamily, ...] = get_args(ModelFamily)


class DataConfig(_Section):
    source: Source
    joins: list[Join] = Field(default_factory=list)
    incremental: Incremental | None = None
    id_columns: list[str] = Field(default_factory=list)
    time_column: str | None = None
    label_time_column: str | None = None  # when the label became known; later data leaks
    group_column: str | None = None
    drop_columns: list[str] = Field(default_factory=list)


class Expectation(_Section):
    """What a column must satisfy; a violation is a finding of ``severity``."""

    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = None
    not_null: bool = False
    unique: bool = False
    severity: Literal["error", "warning"] = "error"

    @model_validator(mode="after")
    def _range(self) -> Expectation:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise KeyRuleError(f"min {self.min} is greater than max {self.max}", "min", "max")
        return self


class QualityConfig(_Section):
    expectations: dict[str, Expectation] = Field(default_factory=dict)
    fail_on: Literal["error", "warning", "never"] = "error"
    max_missing_fraction: float = Field(default=0.5, gt=0, le=1)
    near_constant_fraction: float = Field(default=0.99, gt=0.5, le=1)
    high_cardinality: int = Field(default=100, ge=2)
    leakage_auc: float = Field(default=0.98, gt=0.5, le=1)
    imbalance_ratio: float = Field(default=0.02, gt=0, lt=0.5)


PiiPolicy = Literal["drop", "hash", "keep"]


class PrivacyConfig(_Section):
    pii: PiiPolicy = "drop"
    columns: dict[str, PiiPolicy] = Field(default_factory=dict)  # per-column overrides
    salt_env: str = "LOOPML_PII_SALT"


class CategoryCleaning(_Section):
    normalize: bool = True  # trim and lower-case labels
    merge_similar: bool = True  # map near-duplicate spellings to the most frequent one
    similarity: float = Field(default=0.88, gt=0.5, le=1.0)


class MissingCleaning(_Section):
    numeric: Literal["median", "mean", "zero"] = "median"
    categorical: Literal["most_frequent", "constant"] = "constant"
    indicators: bool = True


class CleaningConfig(_Section):
    duplicates: Literal["drop", "keep"] = "drop"
    categories: CategoryCleaning = Field(default_factory=CategoryCleaning)
    outliers: Literal["keep", "clip"] = "keep"
    outlier_quantiles: tuple[float, float] = (0.001, 0.999)
    missing: MissingCleaning = Field(default_factory=MissingCleaning)

    @field_validator("outlier_quantiles")
    @classmethod
    def _quantiles(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0 <= lo < hi <= 1:
            raise ValueError("outlier_quantiles must be two numbers 0 <= low < high <= 1")
        return value


class ProfileConfig(_Section):
    sample_rows: int = Field(default=200_000, ge=1000)
    output: str = ".loopml/profile.html"


class SelectionConfig(_Section):
    method: Literal["none", "auto", "correlation", "mutual_info", "rfe", "permutation"] = "auto"
    correlation_threshold: float = Field(default=0.95, gt=0, le=1)
    max_features: int | None = Field(default=None, ge=1)


class TextConfig(_Section):
    max_features: int = Field(default=200, ge=1)  # TF-IDF terms kept per text column
    ngram_max: int = Field(default=2, ge=1, le=3)


class FeaturesConfig(_Section):
    """Feature engineering declared in loopml.yaml."""

    expressions: dict[str, str] = Field(default_factory=dict)  # new column -> pandas expression
    target_encoding: Literal["auto", "always", "never"] = "auto"  # high-cardinality categories
    high_cardinality: int = Field(default=30, ge=2)  # distinct labels above which it applies
    text: TextConfig = Field(default_factory=TextConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    absolute_time: Literal["auto", "keep", "drop"] = "auto"  # year/epoch features: search decides


class TrainingConfig(_Section):
    budget_seconds: float = Field(default=60.0, gt=0, le=7 * 24 * 3600)
    # an integer from 2 to 20, or "auto": 5 folds up to 10,000 rows, 3 up to 40,000, then one
    # 20% validation split (the estimators' rule)
    cv_folds: int | Literal["auto"] = 5
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    split: Literal["auto", "stratified", "random", "time", "group"] = "auto"
    seed: int = 42
    # a cap on the trials: with a budget that does not bind, the same trials every run
    max_trials: int | None = Field(default=None, ge=1)
    n_jobs: int = Field(
        default=-1, description="-1 uses every CPU this process may use (affinity, cgroup quota)"
    )
    models: list[ModelFamily] = Field(default_factory=lambda: list(MODEL_FAMILIES), min_length=1)
    tune: bool = True
    ensemble: bool = True  # greedy ensemble selection on out-of-fold predictions
    class_weight: Literal["auto", "balanced", "none"] = "auto"
    # bag the fold models and maybe stack a second layer (auto: from 180 s). Off by default:
    # at 300 s it helped telco_churn and hurt wine_quality, with 4.3 GB of kept forests
    bagging: bool | Literal["auto"] = False

    @field_validator("bagging", mode="before")
    @classmethod
    def _bagging(cls, value: Any) -> bool | str:
        if isinstance(value, bool):
            return value
        if value == "auto":
            return "auto"
        raise ValueError(f"Input should be auto, true or false, got {value!r}")

    @field_validator("cv_folds", mode="before")
    @classmethod
    def _cv_folds(cls, value: Any) -> int | str:
        if value == "auto":
            return "auto"
        problem = ValueError(f"Input should be an integer from 2 to 20 or 'auto', got {value!r}")
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise problem
        try:
            folds = int(value)
        except ValueError:
            raise problem from None
        if not 2 <= folds <= 20:
            raise problem
        return folds

    @field_validator("n_jobs")
    @classmethod
    def _n_jobs(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("n_jobs must be a positive number of cores or -1 for all")
        return value


class TrackingConfig(_Section):
    uri: str = "sqlite:///.loopml/mlflow.db"
    experiment: str | None = None
    registered_model: str | None = None


class ScoringConfig(_Section):
    """Batch scoring; ``options`` are how the files given to ``score`` and ``evaluate --data``
    are read (CSV: sep, decimal, thousands, encoding, ...). By default they are read as the
    model's training data was: its declared options, and where it does not decide, its
    sniffed decimal mark."""

    input: str | None = None
    output: str | None = None
    chunk_rows: int = Field(default=50_000, ge=1)
    # "auto": the compiled row path where the pipeline compiles and agrees with itself on
    # probe rows (faster), else the pipeline on each chunk; "frame": always the pipeline
    runtime: Literal["auto", "python", "frame"] = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _reader_options(cls, value: dict[str, Any]) -> dict[str, Any]:
        return reader_options(value)

    @model_validator(mode="after")
    def _both(self) -> ScoringConfig:
        if (self.input is None) != (self.output is None):
            given, absent = ("input", "output") if self.output is None else ("output", "input")
            raise KeyRuleError(
                f"scoring.{given} is set but scoring.{absent} is not; give both, or neither",
                given,
            )
        return self


class ExecutionConfig(_Section):
    """Where the model search runs: this machine (``local``) or a Dask cluster (``dask``).

    ``engine: dask`` with an ``address`` (``tcp://host:8786``) connects to a running
    scheduler; without one it starts a local cluster of ``workers`` processes (default: one
    per core). Needs the ``[dask]`` extra.
    """

    engine: Literal["local", "dask"] = "local"
    address: str | None = None
    workers: int | None = Field(default=None, ge=1)  # local cluster only
    connect_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(tcp|tls|ucx|inproc)://\S+$", value):
            raise ValueError(
                f"{value!r} is not a Dask scheduler address; write it as tcp://host:8786"
            )
        return value

    @model_validator(mode="after")
    def _dask_only(self) -> ExecutionConfig:
        if self.engine == "local":
            for key in ("address", "workers"):
                if getattr(self, key) is not None:
                    raise KeyRuleError(
                        f"is set but execution.engine is local; set engine: dask, or remove {key}",
                        key,
                    )
        elif self.address is not None and self.workers is not None:
            raise KeyRuleError(
                "sizes a local cluster, but execution.address connects to a running one; "
                "remove one of them",
                "workers",
            )
        return self


class ProjectConfig(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    problem: ProblemConfig
    data: DataConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    profile: ProfileConfig = Field(default_factory=ProfileConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    retraining: RetrainingConfig = Field(default_factory=RetrainingConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    @model_validator(mode="after")
    def _cross_section(self) -> ProjectConfig:
        target = self.problem.target
        if target is None:  # clustering, or anomaly detection without labels
            return self._check_split()
        if target in self.data.id_columns:
            raise KeyRuleError(
                f"lists the target {target!r} (problem.target); remove it from the id columns",
                "data.id_columns",
                "problem.target",
            )
        if target in self.data.drop_columns:
            raise KeyRuleError(
                f"lists the target {target!r} (problem.target); remove it from the dropped columns",
                "data.drop_columns",
                "problem.target",
            )
        if target == self.data.time_column:
            raise KeyRuleError(
                f"is the target {target!r} (problem.target); the time column must be another "
                "column",
                "data.time_column",
                "problem.target",
            )
        return self._check_split()

    def _check_split(self) -> ProjectConfig:
        if self.training.split == "time" and not self.data.time_column:
            raise KeyRuleError(
                "'time' needs data.time_column, which is not set; set it, or choose another split",
                "training.split",
                "data.time_column",
            )
        if self.training.split == "group" and not self.data.group_column:
            raise KeyRuleError(
                "'group' needs data.group_column, which is not set; set it, or choose another "
                "split",
                "training.split",
                "data.group_column",
            )
        if self.training.split == "stratified" and self.problem.task in (
            "regression",
            "clustering",
        ):
            raise KeyRuleError(
                f"'stratified' needs classes to stratify on; use random for {self.problem.task}",
                "training.split",
                "problem.task",
            )
        return self

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.name

    @property
    def model_name(self) -> str:
        return self.tracking.registered_model or self.name


# --------------------------------------------------------------------------------------------
# Loading with line numbers


def _allowed_keys(path: tuple[Any, ...]) -> list[str]:
    """Field names of the model at ``path`` (pydantic's location, union tags included)."""
    candidates: list[Any] = [ProjectConfig]
    for part in path:
        tagged = [c for c in candidates if part in _type_tags(c)]
        if tagged:  # a discriminated union's tag picks the member
            candidates = tagged
            continue
        fields = [c.model_fields[part] for c in candidates if part in c.model_fields]
        if not fields:
            return []
        annotation = fields[0].annotation
        members = getattr(annotation, "__args__", ())
        if members and all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            candidates = list(members)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            candidates = [annotation]
        else:
            nested = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if not nested:
                return []
            candidates = nested
    return list(candidates[0].model_fields) if len(candidates) == 1 else []


def _type_tags(model: Any) -> tuple[str, ...]:
    field = getattr(model, "model_fields", {}).get("type")
    return tuple(getattr(field.annotation, "__args__", ())) if field is not None else ()


def parse_config(text: str, source: str = "loopml.yaml") -> ProjectConfig:
    """Validate the text of a project file.

    Raises
    ------
    ConfigError
        With every problem found, each naming key, file and line.
    """
    try:
        node = yaml.compose(text)
        raw = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source} is not valid YAML ({where}): {problem}.") from exc
    if raw is None:
        raise ConfigError(f"{source} is empty. Run `loopml init DATA --target COLUMN` for a draft.")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a mapping of sections (name, problem, data, ...).")
    lines = line_index(node) if node is not None else {}
    try:
        return ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            f"{source} is invalid:\n{format_errors(exc, source, lines, _allowed_keys)}"
        ) from exc


def load_config(path: str | Path) -> ProjectConfig:
    """Read and validate ``loopml.yaml`` at ``path``."""
    path = Path(path)
    if path.is_dir():
        path = path / "loopml.yaml"
    if not path.is_file():
        raise ConfigError(
            f"project file {path} not found. Run `loopml init DATA --target COLUMN` to write one, "
            "or pass -c/--config."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read project file {path}: {exc}") from exc
    return parse_config(text, source=str(path))
