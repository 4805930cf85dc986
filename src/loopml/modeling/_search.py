"""The model search: a portfolio of strong defaults, then Optuna, under a wall-clock budget.

Every trial is cross-validated on the training part only (the holdout never reaches this
module) and recorded on the :class:`Leaderboard`, including the ones that failed, were pruned
or ran out of time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from loopml.config import CleaningConfig, Constraints, Costs, FeaturesConfig
from loopml.errors import TrainingError
from loopml.features import absolute_time_options, selection_options
from loopml.metrics import greater_is_better, score
from loopml.modeling._candidates import (
    CANDIDATES,
    INTERPRETABLE_FAMILIES,
    PORTFOLIO_ORDER,
    available_families,
    relevant_params,
    resolve_class_weight,
    unavailable_families,
)
from loopml.modeling._cpus import resolve_n_jobs
from loopml.modeling._ensemble import WeightedEnsemble, select_ensemble
from loopml.modeling._executor import FoldJob, TrialExecutor, default_executor, wait_all
from loopml.modeling._leaderboard import Leaderboard, TrialResult
from loopml.modeling._pipeline import make_pipeline, quietly
from loopml.modeling._split import Folds
from loopml.modeling._threshold import ThresholdChoice, tune_threshold, with_threshold
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.data import NumberFormat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    leaderboard: Leaderboard
    pipeline: Pipeline  # the best configuration refitted on all the training rows
    feature_roles: dict[str, str] = field(default_factory=dict)
    threshold: ThresholdChoice | None = None  # binary tasks with problem.threshold set


ProgressFn = Callable[[float, str], None]


class _Budget:
    def __init__(self, seconds: float, clock: Callable[[], float], start: float | None = None):
        self.seconds = seconds
        self.clock = clock
        self.start = clock() if start is None else start

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    @property
    def left(self) -> float:
        return self.seconds - self.elapsed


def search(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: TaskKind,
    metric: str,
    roles: dict[str, str],
    folds: Folds,
    budget_seconds: float,
    classes: Sequence[Any] = (),
    positive_class: Any = None,
    families: Sequence[str] = PORTFOLIO_ORDER,
    tune: bool = True,
    max_trials: int | None = None,
    cleaning: CleaningConfig | None = None,
    ensemble: bool = True,
    constraints: Constraints | None = None,
    features: FeaturesConfig | None = None,
    class_weight: str = "auto",
    threshold: str = "default",
    costs: Costs | None = None,
    seed: int = 42,
    n_jobs: int = -1,
    progress: ProgressFn | None = None,
    clock: Callable[[], float] = time.monotonic,
    started: float | None = None,
    executor: TrialExecutor | None = None,
    numbers: NumberFormat | None = None,
) -> SearchResult:
    """Cross-validate candidates within ``budget_seconds`` and refit the best on all rows.

    The budget covers the search and the final refit: a trial is stopped between folds when
    what is left would not fit another fold and the refit of the current best. It counts
    from ``started`` (a ``clock`` reading) when given, so a caller's own preparation is paid
    from it too; else from the call. ``max_trials`` stops the search earlier: with a budget
    that does not bind, the same trials run every time.

    ``n_jobs=-1`` uses the CPUs this process may use (its affinity mask and cgroup quota,
    see :func:`loopml.modeling._cpus.available_cpus`), not every CPU of the machine.

    Folds are fitted by ``executor`` (see :mod:`loopml.modeling._executor`), as many at a
    time as it has workers; by default local processes when ``n_jobs`` allows several folds
    at once, else this process. The final refit always runs here.

    ``numbers`` is how the pipelines read numbers written as text: the training data's
    decimal mark and thousands separator (default: dot and comma).

    Raises
    ------
    TrainingError
        When no candidate completed.
    """
    jobs = resolve_n_jobs(n_jobs)  # -1: the CPUs this process may use, not the machine's
    limits = constraints or Constraints()
    if limits.interpretable:
        families = [f for f in families if f in INTERPRETABLE_FAMILIES]
        if not families:
            raise TrainingError(
                "problem.constraints.interpretable allows only "
                f"{', '.join(INTERPRETABLE_FAMILIES)}; add one of them to training.models."
            )
    for family, reason in unavailable_families(families).items():
        log.info("candidate %s skipped: %s", family, reason)
    families = list(available_families(families))
    weight = resolve_class_weight(class_weight, y, metric) if task != "regression" else None
    extra: dict[str, Any] = {"class_weight": weight} if weight else {}
    # 5% of the budget is kept back for what the estimates miss (the final refit's variance,
    # predicting, bookkeeping), so the whole fit stays within the budget
    budget = _Budget(budget_seconds * 0.95, clock, started)
    bigger = greater_is_better(metric)
    order = [f for f in PORTFOLIO_ORDER if f in families]
    trials: list[TrialResult] = []
    fold_seconds: dict[str, float] = {}
    oof_store: dict[int, np.ndarray] = {}  # trial number -> out-of-fold predictions
    excluded: set[str] = set()  # families whose defaults broke a constraint
    width = len(classes) if task != "regression" else 1
    executor = executor or default_executor(jobs, len(folds), budget_seconds)
    threads = max(1, jobs // executor.workers)  # cores each concurrent fold may use

    def report(message: str) -> None:
        if progress is not None:
            progress(min(budget.elapsed, budget.seconds), message)

    def best_so_far() -> TrialResult | None:
        ok = [t for t in trials if t.status == "ok" and not math.isnan(t.mean)]
        if not ok:
            return None
        return max(ok, key=lambda t: t.mean if bigger else -t.mean)

    # a fold trains on part of the rows; the final refit on all of them takes longer
    refit_factor = len(X) / max(float(np.mean([len(train) for train, _ in folds])), 1.0)

    def refit_reserve() -> float:
        """Seconds to keep for refitting the best model so far on all the rows."""
        best = best_so_far()
        if best is None:
            return 0.0
        return fold_seconds.get(best.family, 0.0) * refit_factor * 1.1

    def estimate(family: str) -> float:
        """Seconds one wave of folds of ``family`` should take (a wave of folds side by side
        takes about as long as one fold); a family not tried yet is scaled from the others."""
        if family in fold_seconds:
            return fold_seconds[family]
        seen = {f: t for f, t in fold_seconds.items() if f not in _UNSCALED} or fold_seconds
        prior = COST_PRIOR.get(family, max(COST_PRIOR.values()))
        return max(
            (t * prior / COST_PRIOR.get(f, 1.0) for f, t in seen.items()),
            default=0.0,
        )

    def affordable(family: str) -> bool:
        """Whether a wave of ``family`` fits, leaving time to refit the best model after it
        (which may then be this one)."""
        needed = estimate(family)
        reserve = max(refit_reserve(), needed * refit_factor * 1.1)
        return budget.left - reserve >= needed

    def run_trial(
        family: str, params: dict[str, Any], source: str, optuna_trial: optuna.Trial | None
    ) -> TrialResult:
        number = len(trials)
        started = clock()
        scores: list[float] = []
        status = "ok"
        error = broken = ""
        must_finish = best_so_far() is None  # the first model always completes
        oof = np.full((len(X), width), np.nan)
        checked = bool(limits.max_latency_ms or limits.max_model_mb)
        done = 0
        while done < len(folds):
            if not must_finish and not affordable(family):
                status = "timeout" if done else "not_started"
                break
            wave = [
                FoldJob(
                    family=family,
                    params=params,
                    fold=k,
                    task=task,
                    metric=metric,
                    roles=roles,
                    classes=tuple(classes),
                    positive_class=positive_class,
                    seed=seed,
                    threads=threads,
                    cleaning=cleaning,
                    features=features,
                    limits=limits if checked and k == len(folds) - 1 else None,
                    numbers=numbers,
                )
                for k in range(done, min(done + executor.workers, len(folds)))
            ]
            t0 = clock()
            outcomes = wait_all(wave, [executor.submit(job) for job in wave])
            spent = clock() - t0
            failed = next((o for o in outcomes if o.error), None)
            if failed is not None:  # a candidate failing is recorded, not fatal
                status, error = "failed", failed.error
                log.warning("trial %d (%s) failed: %s", number, family, error)
                break
            fold_seconds[family] = max(fold_seconds.get(family, 0.0) * 0.5 + spent * 0.5, spent)
            for outcome in outcomes:
                if not math.isnan(outcome.score):
                    scores.append(outcome.score)
                oof[folds[outcome.fold][1]] = outcome.predictions
                broken = broken or outcome.broken
            done += len(wave)
            report(f"{family} fold {done}/{len(folds)}")
            if optuna_trial is not None and scores:
                optuna_trial.report(float(np.mean(scores)), done - 1)
                if optuna_trial.should_prune():
                    status = "pruned"
                    break
        if status == "ok" and not scores:
            status, error = "failed", "metric undefined on every fold"
        if status == "ok" and broken:
            status, error = "excluded", broken
            excluded.add(family)
        result = TrialResult(
            number=number,
            family=family,
            params=_trial_params(family, task, params),
            fold_scores=tuple(scores),
            seconds=clock() - started,
            status=status,
            source=source,
            error=error,
        )
        trials.append(result)
        if status == "ok" and len(scores) == len(folds):
            oof_store[number] = oof
            _keep_best(oof_store, trials, bigger, limit=20)
        report(f"{family}: {result.mean:.4f}" if status == "ok" else f"{family}: {status}")
        return result

    stopped_by = "complete"

    def may_continue() -> bool:
        """Whether another trial may start; the first of the trial cap and the budget stops
        the search (with a generous budget, the cap alone decides: the same trials every
        run)."""
        nonlocal stopped_by
        if max_trials is not None and sum(t.started for t in trials) >= max_trials:
            stopped_by = "max_trials"
            return False
        if best_so_far() is None or budget.left - refit_reserve() > 0:
            return True
        stopped_by = "budget"
        return False

    executor.start(X, y, folds)
    try:
        options: dict[str, tuple[Any, ...]] = {}
        if features is not None:
            options = {
                "absolute_time": absolute_time_options(features, roles),
                "selection": selection_options(features),
            }
        # whether year and elapsed time help is decided once, early, on the first tree model:
        # the same defaults with and without them, the winner kept for the rest of the search
        probe = next((f for f in order if f not in _UNSCALED), order[0] if order else None)
        for family in order:
            if not may_continue():
                break
            first = run_trial(family, dict(extra), "portfolio", None)
            if family == probe and len(options.get("absolute_time", ())) > 1 and may_continue():
                second = run_trial(family, {**extra, "absolute_time": False}, "portfolio", None)
                if first.status == "ok" and second.status == "ok":
                    better = second.mean > first.mean if bigger else second.mean < first.mean
                    extra["absolute_time"] = not better
                    options.pop("absolute_time")

        if tune and best_so_far() is not None and may_continue():
            allowed = [f for f in order if f not in excluded]
            _tune(
                run_trial,
                trials,
                allowed,
                task,
                seed,
                may_continue,
                affordable,
                bigger,
                options,
                extra,
            )
            if stopped_by == "complete":  # tuning ends only at the cap or the budget
                stopped_by = "budget"
    finally:
        executor.close()
    if stopped_by == "complete" and any(t.status in ("timeout", "not_started") for t in trials):
        stopped_by = "budget"

    best = best_so_far()
    if best is None:
        reasons = "; ".join(f"{t.family}: {t.error or t.status}" for t in trials)
        raise TrainingError(f"no candidate model could be trained ({reasons}).")
    chosen = None
    if ensemble:
        chosen = _ensemble_trial(
            oof_store,
            trials,
            y,
            folds,
            metric=metric,
            task=task,
            classes=classes,
            positive_class=positive_class,
            bigger=bigger,
            best=best,
            seconds_left=budget.left,
            fold_seconds=fold_seconds,
        )
    if chosen is not None:
        trials.append(chosen)
        members = [trials[n] for n in chosen.params["members"]]
        report(f"refitting an ensemble of {len(members)} models on all training rows")
        pipeline: Any = WeightedEnsemble(
            estimators=[
                make_pipeline(
                    roles, m.family, task, m.params, seed, jobs, cleaning, features, numbers
                )
                for m in members
            ],
            weights=list(chosen.params["members"].values()),
            task=task,
        )
    else:
        report(f"refitting {best.family} on all training rows")
        pipeline = make_pipeline(
            roles, best.family, task, best.params, seed, jobs, cleaning, features, numbers
        )
    choice = None
    if task == "binary" and threshold != "default":
        oof = (
            sum(w * oof_store[n] for n, w in chosen.params["members"].items())
            if chosen is not None
            else oof_store.get(best.number)
        )
        if oof is not None:
            covered = np.isfinite(oof).all(axis=1)
            column = list(classes).index(positive_class)
            choice = tune_threshold(
                y.to_numpy()[covered],
                oof[covered, column],
                positive_class,
                objective=threshold,
                false_positive=costs.false_positive if costs else 1.0,
                false_negative=costs.false_negative if costs else 1.0,
            )
            pipeline = with_threshold(pipeline, choice.threshold, positive_class)
            report(f"decision threshold {choice.threshold:.3f} ({threshold})")
    with quietly(jobs):
        pipeline.fit(X, y)
    board = Leaderboard(
        metric=metric,
        greater_is_better=bigger,
        trials=tuple(trials),
        budget_seconds=budget_seconds,
        elapsed_seconds=budget.elapsed,
        n_folds=len(folds),
        n_jobs=jobs,
        workers=executor.workers,
        stopped_by=stopped_by,
    )
    report("done")
    return SearchResult(
        leaderboard=board, pipeline=pipeline, feature_roles=dict(roles), threshold=choice
    )


def _tune(
    run_trial: Callable[..., TrialResult],
    trials: list[TrialResult],
    order: list[str],
    task: TaskKind,
    seed: int,
    may_continue: Callable[[], bool],
    affordable: Callable[[str], bool],
    bigger: bool,
    options: dict[str, tuple[Any, ...]] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Bayesian search (TPE) over the two best families, pruning weak trials between folds.

    Near the end of the budget a family too slow for what is left is no longer drawn: the
    trial is pinned to one that still fits, and the search ends when none does.
    """
    ok = [t for t in trials if t.status == "ok" and not math.isnan(t.mean)]
    ok.sort(key=lambda t: -t.mean if bigger else t.mean)
    families = list(dict.fromkeys(t.family for t in ok))[:2] or order[:1]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if bigger else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )
    while may_continue():
        usable = [f for f in families if affordable(f)]
        if not usable:
            break
        if len(usable) < len(families):
            study.enqueue_trial({"family": usable[0]}, skip_if_exists=False)
        trial = study.ask()
        family = trial.suggest_categorical("family", families)
        params = {**CANDIDATES[family].space(trial, task), **(extra or {})}
        for key, values in (options or {}).items():
            if len(values) > 1:  # pipeline choices the data leaves open: the search decides
                params[key] = trial.suggest_categorical(key, list(values))
        result = run_trial(family, params, "optuna", trial)
        if result.status == "ok":
            study.tell(trial, result.mean)
        elif result.status == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _keep_best(
    store: dict[int, np.ndarray], trials: list[TrialResult], bigger: bool, limit: int
) -> None:
    """Keep out-of-fold predictions of the ``limit`` best trials only (memory stays bounded)."""
    if len(store) <= limit:
        return
    by_number = {t.number: t for t in trials}
    ranked = sorted(store, key=lambda n: -by_number[n].mean if bigger else by_number[n].mean)
    for n in ranked[limit:]:
        del store[n]


def _ensemble_trial(
    store: dict[int, np.ndarray],
    trials: list[TrialResult],
    y: pd.Series,
    folds: Folds,
    *,
    metric: str,
    task: TaskKind,
    classes: Sequence[Any],
    positive_class: Any,
    bigger: bool,
    best: TrialResult,
    seconds_left: float,
    fold_seconds: dict[str, float],
) -> TrialResult | None:
    """The ensemble as a leaderboard row, when it beats the best single model's pooled
    out-of-fold score and refitting its members fits in what is left of the budget."""
    choice = select_ensemble(
        store,
        y.to_numpy(),
        metric=metric,
        task=task,
        classes=classes,
        positive_class=positive_class,
    )
    if choice is None or not choice.improves:
        return None
    better = (
        choice.score > choice.best_single_score
        if bigger
        else (choice.score < choice.best_single_score)
    )
    if not better:
        return None
    by_number = {t.number: t for t in trials}
    members = {n: w for n, w in sorted(choice.weights.items(), key=lambda kv: -kv[1])}
    refit = sum(fold_seconds.get(by_number[n].family, 0.0) for n in members) * 1.25
    extra = refit - fold_seconds.get(best.family, 0.0) * 1.25
    if extra > max(seconds_left, 0.0):
        return None  # no time to refit the members: the single best model it is
    stacked = sum(w * store[n] for n, w in members.items())
    assert isinstance(stacked, np.ndarray)  # members is not empty: sum never returned its 0
    fold_scores = []
    for _, valid_idx in folds:
        part = stacked[valid_idx]
        y_part = y.iloc[valid_idx].to_numpy()
        if task == "regression":
            fold_scores.append(
                score(metric, task, y_part, part[:, 0], None, classes, positive_class)
            )
        else:
            pred = np.asarray(list(classes))[np.argmax(part, axis=1)]
            fold_scores.append(score(metric, task, y_part, pred, part, classes, positive_class))
    kept = [v for v in fold_scores if not math.isnan(v)]
    mean = float(np.mean(kept)) if kept else float("nan")
    if not (mean > best.mean if bigger else mean < best.mean):
        return None  # better pooled but not per fold: keep the simpler model
    return TrialResult(
        number=len(trials),
        family="ensemble",
        params={"members": members},
        fold_scores=tuple(kept),
        seconds=0.0,
        status="ok",
        source="ensemble",
    )


#: Rough fit time of each family's defaults relative to LightGBM's on the same rows, to
#: estimate a family not tried yet from the ones that were. Deliberately on the slow side.
COST_PRIOR = {
    "linear": 1.0,
    "lightgbm": 1.0,
    "hist_gradient_boosting": 1.0,
    "xgboost": 2.0,
    "extra_trees": 2.0,
    "random_forest": 3.0,
    "catboost": 8.0,  # native categoricals: its category statistics cost the most
    "decision_tree": 0.3,
    "knn": 1.5,
    "mlp": 2.5,
}
#: Families whose time grows with the encoded width (one-hot) rather than the rows: not used
#: to scale estimates for the tree families.
_UNSCALED = frozenset({"linear", "knn", "mlp"})

#: Parameters that shape the pipeline rather than the model.
PIPELINE_PARAMS = ("absolute_time", "selection")


def _trial_params(family: str, task: TaskKind, params: dict[str, Any]) -> dict[str, Any]:
    """What a trial ran with: the model's relevant parameters plus pipeline choices."""
    model = {k: v for k, v in params.items() if k not in PIPELINE_PARAMS}
    out = relevant_params(family, task, {**CANDIDATES[family].defaults, **model})
    out.update({k: params[k] for k in PIPELINE_PARAMS if k in params})
    return out
