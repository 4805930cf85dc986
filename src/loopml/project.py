"""``Project``: the workspace of one loopml.yaml and the runner that wires the stages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml._train_register import Outcome, register_outcome
from loopml._train_result import RunResult, TrainResult, held_alias
from loopml._train_unsupervised import Destination, train_unsupervised
from loopml.config import FileSource, ProjectConfig, load_config
from loopml.data import (
    CsvDialect,
    DataSet,
    PreparedData,
    Problem,
    check_declared_columns,
    check_quality,
    check_target_column,
    collect,
    file_kind,
    is_dataset,
    labelled_rows,
    model_input_dialect,
    prepare_data,
    privacy_replay,
    profile_data,
    quality_report,
    read_file,
    read_watermark,
    source_dialect,
    write_watermark,
)
from loopml.data import protect as protect_data
from loopml.errors import ConfigError, DataError, ModelNotFoundError, RegistryError, SchemaError
from loopml.files import write_text_atomic
from loopml.registry import ModelVersionInfo, Registry, resolve_tracking_uri
from loopml.serving import ScoringSummary, row_latency_ms, score_dataset, score_file
from loopml.types import QualityReport

# The modelling stack (scikit-learn, Optuna, LightGBM) and the report templates are imported
# in the methods that use them, so `loopml models list` and `loopml score` do not load them.
if TYPE_CHECKING:
    from loopml.data import LabelledRows
    from loopml.evaluation import Evaluation
    from loopml.loop import RetrainDecision
    from loopml.modeling import SearchResult
    from loopml.monitoring import DriftReport, MonitorResult
    from loopml.registry import ModelBundle
    from loopml.serving import ForgetResult

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
WORKSPACE = ".loopml"


class Project:
    """A loopml project: its ``loopml.yaml``, its workspace, and one method per stage.

    Parameters
    ----------
    path
        The project directory or its ``loopml.yaml``.

    Examples
    --------
    >>> project = Project("demo-project")            # doctest: +SKIP
    >>> result = project.train()                     # doctest: +SKIP
    >>> result.alias, result.evaluation.primary      # doctest: +SKIP
    ('champion', 0.86)
    """

    def __init__(
        self,
        path: str | Path = ".",
        config: ProjectConfig | None = None,
        env: Mapping[str, str] | None = None,
    ):
        path = Path(path)
        self.config_path = path / "loopml.yaml" if path.is_dir() else path
        self.root = self.config_path.parent.resolve()
        self.config = config if config is not None else load_config(self.config_path)
        self.workspace = self.root / WORKSPACE
        # the one place the environment is read: credentials, API headers, the PII salt
        self.env: dict[str, str] = dict(os.environ if env is None else env)

    # ------------------------------------------------------------------ stores

    @cached_property
    def registry(self) -> Registry:
        """The project's MLflow registry, opened once per ``Project``."""
        cfg = self.config
        return Registry(
            uri=resolve_tracking_uri(cfg.tracking.uri, self.root),
            experiment=cfg.experiment_name,
            model_name=cfg.model_name,
            artifact_root=self.workspace / "artifacts",
        )

    def path(self, value: str | Path) -> Path:
        p = Path(value)
        return p if p.is_absolute() else self.root / p

    # ------------------------------------------------------------------ stages

    def collect(self, *, incremental: bool = False) -> DataSet:
        """Stage 2: load the configured source and its joins.

        With ``incremental``, only rows whose ``data.incremental.column`` is newer than the
        watermark committed by :meth:`commit_watermark` after the last successful run.
        """
        if incremental and self.config.data.incremental is None:
            raise ConfigError(
                "incremental loading needs data.incremental.column in loopml.yaml "
                "(the time column that tells new rows from old ones)."
            )
        since = self.watermark() if incremental else None
        return collect(self.config.data, self.root, env=self.env, since=since)

    def watermark(self) -> Any:
        """The incremental watermark committed last, or None before the first run."""
        inc = self.config.data.incremental
        return read_watermark(self._watermark_path, inc.column) if inc is not None else None

    _watermark_path = property(lambda self: self.workspace / "state" / "watermark.json")

    def commit_watermark(self, data: DataSet) -> None:
        """Remember ``data.watermark`` so the next incremental collect starts after it."""
        inc = self.config.data.incremental
        if inc is not None and data.watermark is not None:
            write_watermark(self._watermark_path, inc.column, data.watermark)

    def protect(self, data: DataSet) -> tuple[DataSet, dict[str, str], dict[str, str]]:
        """Apply the privacy policy: detect personal data, then drop, hash or keep it.

        Returns the protected data, the detected columns (column -> kind) and the action
        taken per column. The target is never touched.
        """
        return protect_data(data, self.config, salt=self._salt())

    def _salt(self) -> str | None:
        return self.env.get(self.config.privacy.salt_env)

    def validate(
        self, data: DataSet | None = None, prepared: PreparedData | None = None
    ) -> QualityReport:
        """Stage 3: the quality report of the (protected) data, personal-data findings included.

        ``prepared`` is :meth:`prepare` of the same ``data`` when the caller has it already
        (its columns and target were checked then); without it, the data is prepared here if
        its target allows (for the holdout checks).
        """
        if prepared is None:
            raw = data if data is not None else self.collect()
            self._check_columns(raw)
            prepared = self._try_prepare(raw)
        else:
            raw = data if data is not None else prepared.data
        return quality_report(raw, self.config, prepared=prepared, salt=self._salt())

    def _check_columns(self, raw: DataSet) -> None:
        """The columns ``data:`` names and the target exist, each with its own message."""
        check_declared_columns(raw.frame, self.config, self.config_path.name)
        if self.config.problem.target is not None:  # clustering has none
            check_target_column(raw.frame, self.config.problem.target)

    def _try_prepare(self, raw: DataSet) -> PreparedData | None:
        """:meth:`prepare`, or None when the data cannot be prepared (its problems are findings)."""
        try:
            return self.prepare(raw)
        except (ConfigError, DataError):
            return None

    def profile(self, output: str | Path | None = None) -> tuple[Path, QualityReport]:
        """Stage 3: write the EDA profile (HTML) and return its path and the quality report."""
        cfg = self.config
        raw = self.collect()
        self._check_columns(raw)
        prepared = self._try_prepare(raw)
        report = self.validate(raw, prepared)
        protected = prepared.data if prepared is not None else self.protect(raw)[0]
        result = profile_data(protected.frame, cfg)
        from loopml.reports import render_profile_report

        html = render_profile_report(
            result, title=f"{cfg.name}: data profile ({raw.origin})", findings=report.findings
        )
        path = self.path(output or cfg.profile.output)
        write_text_atomic(path, html)
        return path, report

    def profile_dataset(self, dataset: str | Path, output: str | Path | None = None) -> Path:
        """Stage 3 on a Parquet dataset larger than memory (a directory or a glob): the profile
        as map-reduce over its parts, on the configured engine; no quality report."""
        from loopml._profile_dataset import profile_dataset

        target = self.path(output or self.config.profile.output)
        return profile_dataset(self.config, self.path(dataset), target)

    def prepare(self, data: DataSet | None = None) -> PreparedData:
        """Stages 1 and 3: settle the problem, infer the schema, split off the holdout
        (:func:`loopml.data.prepare_data`) and check the declared feature expressions.

        Everything that can be wrong with the data is found here, before any training.
        """
        from loopml.features import check_expressions

        prepared = prepare_data(
            data if data is not None else self.collect(),
            self.config,
            salt=self._salt(),
            config_name=self.config_path.name,
        )
        check_expressions(self.config.features.expressions, list(prepared.schema.roles()))
        return prepared

    def train(
        self,
        progress: ProgressFn | None = None,
        *,
        prepared: PreparedData | None = None,
        as_challenger: bool = False,
    ) -> TrainResult:
        """Stages 2–7: collect, prepare, search, evaluate, register and set the alias.

        ``prepared`` is a :meth:`prepare` result to train on instead of collecting again
        (retraining passes the fresh rows it prepared). ``as_challenger``: the new version
        never becomes champion here (:meth:`retrain` decides that). If anything fails,
        nothing is registered, no alias moves and no report is written.
        """
        from loopml.evaluation import AssessSettings, assess
        from loopml.loop import decide_promotion
        from loopml.reports import model_label

        cfg = self.config
        if prepared is None:
            # target and column problems first, with their own message
            prepared = self.prepare(self.collect())
        quality = self.validate(prepared=prepared)
        check_quality(quality, cfg.quality.fail_on)
        dialect = self._training_dialect()
        if prepared.problem.unsupervised:
            to = Destination(cfg, self.registry, self.workspace / "reports", dialect)
            return train_unsupervised(prepared, to, progress=progress, as_challenger=as_challenger)
        result = self._search(prepared, progress, dialect)
        folds = result.folds
        if progress is not None:
            progress(cfg.training.budget_seconds, "diagnosing the model")
        best = result.leaderboard.best
        holdout = prepared.holdout_rows()
        assessment = assess(
            result.pipeline,
            holdout,
            prepared.training_rows(),
            prepared.problem,
            AssessSettings.from_config(cfg),
            best=best,
            folds=folds,
        )
        champion, seen = self._champion_on(holdout, prepared.problem)
        decision = decide_promotion(
            assessment.evaluation,
            champion,
            leakage=[f for f in quality.findings if f.id == "suspected-leakage"],
            cv_score=best.mean,
        )
        if as_challenger and decision.alias == "champion":
            reason = f"{decision.reason}; retraining decides the promotion with a paired test"
            decision = dataclasses.replace(decision, alias="challenger", reason=reason)
        model = model_label(best, result.leaderboard.trials)  # ensembles name their members
        if progress is not None:
            progress(cfg.training.budget_seconds, "registering the model")
        by = "retrain" if as_challenger else "train"  # for the alias history
        outcome = Outcome(prepared, result, len(folds), assessment, decision, model, seen, by)
        version = register_outcome(
            outcome, self.config, self.registry, self.workspace / "reports", dialect
        )
        return TrainResult(
            version=version,
            # challenger when another version became champion while this one trained
            alias=held_alias(version.aliases, decision.alias),
            decision=decision,
            leaderboard=result.leaderboard,
            evaluation=assessment.evaluation,
            report=Path(version.report),
            data=prepared.summary(),
        )

    def _training_dialect(self) -> CsvDialect | None:
        """How the training file writes numbers: the model reads text numbers the same way."""
        source = self.config.data.source
        return source_dialect(source, self.root) if isinstance(source, FileSource) else None

    def _search(
        self, prepared: PreparedData, progress: ProgressFn | None, dialect: CsvDialect | None
    ) -> SearchResult:
        """Stage 5: the search on the training rows; the result carries the folds it used."""
        from loopml.modeling import TrainingData, TrainingSpec, train_model

        cfg = self.config
        train = prepared.training_rows()
        # the folds follow the holdout's strategy; where split: auto found neither a time nor a
        # group column, train_model chooses: later rows validate when the rows are in time
        # order, as for the estimators
        strategy = prepared.split.strategy
        chosen = cfg.training.split == "auto" and strategy in ("stratified", "random")
        data = TrainingData(
            X=train.X,
            y=train.y,
            roles=prepared.schema.roles(),
            time=train.time,
            groups=train.groups,
            strategy=None if chosen else strategy,
            numbers=dialect.numbers if dialect is not None else None,
        )
        from loopml.scale import search_executor

        spec = TrainingSpec.from_config(cfg, prepared.problem, latency=row_latency_ms)
        with search_executor(cfg.execution) as executor:  # None: the search's own choice
            return train_model(data, spec, progress=progress, executor=executor)

    def _champion_on(
        self, holdout: LabelledRows, problem: Problem
    ) -> tuple[Evaluation | None, str | None]:
        """The champion's evaluation on the new holdout (None: there is none, it cannot be
        loaded, or it solves another problem or reads other columns), and its version (None:
        there is none), which registration checks is still the champion."""
        from loopml.evaluation import evaluate

        try:
            bundle, info = self.registry.load("champion")
        except ModelNotFoundError:  # no model registered yet, or none is champion
            return None, None
        except RegistryError as exc:  # its files are damaged or cannot be fetched
            log.warning("the current champion cannot be loaded (%s); it is not compared", exc)
            try:
                return None, self.registry.resolve("champion")
            except RegistryError:
                return None, None
        if bundle.problem.task != problem.task or bundle.problem.classes != problem.classes:
            return None, info.version
        try:
            bundle.schema.check(holdout.X.columns, where="the new holdout")
            return evaluate(bundle.pipeline, holdout.X, holdout.y, problem), info.version
        except (SchemaError, ValueError) as exc:
            log.warning("the champion cannot score the new holdout (%s)", exc)
            return None, info.version

    def evaluate(self, model: str = "champion", data: str | Path | None = None) -> Evaluation:
        """Score a registered model on labelled data: a file, or the project's holdout."""
        from loopml.evaluation import evaluate_labelled

        bundle, _ = self.registry.load(model)
        if data is not None:
            path = self.path(data)
            if not path.is_file():
                raise DataError(f"evaluation data {path} not found.")
            dialect = self._input_dialect(bundle, path)
            frame = read_file(path, file_kind(path), key="scoring", dialect=dialect)
            rows = labelled_rows(frame, bundle.problem, where=str(path))
        else:
            rows = self.prepare().holdout_rows()
        bundle.schema.check(rows.X.columns, where=str(data or "the holdout"))
        trained = bundle.metrics  # a clustering's stability and agreement come from training
        problem, cfg = bundle.problem, self.config
        return evaluate_labelled(bundle.pipeline, rows, problem, config=cfg, trained=trained)

    def score(
        self,
        input: str | Path,
        output: str | Path,
        model: str = "champion",
        progress: Callable[[int], None] | None = None,
    ) -> ScoringSummary:
        """Stage 7: batch-score a CSV or Parquet file in chunks, or a Parquet dataset (a
        directory or a glob) into a directory of Parquet parts, on the configured engine."""
        source, target = self.path(input), self.path(output)
        if is_dataset(source):
            return self._score_dataset(source, target, model, progress)
        if not source.is_file():
            raise DataError(f"input file {source} not found.")
        bundle, info = self.registry.load(model)
        return score_file(
            bundle,
            source,
            target,
            model_version=info.version,
            chunk_rows=self.config.scoring.chunk_rows,
            runtime=self.config.scoring.runtime,
            progress=progress,
            transform=self._privacy_replay(bundle),
            dialect=self._input_dialect(bundle, source),
        )

    def _score_dataset(
        self, source: Path, target: Path, model: str, progress: Callable[[int], None] | None
    ) -> ScoringSummary:
        if target.suffix.lower() in (".csv", ".parquet"):
            raise DataError(
                f"{source} is a dataset, scored into a directory of Parquet parts: give an "
                f"output directory, not the file {target.name}."
            )
        bundle, info = self.registry.load(model)
        options: dict[str, Any] = {
            "model_version": info.version,
            "runtime": self.config.scoring.runtime,
            "progress": progress,
            "transform": self._privacy_replay(bundle),
        }
        if self.config.execution.engine == "local":
            chunks = self.config.scoring.chunk_rows
            return score_dataset(bundle, source, target, chunk_rows=chunks, **options)
        from loopml.scale import dask_client, score_dataset_dask

        with dask_client(self.config.execution) as client:
            return score_dataset_dask(client, bundle, source, target, **options)

    def spark_scorer(self, spark: Any, model: str = "champion") -> Callable[[Any], Any]:
        """A function adding ``prediction`` (and ``proba_<class>``) to a Spark DataFrame,
        through MLflow's ``spark_udf`` on the registered model (:mod:`loopml.scale`)."""
        from loopml.scale import spark_scorer

        bundle, info = self.registry.load(model)
        ref = f"@{model}" if model in ("champion", "challenger") else f"/{info.version}"
        return spark_scorer(
            spark,
            f"models:/{info.name}{ref}",
            bundle,
            tracking_uri=resolve_tracking_uri(self.config.tracking.uri, self.root),
        )

    def _input_dialect(self, bundle: ModelBundle, path: Path) -> CsvDialect | None:
        """How to read a CSV file to score or evaluate with ``bundle``: as its training data
        was read, unless ``scoring.options`` or the file itself says otherwise."""
        if file_kind(path) != "csv":
            return None
        return model_input_dialect(
            path,
            training_source=bundle.config.get("data", {}).get("source", {}),
            trained=bundle.info.get("csv_dialect"),
            options=self.config.scoring.options,
        )

    def _privacy_replay(self, bundle: ModelBundle) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
        """The privacy actions the model was trained under, applied to rows to score."""
        salt_env = bundle.info.get("privacy_salt_env", self.config.privacy.salt_env)
        return privacy_replay(bundle.info.get("privacy", {}), salt_env, self.env)

    def run(self, progress: ProgressFn | None = None) -> RunResult:
        """The whole loop once: train, evaluate, register, promote, then batch-score."""
        scoring_cfg = self.config.scoring
        if scoring_cfg.input and not self.path(scoring_cfg.input).is_file():
            raise DataError(
                f"scoring.input {self.path(scoring_cfg.input)} not found. Fix the path in "
                f"{self.config_path.name} or remove the scoring section."
            )
        trained = self.train(progress=progress)
        if not scoring_cfg.input or not scoring_cfg.output:
            return RunResult(trained, None, "no scoring section in loopml.yaml")
        try:
            version = self.registry.resolve("champion")
        except ModelNotFoundError:
            return RunResult(
                trained, None, f"no champion to score with (this model: {trained.decision.reason})"
            )
        summary = self.score(scoring_cfg.input, scoring_cfg.output, model=version)
        return RunResult(trained, summary)

    # ------------------------------------------------------------------ prediction log

    def forget(self, column: str, values: Sequence[Any], *, dry_run: bool = False) -> ForgetResult:
        """Delete an entity's predictions and their labels from the prediction log (the right
        to erasure), in one transaction; with ``dry_run``, count them and delete nothing.

        Values of a column the champion's privacy policy hashed are hashed as it did (its salt
        from the environment); a column it dropped is not in the log. See
        :func:`loopml.serving.forget_entity`.
        """
        from loopml.serving import ErasurePolicy, PredictionLog, forget_entity

        try:
            bundle, _ = self.registry.load("champion")
        except ModelNotFoundError:  # no champion: the policy as loopml.yaml declares it
            policy = ErasurePolicy(dict(self.config.privacy.columns), self.config.privacy.salt_env)
        else:
            policy = ErasurePolicy.of(bundle, self.config.privacy.salt_env)
        url = self.config.serving.prediction_log.url
        with PredictionLog(url, base_dir=self.root, mode="sync") as plog:
            return forget_entity(plog, column, values, policy, env=self.env, dry_run=dry_run)

    def monitor(
        self,
        *,
        model: str = "champion",
        since: str | None = None,
        until: str | None = None,
        window: str | None = None,
    ) -> MonitorResult:
        """Stage 8: test each window of the model's logged traffic against its training
        reference (feature, prediction and data-quality drift; performance on late labels
        and estimated before them), then leave the gauges for the service, send the alerts
        and write the HTML report. ``since``/``until``: ISO times or durations before now;
        ``window``: a duration overriding ``monitoring.window``."""
        from loopml import monitoring as mon
        from loopml.config import parse_duration

        cfg = self.config.monitoring
        if window is not None:
            try:
                parse_duration(window)
            except ValueError as exc:
                raise ConfigError(f"--window {window!r}: {exc}") from None
            cfg = cfg.model_copy(update={"window": window})
        bundle, info = self.registry.load(model)
        store = mon.WindowStore(self.workspace / mon.WINDOW_STORE)  # computed windows: reused
        with mon.open_log(self.config.serving.prediction_log.url, self.root) as plog:
            report = mon.monitor(
                bundle,
                plog,
                model_name=info.name,
                model_version=info.version,
                span=mon.log_span(plog, info.version, cfg, since=since, until=until),
                config=cfg,
                store=store,
            )
        return mon.finish_monitoring(report, self.workspace, cfg)

    def retrain(
        self,
        progress: ProgressFn | None = None,
        *,
        force: bool = False,
        drift: DriftReport | None = None,
        now: float | None = None,
    ) -> RetrainDecision:
        """Stage 8: apply ``retraining:``; train a challenger on the sources plus labelled
        traffic through :meth:`train`; promote it only if it wins the paired test on the
        latest labelled traffic (:class:`loopml.loop.Retraining`). ``drift``: a monitoring
        report; without it, the last ``loopml monitor`` status counts. A failure before the
        promotion leaves the champion where it was. Holds ``.loopml/retrain.lock``
        throughout: while another process retrains, it raises ``LockHeldError`` naming it."""
        from loopml.loop import RETRAIN_LOCK, hold_lock

        with hold_lock(self.workspace / RETRAIN_LOCK, "a retraining"):
            return self._retrain(progress, force=force, drift=drift, now=now)

    def _retrain(
        self,
        progress: ProgressFn | None,
        *,
        force: bool,
        drift: DriftReport | None,
        now: float | None,
    ) -> RetrainDecision:
        from loopml.loop import Retraining, read_traffic
        from loopml.serving import MONITORING_STATUS

        run = Retraining(self.config, self.registry, report_dir=self.workspace / "reports", now=now)
        rows = read_traffic(self.config, self.root, *run.window)
        status = self.workspace / MONITORING_STATUS
        if not run.start(rows, force=force, drift=drift, status_path=status):
            return run.skipped()
        prepared = self.prepare(run.training_data(self.collect()))
        trained = self.train(progress, prepared=prepared, as_challenger=True)
        gate = trained.evaluation.gate
        held = trained.decision.leakage_columns
        checked = gate.describe() + (
            f"; held back for leakage on {', '.join(held)}" if held else ""
        )
        return run.decide(trained.version, gate=(gate.passed and not held, checked))

    # ------------------------------------------------------------------ registry

    def models(self) -> list[ModelVersionInfo]:
        return self.registry.versions()

    def model(self, ref: str = "champion") -> ModelVersionInfo:
        return self.registry.version_info(ref)

    def promote(self, ref: str, alias: str = "champion", *, via: str = "CLI") -> ModelVersionInfo:
        """Move ``alias`` to a version (its files checked): reason "promoted by hand", history
        ``promote via <via>``; the version that held it says it lost it. A champion gives up
        its challenger alias."""
        registry = self.registry
        _, info = registry.load(ref)
        if alias not in info.aliases:
            today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            reason = f"promoted by hand with `loopml models promote` on {today}"
            registry.move_alias(info.version, alias, reason, actor=f"promote via {via}")
        return registry.version_info(info.version)
