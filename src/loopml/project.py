"""``Project``: the workspace of one loopml.yaml and the runner that wires the stages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml import __version__
from loopml.config import FileSource, PiiPolicy, PrivacyConfig, ProjectConfig, load_config
from loopml.data import (
    CsvDialect,
    DataSet,
    Problem,
    Schema,
    apply_privacy,
    check_target_column,
    collect,
    detect_pii,
    file_kind,
    infer_schema,
    infer_task,
    missing_mask,
    model_input_dialect,
    pii_findings,
    prepare_target,
    read_file,
    reference_statistics,
    resolve_problem,
    source_dialect,
    to_datetime,
    validate,
)
from loopml.data import profile as profile_frame
from loopml.errors import ConfigError, DataError, LoopmlError, SchemaError
from loopml.files import write_text_atomic
from loopml.registry import ModelVersionInfo, Registry, resolve_tracking_uri, version_tags
from loopml.serving import ScoringSummary, score_file
from loopml.types import SEVERITY_ORDER, Finding, QualityReport

# The modelling stack (scikit-learn, Optuna, LightGBM) and the report templates are imported
# in the methods that use them, so `loopml models list` and `loopml score` do not load them.
if TYPE_CHECKING:
    from loopml.evaluation import Evaluation
    from loopml.loop import PromotionDecision
    from loopml.modeling import Leaderboard, Split
    from loopml.registry import ModelBundle

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]
WORKSPACE = ".loopml"


@dataclass(frozen=True)
class PreparedData:
    """The training table split for one run: everything the search and evaluation need."""

    data: DataSet
    problem: Problem
    schema: Schema
    X: pd.DataFrame
    y: pd.Series
    split: Split
    time: pd.Series | None
    groups: pd.Series | None
    privacy: dict[str, str] = field(default_factory=dict)  # column -> drop | hash | keep
    pii: dict[str, str] = field(default_factory=dict)  # column -> kind of personal data found


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced and where it went."""

    version: ModelVersionInfo
    alias: str
    decision: PromotionDecision
    leaderboard: Leaderboard
    evaluation: Evaluation
    report: Path
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.version.name,
            "version": self.version.version,
            "run_id": self.version.run_id,
            "alias": self.alias,
            "promotion_reason": self.decision.reason,
            "held_back_for_leakage": list(self.decision.leakage_columns),
            "evaluation": self.evaluation.to_dict(),
            "leaderboard": self.leaderboard.to_dict(),
            "report": str(self.report),
            "data": self.data,
        }


@dataclass(frozen=True)
class RunResult:
    train: TrainResult
    scoring: ScoringSummary | None
    scoring_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train.to_dict(),
            "scoring": self.scoring.to_dict() if self.scoring else None,
            "scoring_note": self.scoring_note,
        }


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
        path = self.workspace / "state" / "watermark.json"
        if inc is None or not path.is_file():
            return None
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("column") != inc.column:
            return None  # the column changed: start over
        value = state.get("value")
        return pd.Timestamp(value) if state.get("kind") == "timestamp" else value

    def commit_watermark(self, data: DataSet) -> None:
        """Remember ``data.watermark`` so the next incremental collect starts after it."""
        inc = self.config.data.incremental
        if inc is None or data.watermark is None:
            return
        value = data.watermark
        kind = "timestamp" if isinstance(value, (pd.Timestamp, dt.datetime)) else "value"
        state = {
            "column": inc.column,
            "kind": kind,
            "value": pd.Timestamp(value).isoformat() if kind == "timestamp" else value,
        }
        write_text_atomic(
            self.workspace / "state" / "watermark.json", json.dumps(state, default=str)
        )

    def protect(self, data: DataSet) -> tuple[DataSet, dict[str, str], dict[str, str]]:
        """Apply the privacy policy: detect personal data, then drop, hash or keep it.

        Returns the protected data, the detected columns (column -> kind) and the action
        taken per column. The target is never touched.
        """
        cfg = self.config
        features = data.frame.drop(columns=[cfg.problem.target], errors="ignore")
        pii = detect_pii(features)
        pii.update({c: "declared" for c in cfg.privacy.columns if c not in pii and c in features})
        if not pii:
            return data, {}, {}
        frame, actions = apply_privacy(
            data.frame, pii, cfg.privacy, salt=self.env.get(cfg.privacy.salt_env)
        )
        return dataclasses.replace(data, frame=frame), pii, actions

    def validate(
        self, data: DataSet | None = None, prepared: PreparedData | None = None
    ) -> QualityReport:
        """Stage 3: the quality report of the (protected) data, personal-data findings included.

        ``prepared`` is :meth:`prepare` of the same ``data`` when the caller has it already;
        without it, the data is prepared here if its target allows (for the holdout checks).
        """
        cfg = self.config
        raw = data if data is not None else self.collect()
        self._check_declared_columns(raw.frame)
        check_target_column(raw.frame, cfg.problem.target)
        if prepared is None:
            prepared = self._try_prepare(raw)
        if prepared is not None:
            protected, pii, actions = prepared.data, prepared.pii, prepared.privacy
        else:
            protected, pii, actions = self.protect(raw)
        # data.drop_columns are gone before the checks: dropping is the fix they suggest
        dropped = self._dropped_columns(protected.frame)
        frame = protected.frame.drop(columns=dropped)
        pii = {c: kind for c, kind in pii.items() if c not in dropped}
        actions = {c: action for c, action in actions.items() if c not in dropped}
        target = cfg.problem.target
        task = cfg.problem.task
        if task == "auto" and not missing_mask(frame[target]).all():
            task = infer_task(frame[target], categories=cfg.cleaning.categories)
        report = validate(
            frame,
            target=target,
            task=None if task == "auto" else task,
            quality=cfg.quality,
            id_columns=[c for c in cfg.data.id_columns if c in frame.columns],
            time_column=cfg.data.time_column,
            label_time_column=cfg.data.label_time_column,
            origin=raw.origin,
            seed=cfg.training.seed,
            categories=cfg.cleaning.categories,
        )
        findings = sorted(
            [
                *pii_findings(pii, actions, cfg.privacy),
                *report.findings,
                *(self._holdout_mismatch(prepared) if prepared is not None else []),
            ],
            key=lambda f: SEVERITY_ORDER[f.severity],
        )
        return QualityReport(
            findings=tuple(findings),
            n_rows=report.n_rows,
            n_columns=report.n_columns,
            origin=raw.origin,
        )

    def _try_prepare(self, raw: DataSet) -> PreparedData | None:
        """:meth:`prepare`, or None when the data cannot be prepared (its problems are findings)."""
        try:
            return self.prepare(raw)
        except LoopmlError:
            return None

    def _dropped_columns(self, frame: pd.DataFrame) -> list[Any]:
        """The columns of ``data.drop_columns`` in ``frame`` (never the target)."""
        target = self.config.problem.target
        return [c for c in self.config.data.drop_columns if c in frame.columns and c != target]

    def _holdout_mismatch(self, prepared: PreparedData) -> list[Finding]:
        """Columns distributed clearly differently in the holdout than in the training part.

        The time column of a time-ordered split differs by construction and is not compared.
        """
        X = prepared.X.drop(columns=self._dropped_columns(prepared.X))
        time_column = self.config.data.time_column if prepared.split.strategy == "time" else None
        report = validate(
            X.iloc[prepared.split.train],
            target=None,
            task=None,
            quality=self.config.quality,
            time_column=time_column if time_column in X.columns else None,
            holdout=X.iloc[prepared.split.holdout],
            seed=self.config.training.seed,
        )
        return [f for f in report.findings if f.id == "train-holdout-mismatch"]

    def profile(self, output: str | Path | None = None) -> tuple[Path, QualityReport]:
        """Stage 3: write the EDA profile (HTML) and return its path and the quality report."""
        cfg = self.config
        raw = self.collect()
        self._check_declared_columns(raw.frame)
        check_target_column(raw.frame, cfg.problem.target)
        prepared = self._try_prepare(raw)
        report = self.validate(raw, prepared)
        protected = prepared.data if prepared is not None else self.protect(raw)[0]
        frame = protected.frame
        target = cfg.problem.target
        task = report_task = None if cfg.problem.task == "auto" else cfg.problem.task
        if task is None and not missing_mask(frame[target]).all():
            report_task = infer_task(frame[target], categories=cfg.cleaning.categories)
        schema = infer_schema(
            frame,
            target,
            id_columns=[c for c in cfg.data.id_columns if c in frame.columns],
            time_column=cfg.data.time_column,
            drop_columns=[c for c in cfg.data.drop_columns if c in frame.columns],
        )
        result = profile_frame(
            frame,
            target=target,
            task=report_task,
            schema=schema,
            sample_rows=cfg.profile.sample_rows,
            seed=cfg.training.seed,
        )
        from loopml.reports import render_profile_report

        html = render_profile_report(
            result, title=f"{cfg.name}: data profile ({raw.origin})", findings=report.findings
        )
        path = self.path(output or cfg.profile.output)
        write_text_atomic(path, html)
        return path, report

    def prepare(self, data: DataSet | None = None) -> PreparedData:
        """Stages 1 and 3: settle the problem, infer the schema, split off the holdout.

        Everything that can be wrong with the data is found here, before any training.
        """
        from loopml.features import check_expressions
        from loopml.modeling import choose_strategy, holdout_split

        cfg = self.config
        data = data if data is not None else self.collect()
        self._check_declared_columns(data.frame)
        categories = cfg.cleaning.categories
        # target problems first, with their own message
        resolve_problem(data.frame, cfg.problem, categories=categories)
        data, pii, actions = self.protect(data)
        frame = data.frame
        problem = resolve_problem(frame, cfg.problem, categories=categories)
        notes = list(problem.notes)
        # rows with a target, whose labels are the classes (spelling variants merged) before
        # rows are compared; blank labels are missing, as the quality checks count them
        frame = frame.loc[~missing_mask(frame[problem.target])]
        labels = prepare_target(frame[problem.target], problem.task, problem)
        frame = frame.assign(**{problem.target: labels})
        if cfg.cleaning.duplicates == "drop":
            duplicated = frame.duplicated()
            if duplicated.any():
                notes.append(
                    f"{int(duplicated.sum())} duplicate rows dropped (cleaning.duplicates)"
                )
                frame = frame.loc[~duplicated]
        problem = dataclasses.replace(problem, notes=tuple(notes))
        frame = frame.reset_index(drop=True)
        y = frame[problem.target]
        ids = list(cfg.data.id_columns)
        if cfg.data.group_column:
            ids.append(cfg.data.group_column)
        schema = infer_schema(
            frame,
            problem.target,
            id_columns=ids,
            time_column=cfg.data.time_column,
            drop_columns=cfg.data.drop_columns,
        )
        if not schema.feature_columns:
            raise DataError(
                f"no usable feature columns in {data.origin}: every column is the target, an id, "
                "free text, personal data or dropped. Add feature columns or revise "
                "data.id_columns / data.drop_columns."
            )
        X = frame.drop(columns=[problem.target])
        check_expressions(cfg.features.expressions, list(schema.roles()))
        time = None
        if cfg.data.time_column:
            time = to_datetime(frame[cfg.data.time_column])
            bad = int(time.isna().sum())
            if bad > len(time) * 0.05:
                raise DataError(
                    f"data.time_column {cfg.data.time_column!r}: {bad} of {len(time)} values are "
                    "missing or not dates; a time-ordered split needs timestamps in every row."
                )
            time = time.fillna(time.min())
        groups = frame[cfg.data.group_column] if cfg.data.group_column else None
        strategy = choose_strategy(cfg.training.split, problem.task, time, groups)
        split = holdout_split(
            y,
            strategy=strategy,
            fraction=cfg.training.holdout_fraction,
            seed=cfg.training.seed,
            time=time,
            groups=groups,
        )
        if problem.is_classification:
            missing = set(problem.classes) - set(y.iloc[split.train].unique())
            if missing:
                raise DataError(
                    f"class(es) {sorted(map(str, missing))} of {problem.target!r} occur only "
                    "in the holdout; the model could never learn them. Collect more rows of "
                    "them, or use training.split: stratified."
                )
        return PreparedData(data, problem, schema, X, y, split, time, groups, actions, pii)

    def _check_declared_columns(self, frame: pd.DataFrame) -> None:
        d = self.config.data
        declared = [("data.id_columns", c) for c in d.id_columns]
        declared += [("data.drop_columns", c) for c in d.drop_columns]
        if d.time_column:
            declared.append(("data.time_column", d.time_column))
        if d.label_time_column:
            declared.append(("data.label_time_column", d.label_time_column))
        if d.group_column:
            declared.append(("data.group_column", d.group_column))
        for key, column in declared:
            if column not in frame.columns:
                raise ConfigError(
                    f"{key} names column {column!r}, which is not in the data "
                    f"({', '.join(map(str, list(frame.columns)[:15]))}...). Fix the name in "
                    f"{self.config_path.name}."
                )

    def train(self, progress: ProgressFn | None = None) -> TrainResult:
        """Stages 2–7: collect, prepare, search, evaluate, register and set the alias.

        If anything fails, nothing is registered and no report is written.
        """
        from loopml.evaluation import diagnose, evaluate, model_card
        from loopml.loop import decide_promotion
        from loopml.modeling import cv_folds, expected_cost, predict_scores, search
        from loopml.registry import ModelBundle
        from loopml.reports import model_label, render_training_report

        cfg = self.config
        raw = self.collect()
        prepared = self.prepare(raw)  # target and column problems first, with their own message
        quality = self.validate(raw, prepared)
        if quality.fails(cfg.quality.fail_on):
            raise DataError(_quality_failure(quality, cfg.quality.fail_on))
        # how the training file writes numbers: the model reads text numbers the same way
        dialect = (
            source_dialect(cfg.data.source, self.root)
            if isinstance(cfg.data.source, FileSource)
            else None
        )
        problem, split = prepared.problem, prepared.split
        X_train = prepared.X.iloc[split.train].reset_index(drop=True)
        y_train = prepared.y.iloc[split.train].reset_index(drop=True)
        X_hold = prepared.X.iloc[split.holdout].reset_index(drop=True)
        y_hold = prepared.y.iloc[split.holdout].reset_index(drop=True)
        t_train = (
            prepared.time.iloc[split.train].reset_index(drop=True)
            if prepared.time is not None
            else None
        )
        g_train = (
            prepared.groups.iloc[split.train].reset_index(drop=True)
            if prepared.groups is not None
            else None
        )
        folds = cv_folds(
            y_train,
            strategy=split.strategy,
            n_folds=cfg.training.cv_folds,
            seed=cfg.training.seed,
            time=t_train,
            groups=g_train,
        )
        result = search(
            X_train,
            y_train,
            task=problem.task,
            metric=problem.metric,
            roles=prepared.schema.roles(),
            folds=folds,
            budget_seconds=cfg.training.budget_seconds,
            max_trials=cfg.training.max_trials,
            classes=problem.classes,
            positive_class=problem.positive_class,
            families=cfg.training.models,
            tune=cfg.training.tune,
            cleaning=cfg.cleaning,
            ensemble=cfg.training.ensemble,
            constraints=cfg.problem.constraints,
            features=cfg.features,
            class_weight=cfg.training.class_weight,
            threshold=cfg.problem.threshold,
            costs=cfg.problem.costs,
            seed=cfg.training.seed,
            n_jobs=cfg.training.n_jobs,
            progress=progress,
            numbers=dialect.numbers if dialect is not None else None,
        )
        evaluation = evaluate(result.pipeline, X_hold, y_hold, problem)
        if progress is not None:
            progress(cfg.training.budget_seconds, "diagnosing the model")
        diagnostics = diagnose(
            result.pipeline,
            X_hold,
            y_hold,
            problem,
            X_train=X_train,
            y_train=y_train,
            cv_scores=result.leaderboard.best.fold_scores,
            seed=cfg.training.seed,
            n_bootstrap=1000,
            # diagnosis runs after the search, on a budget of its own
            budget_seconds=min(60.0, max(5.0, 0.25 * cfg.training.budget_seconds)),
            fit_seconds=_fold_fit(result.leaderboard.best, folds),
        )
        registry = self.registry
        champion_eval = self._champion_on(registry, X_hold, y_hold, problem)
        best = result.leaderboard.best
        decision = decide_promotion(
            evaluation,
            champion_eval,
            leakage=[f for f in quality.findings if f.id == "suspected-leakage"],
            cv_score=best.mean,
        )
        model = model_label(best, result.leaderboard.trials)  # ensembles name their members
        data_summary = {
            "origin": prepared.data.origin,
            "fingerprint": prepared.data.fingerprint,
            "rows": prepared.data.n_rows,
            "rows_with_target": len(prepared.y),
            "train_rows": len(split.train),
            "holdout_rows": len(split.holdout),
            "split": split.strategy,
            "features": len(prepared.schema.feature_columns),
            "ignored_columns": ", ".join(
                [
                    f"{c.name} ({c.pii or c.role})"
                    for c in prepared.schema.columns
                    if not c.is_feature
                ]
                + [f"{name} (dropped in loopml.yaml)" for name in prepared.schema.ignored]
            )
            or "none",
            "notes": "; ".join(problem.notes) or "none",
        }
        bundle = ModelBundle(
            pipeline=result.pipeline,
            schema=prepared.schema,
            problem=problem,
            metrics=evaluation.metrics,
            config=cfg.model_dump(mode="json"),
            reference=reference_statistics(X_train, prepared.schema),
            data_fingerprint=prepared.data.fingerprint,
            id_columns=tuple(c for c in cfg.data.id_columns if c in prepared.X.columns),
            info={
                "loopml_version": __version__,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "family": best.family,
                "params": best.params,
                "cv_score": best.mean,
                "privacy": prepared.privacy,
                "privacy_salt_env": cfg.privacy.salt_env,
                # the training file's dialect, declared or sniffed: files scored later are
                # read the same way where they do not say otherwise
                "csv_dialect": dialect.declared() if dialect is not None else None,
            },
        )
        summary = {
            "task": problem.task,
            "target": problem.target,
            "model": model,
            **data_summary,
        }
        business: dict[str, float] = {}
        if result.threshold is not None:
            summary["decision threshold"] = (
                f"{result.threshold.threshold:.4f} on P({problem.positive_class}), tuned for "
                f"{result.threshold.objective} on out-of-fold predictions"
            )
        if cfg.problem.costs is not None and problem.task == "binary":
            pred, _ = predict_scores(result.pipeline, X_hold, problem.task, problem.classes)
            cost = expected_cost(
                y_hold,
                pred,
                problem.positive_class,
                cfg.problem.costs.false_positive,
                cfg.problem.costs.false_negative,
            )
            business["expected_cost"] = cost
            summary["expected cost per row (holdout)"] = f"{cost:.4f}"
        card = model_card(
            problem,
            evaluation,
            diagnostics,
            data=data_summary,
            model=model,
            description=None,
        )
        html = render_training_report(
            title=f"{cfg.name}: training report",
            evaluation=evaluation,
            leaderboard=result.leaderboard,
            summary=summary,
            promotion=f"Alias: {decision.alias} — {decision.reason}.",
            diagnostics=diagnostics,
            model_card=card,
        )
        if progress is not None:
            progress(cfg.training.budget_seconds, "registering the model")
        with tempfile.TemporaryDirectory() as tmp:
            report_tmp = Path(tmp) / "report.html"
            report_tmp.write_text(html, encoding="utf-8")
            params = {
                "model_family": best.family,
                **{f"model.{k}": v for k, v in best.params.items()},
                "task": problem.task,
                "metric": problem.metric,
                "split": split.strategy,
                "budget_seconds": cfg.training.budget_seconds,
                "cv_folds": len(folds),
                "n_trials": sum(t.started for t in result.leaderboard.trials),
                "max_trials": cfg.training.max_trials or "none",
                "stopped_by": result.leaderboard.stopped_by,
                "train_rows": len(split.train),
                "holdout_rows": len(split.holdout),
                "data_origin": prepared.data.origin,
                "data_fingerprint": prepared.data.fingerprint,
            }
            metrics = {f"holdout_{k}": v for k, v in {**evaluation.metrics, **business}.items()}
            metrics["cv_" + problem.metric] = best.mean
            version = registry.register(
                bundle,
                params=params,
                metrics=metrics,
                artifacts={"report": report_tmp},
                tags={
                    "loopml.version": __version__,
                    "loopml.run_name": f"{cfg.name}-{best.family}",
                    "loopml.data_fingerprint": prepared.data.fingerprint,
                    "loopml.gate_passed": str(evaluation.gate.passed).lower(),
                },
                version_tags=version_tags(
                    family=model,
                    metric=problem.metric,
                    gate=evaluation.gate.gate or "none",
                    gate_passed=evaluation.gate.passed,
                ),
            )
        _move_alias(registry, version.version, decision.alias, decision.reason)
        report = self.workspace / "reports" / f"{cfg.model_name}-v{version.version}.html"
        write_text_atomic(report, html)
        registry.set_tags(version.version, version_tags(report=str(report)))
        version = registry.version_info(version.version)
        return TrainResult(
            version=version,
            alias=decision.alias,
            decision=decision,
            leaderboard=result.leaderboard,
            evaluation=evaluation,
            report=report,
            data=data_summary,
        )

    def _champion_on(
        self, registry: Registry, X: pd.DataFrame, y: pd.Series, problem: Problem
    ) -> Evaluation | None:
        from loopml.evaluation import evaluate

        if not registry.exists():
            return None
        try:
            bundle, _ = registry.load("champion")
        except LoopmlError as exc:
            if "has no champion" not in str(exc) and "no model is registered" not in str(exc):
                log.warning("the current champion cannot be loaded (%s); it is not compared", exc)
            return None
        if bundle.problem.task != problem.task or bundle.problem.classes != problem.classes:
            return None
        try:
            bundle.schema.check(X.columns, where="the new holdout")
            return evaluate(bundle.pipeline, X, y, problem)
        except (SchemaError, ValueError) as exc:
            log.warning("the champion cannot score the new holdout (%s)", exc)
            return None

    def evaluate(self, model: str = "champion", data: str | Path | None = None) -> Evaluation:
        """Score a registered model on labelled data: a file, or the project's holdout."""
        from loopml.evaluation import evaluate

        bundle, _ = self.registry.load(model)
        problem = bundle.problem
        if data is not None:
            path = self.path(data)
            if not path.is_file():
                raise DataError(f"evaluation data {path} not found.")
            kind = file_kind(path)
            frame = read_file(path, kind, key="scoring", dialect=self._input_dialect(bundle, path))
            if problem.target not in frame.columns:
                raise DataError(
                    f"{path} has no target column {problem.target!r}; evaluation needs labels."
                )
            # labels spelled as in training or by the same rules ("yes " for "Yes")
            labels = prepare_target(frame[problem.target], problem.task, problem)
            frame = frame[labels.notna()].reset_index(drop=True)
            y = labels[labels.notna()].reset_index(drop=True)
            X = frame.drop(columns=[problem.target])
        else:
            prepared = self.prepare()
            X = prepared.X.iloc[prepared.split.holdout].reset_index(drop=True)
            y = prepared.y.iloc[prepared.split.holdout].reset_index(drop=True)
        bundle.schema.check(X.columns, where=str(data or "the holdout"))
        problem = Problem(
            task=problem.task,
            target=problem.target,
            metric=problem.metric,
            gate=self.config.problem.gate or problem.gate,
            classes=problem.classes,
            positive_class=problem.positive_class,
        )
        if problem.is_classification:
            unknown = set(y.unique()) - set(problem.classes)
            if unknown:
                raise DataError(
                    f"labels {sorted(map(str, unknown))} in {problem.target!r} were never seen in "
                    "training; the model cannot be evaluated on them."
                )
        return evaluate(bundle.pipeline, X, y, problem)

    def score(
        self,
        input: str | Path,
        output: str | Path,
        model: str = "champion",
        progress: Callable[[int], None] | None = None,
    ) -> ScoringSummary:
        """Stage 7: batch-score a CSV or Parquet file in chunks."""
        source, target = self.path(input), self.path(output)
        if not source.is_file():
            raise DataError(f"input file {source} not found.")
        bundle, info = self.registry.load(model)
        return score_file(
            bundle,
            source,
            target,
            model_version=info.version,
            chunk_rows=self.config.scoring.chunk_rows,
            progress=progress,
            transform=self._privacy_replay(bundle),
            dialect=self._input_dialect(bundle, source),
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
        actions: dict[str, PiiPolicy] = bundle.info.get("privacy", {})
        if not any(a in ("drop", "hash") for a in actions.values()):
            return None
        salt_env = bundle.info.get("privacy_salt_env", self.config.privacy.salt_env)
        policy = PrivacyConfig(pii="keep", columns=actions, salt_env=salt_env)
        salt = self.env.get(salt_env)

        def replay(chunk: pd.DataFrame) -> pd.DataFrame:
            present = {c: "trained" for c in actions if c in chunk.columns}
            frame, _ = apply_privacy(chunk, present, policy, salt=salt)
            return frame

        return replay

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
        except LoopmlError:
            return RunResult(
                trained, None, f"no champion to score with (this model: {trained.decision.reason})"
            )
        summary = self.score(scoring_cfg.input, scoring_cfg.output, model=version)
        return RunResult(trained, summary)

    # ------------------------------------------------------------------ registry

    def models(self) -> list[ModelVersionInfo]:
        return self.registry.versions()

    def model(self, ref: str = "champion") -> ModelVersionInfo:
        return self.registry.version_info(ref)

    def promote(self, ref: str, alias: str = "champion") -> ModelVersionInfo:
        """Move ``alias`` to a version (after checking its files are intact).

        The version's promotion reason says it was promoted by hand, and the version that
        held the alias before says it lost it. A champion gives up its challenger alias.
        """
        registry = self.registry
        _, info = registry.load(ref)
        if alias not in info.aliases:
            today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            reason = f"promoted by hand with `loopml models promote` on {today}"
            _move_alias(registry, info.version, alias, reason)
        return registry.version_info(info.version)


def _move_alias(registry: Registry, version: str, alias: str, reason: str) -> None:
    """Point ``alias`` at ``version`` and record why; the version that held it says it lost
    it, so ``models show`` never gives a stale reason."""
    try:
        before: str | None = registry.resolve(alias)
    except LoopmlError:
        before = None
    registry.set_alias(version, alias)
    if before is not None and before != version:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        registry.set_tags(
            before,
            version_tags(
                promotion_reason=f"was {alias} until {now}, when version {version} became {alias}"
            ),
        )
    previously = f"version {before}" if before not in (None, version) else "none"
    registry.set_tags(
        version,
        version_tags(promotion_reason=f"{alias}: {reason} (previous {alias}: {previously})"),
    )


def _fold_fit(best: Any, folds: Any) -> tuple[int, float] | None:
    """``(rows, seconds)`` of one cross-validation fit of the chosen configuration (an
    ensemble's trial has no time of its own)."""
    if best.family == "ensemble" or best.seconds <= 0 or not folds:
        return None
    rows = sum(len(train) for train, _ in folds) / len(folds)  # time folds grow
    return round(rows), best.seconds / len(folds)


def _quality_failure(report: QualityReport, fail_on: str) -> str:
    limit = SEVERITY_ORDER[fail_on]
    failing = [f for f in report.findings if SEVERITY_ORDER[f.severity] <= limit]
    lines = [
        f"- [{f.severity}] {f.id}"
        + (f" ({f.column})" if f.column else "")
        + f": {f.message}"
        + (f" Fix: {f.suggestion}" if f.suggestion else "")
        for f in failing[:10]
    ]
    more = f"\n... and {len(failing) - 10} more" if len(failing) > 10 else ""
    return (
        f"data quality check failed with {len(failing)} finding(s) at or above "
        f"'{fail_on}' (quality.fail_on) in {report.origin}; nothing was trained:\n"
        + "\n".join(lines)
        + more
        + "\nRun `loopml validate` for the full report."
    )
