"""The end of ``Project.train``: a training run's outcome registered as one step, with its
bundle (the model, its schema and the reference statistics monitoring reads) and its report."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._version import __version__
from loopml.data import reference_statistics

if TYPE_CHECKING:
    import pandas as pd

    from loopml.config import ProjectConfig
    from loopml.data import CsvDialect, PreparedData
    from loopml.evaluation import Assessment, Evaluation
    from loopml.loop import PromotionDecision
    from loopml.modeling import Leaderboard, SearchResult
    from loopml.registry import ModelBundle, ModelVersionInfo, Registry, Release, RunRecord


@dataclass(frozen=True)
class Outcome:
    """What a training run found, on its way to the registry and the report."""

    prepared: PreparedData
    result: SearchResult
    n_folds: int
    assessment: Assessment
    decision: PromotionDecision
    model: str  # the chosen model's label
    champion: str | None = None  # the champion version the decision compared with
    actor: str = "train"  # what trained it, for the alias history: train | retrain


def register_outcome(
    outcome: Outcome,
    cfg: ProjectConfig,
    registry: Registry,
    report_dir: Path,
    dialect: CsvDialect | None,
) -> ModelVersionInfo:
    """Stage 7: register the model, set its alias and write its report, as one step."""
    from loopml.registry import Release

    record = run_record(
        cfg,
        outcome.prepared,
        n_folds=outcome.n_folds,
        leaderboard=outcome.result.leaderboard,
        model=outcome.model,
        evaluation=outcome.assessment.evaluation,
        business=outcome.assessment.business,
    )
    html = training_report(outcome, cfg.name)
    release = Release(
        alias=outcome.decision.alias,
        reason=outcome.decision.reason,
        report=html,
        report_dir=report_dir,
        champion_seen=outcome.champion,
        actor=outcome.actor,
    )
    return register_with_report(registry, model_bundle(outcome, cfg, dialect), record, release)


def run_record(
    cfg: ProjectConfig,
    prepared: PreparedData,
    *,
    n_folds: int,
    leaderboard: Leaderboard,
    model: str,
    evaluation: Evaluation,
    business: Mapping[str, float] | None = None,
) -> RunRecord:
    """The MLflow parameters, metrics and tags of one training run (supervised or not)."""
    from loopml.registry import RunRecord, TrainingRun

    return RunRecord.of(
        TrainingRun(
            project=cfg.name,
            loopml_version=__version__,
            problem=prepared.problem,
            data=prepared.data,
            split=prepared.split,
            n_folds=n_folds,
            training=cfg.training,
            leaderboard=leaderboard,
            model=model,
            evaluation=evaluation,
            business=business or {},
        )
    )


def register_with_report(
    registry: Registry, bundle: ModelBundle, record: RunRecord, release: Release
) -> ModelVersionInfo:
    """Register ``bundle`` with its run record, its report as an artifact and its alias."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        report.write_text(release.report, encoding="utf-8")
        return registry.register(
            bundle,
            params=record.params,
            metrics=record.metrics,
            artifacts={"report": report},
            tags=record.tags,
            version_tags=record.version_tags,
            release=release,
        )


def model_bundle(outcome: Outcome, cfg: ProjectConfig, dialect: CsvDialect | None) -> ModelBundle:
    """The model and everything that touches a row or describes the model."""
    from loopml.registry import ModelBundle

    prepared = outcome.prepared
    best = outcome.result.leaderboard.best
    X = prepared.training_rows().X
    bundle = ModelBundle(
        pipeline=outcome.result.pipeline,
        schema=prepared.schema,
        problem=prepared.problem,
        metrics=outcome.assessment.evaluation.metrics,
        config=cfg.model_dump(mode="json"),
        reference=reference_statistics(X, prepared.schema),
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
    bundle.reference["monitoring"] = monitoring_reference(bundle, prepared, X, cfg.training.seed)
    return bundle


def monitoring_reference(
    bundle: ModelBundle, prepared: PreparedData, X: pd.DataFrame, seed: int
) -> dict[str, Any]:
    """What ``loopml monitor`` compares each window with: the training part's features, and
    the model's predictions and probabilities on the holdout next to its labels, scored the
    way the service scores (the bundle's own ``predict_frame``)."""
    from loopml.monitoring import build_reference

    holdout = prepared.holdout_rows()
    scored = bundle.predict_frame(holdout.X)
    proba = scored[[c for c in scored.columns if c.startswith("proba_")]]
    return build_reference(
        X,
        prepared.schema,
        prepared.problem,
        holdout_y=holdout.y if prepared.problem.has_labels else None,
        holdout_predictions=scored["prediction"],
        holdout_probabilities=proba if len(proba.columns) else None,
        seed=seed,
    )


def training_report(outcome: Outcome, project_name: str) -> str:
    """The training report (HTML): summary, evaluation, diagnostics, model card."""
    from loopml.evaluation import model_card
    from loopml.reports import render_training_report

    problem, result = outcome.prepared.problem, outcome.result
    evaluation, diagnostics = outcome.assessment.evaluation, outcome.assessment.diagnostics
    data_summary = outcome.prepared.summary()
    summary: dict[str, Any] = {"task": problem.task, "target": problem.target}
    summary["model"] = outcome.model
    summary.update(data_summary)
    if result.threshold is not None:
        summary["decision threshold"] = (
            f"{result.threshold.threshold:.4f} on P({problem.positive_class}), tuned for "
            f"{result.threshold.objective} on out-of-fold predictions"
        )
    cost = outcome.assessment.business.get("expected_cost")
    if cost is not None:
        summary["expected cost per row (holdout)"] = f"{cost:.4f}"
    card = model_card(
        problem,
        evaluation,
        diagnostics,
        data=data_summary,
        model=outcome.model,
        description=None,
    )
    return render_training_report(
        title=f"{project_name}: training report",
        evaluation=evaluation,
        leaderboard=result.leaderboard,
        summary=summary,
        promotion=f"Alias: {outcome.decision.alias} — {outcome.decision.reason}.",
        diagnostics=diagnostics,
        model_card=card,
    )
