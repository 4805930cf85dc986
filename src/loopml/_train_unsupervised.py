"""``Project.train`` for clustering and anomaly detection: the search, the holdout
evaluation, the champion compared on the same holdout, and registration as one step (the
bundle, its monitoring reference and its report), as for the supervised tasks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._train_register import monitoring_reference, register_with_report, run_record
from loopml._train_result import TrainResult, held_alias
from loopml._version import __version__
from loopml.data import reference_statistics
from loopml.errors import ModelNotFoundError, RegistryError, SchemaError

if TYPE_CHECKING:
    import pandas as pd

    from loopml.config import ProjectConfig
    from loopml.data import CsvDialect, LabelledRows, PreparedData
    from loopml.evaluation import Evaluation, UnsupervisedFindings
    from loopml.loop import PromotionDecision
    from loopml.modeling import UnsupervisedFit
    from loopml.registry import ModelBundle, ModelVersionInfo, Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """Where a training run goes: the project's settings, registry and report directory."""

    config: ProjectConfig
    registry: Registry
    report_dir: Path
    dialect: CsvDialect | None = None


def train_unsupervised(
    prepared: PreparedData,
    to: Destination,
    *,
    progress: Callable[[float, str], None] | None = None,
    as_challenger: bool = False,
) -> TrainResult:
    """Stages 5–7 of a clustering or anomaly project on ``prepared`` (validated already)."""
    from loopml.evaluation import evaluate_unsupervised, unsupervised_findings
    from loopml.loop import PromotionDecision as Decision
    from loopml.loop import decide_promotion

    cfg = to.config
    fit = _fit(prepared, cfg)
    problem = dataclasses.replace(prepared.problem, classes=fit.classes)
    prepared = dataclasses.replace(prepared, problem=problem)
    if progress is not None:
        progress(cfg.training.budget_seconds, "evaluating the model")
    train, holdout = prepared.training_rows(), prepared.holdout_rows()
    search = _search_measures(fit)
    evaluation = evaluate_unsupervised(fit.pipeline, holdout.X, holdout.y, problem, search)
    champion, seen = _champion_on(to.registry, holdout, prepared)
    decision = decide_promotion(evaluation, champion)
    unlabelled = problem.task == "anomaly" and not problem.has_labels
    if champion is not None and evaluation.gate.passed and unlabelled:
        # anomaly_rate measures no quality to beat
        decision = Decision(
            "champion",
            "passes the gate; without labels two detectors cannot be compared, so the one "
            "trained on the latest rows replaces the champion",
        )
    if as_challenger and decision.alias == "champion":
        reason = f"{decision.reason}; retraining decides the promotion"
        decision = dataclasses.replace(decision, alias="challenger", reason=reason)
    findings = unsupervised_findings(
        fit.pipeline,
        train.X,
        holdout.X,
        prepared.schema.roles(),
        model=fit.model,
        clustering=fit.clustering,
        anomaly=fit.anomaly,
    )
    if progress is not None:
        progress(cfg.training.budget_seconds, "registering the model")
    version = _register(prepared, fit, evaluation, decision, findings, to, seen)
    return TrainResult(
        version=version,
        alias=held_alias(version.aliases, decision.alias),
        decision=decision,
        leaderboard=fit.leaderboard,
        evaluation=evaluation,
        report=Path(version.report),
        data=prepared.summary(),
    )


def _fit(prepared: PreparedData, cfg: ProjectConfig) -> UnsupervisedFit:
    from loopml.modeling import fit_anomaly, fit_clustering

    train = prepared.training_rows()
    roles = prepared.schema.roles()
    seed = cfg.training.seed
    if prepared.problem.task == "clustering":
        return fit_clustering(
            train.X,
            roles,
            budget_seconds=cfg.training.budget_seconds,
            max_clusters=cfg.problem.max_clusters,
            seed=seed,
        )
    labels = train.y if prepared.problem.has_labels else None
    return fit_anomaly(
        train.X, roles, labels=labels, contamination=cfg.problem.contamination, seed=seed
    )


def _search_measures(fit: UnsupervisedFit) -> dict[str, float]:
    """The clustering search's own measures of the chosen model (the gate may name them)."""
    if fit.clustering is None:
        return {}
    return {"stability": fit.clustering.best.stability, "agreement": fit.clustering.agreement}


def _champion_on(
    registry: Registry, holdout: LabelledRows, prepared: PreparedData
) -> tuple[Evaluation | None, str | None]:
    """The champion's evaluation on the new holdout (None: there is none, or it solves
    another problem or reads other columns), and its version."""
    from loopml.evaluation import evaluate_unsupervised

    try:
        bundle, info = registry.load("champion")
    except ModelNotFoundError:
        return None, None
    except RegistryError as exc:
        log.warning("the current champion cannot be loaded (%s); it is not compared", exc)
        return None, None
    if bundle.problem.task != prepared.problem.task:
        return None, info.version
    try:
        bundle.schema.check(holdout.X.columns, where="the new holdout")
        searched: dict[str, float] = {
            k: bundle.metrics[k] for k in ("stability", "agreement") if k in bundle.metrics
        }
        problem = dataclasses.replace(prepared.problem, classes=bundle.problem.classes)
        return evaluate_unsupervised(
            bundle.pipeline, holdout.X, holdout.y, problem, searched
        ), info.version
    except (SchemaError, ValueError) as exc:
        log.warning("the champion cannot score the new holdout (%s)", exc)
        return None, info.version


def _register(
    prepared: PreparedData,
    fit: UnsupervisedFit,
    evaluation: Evaluation,
    decision: PromotionDecision,
    findings: UnsupervisedFindings,
    to: Destination,
    champion: str | None,
) -> ModelVersionInfo:
    from loopml.registry import Release

    cfg = to.config
    record = run_record(
        cfg,
        prepared,
        n_folds=0,
        leaderboard=fit.leaderboard,
        model=fit.model,
        evaluation=evaluation,
    )
    html = _report(prepared, fit, evaluation, decision, findings, cfg.name)
    release = Release(
        alias=decision.alias,
        reason=decision.reason,
        report=html,
        report_dir=to.report_dir,
        champion_seen=champion,
        actor="train",
    )
    bundle = _bundle(prepared, fit, evaluation, cfg, to.dialect)
    return register_with_report(to.registry, bundle, record, release)


def _bundle(
    prepared: PreparedData,
    fit: UnsupervisedFit,
    evaluation: Evaluation,
    cfg: ProjectConfig,
    dialect: CsvDialect | None,
) -> ModelBundle:
    from loopml.registry import ModelBundle

    X: pd.DataFrame = prepared.training_rows().X
    bundle = ModelBundle(
        pipeline=fit.pipeline,
        schema=prepared.schema,
        problem=prepared.problem,
        metrics=evaluation.metrics,
        config=cfg.model_dump(mode="json"),
        reference=reference_statistics(X, prepared.schema),
        data_fingerprint=prepared.data.fingerprint,
        id_columns=tuple(c for c in cfg.data.id_columns if c in prepared.X.columns),
        info={
            "loopml_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "family": fit.leaderboard.best.family,
            "params": fit.leaderboard.best.params,
            "model": fit.model,
            "reason": fit.reason,
            "privacy": prepared.privacy,
            "privacy_salt_env": cfg.privacy.salt_env,
            "csv_dialect": dialect.declared() if dialect is not None else None,
        },
    )
    bundle.reference["monitoring"] = monitoring_reference(bundle, prepared, X, cfg.training.seed)
    return bundle


def _report(
    prepared: PreparedData,
    fit: UnsupervisedFit,
    evaluation: Evaluation,
    decision: PromotionDecision,
    findings: UnsupervisedFindings,
    project_name: str,
) -> str:
    from loopml.evaluation import model_card
    from loopml.reports import render_training_report

    problem = prepared.problem
    summary: dict[str, Any] = {"task": problem.task}
    if problem.has_labels:
        summary["label column"] = f"{problem.target} ({problem.anomaly_label!r}: an anomaly)"
    summary["model"] = fit.model
    summary["why"] = fit.reason
    summary.update(prepared.summary())
    card = model_card(problem, evaluation, data=prepared.summary(), model=fit.model)
    return render_training_report(
        title=f"{project_name}: training report",
        evaluation=evaluation,
        leaderboard=fit.leaderboard,
        summary=summary,
        promotion=f"Alias: {decision.alias} — {decision.reason}.",
        model_card=card,
        unsupervised=findings,
    )
