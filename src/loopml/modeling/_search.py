"""The model search: a portfolio of strong defaults, then Optuna, under a wall-clock budget.

Every trial is cross-validated on the training part only (the holdout never reaches this
module) and recorded on the :class:`Leaderboard`, including the ones that failed, were pruned
or ran out of time. :class:`Search` runs one phase per method, in the order :meth:`Search.run`
calls them; :func:`loopml.modeling.train_model` plans the folds and runs it. With
``problem.constraints.max_latency_ms`` each trial's single-row latency is measured on its last
fold (by ``TrainingSpec.latency``), and an ensemble too slow for the limit gives way to a
distilled model (:mod:`loopml.modeling._distill`). With a long budget the best trials' fold
models are kept, and a bag of them (or a second layer over bags) may be served without a
refit (:mod:`loopml.modeling._bagging`, :mod:`loopml.modeling._stacking`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.pipeline import Pipeline

from loopml.errors import TrainingError
from loopml.features import absolute_time_options, selection_options
from loopml.metrics import greater_is_better, score
from loopml.modeling._bagging import FoldModels, bag_memory_limit, bag_trials, wants_bagging
from loopml.modeling._budget import Budget, refit_factor
from loopml.modeling._cpus import resolve_n_jobs
from loopml.modeling._distill import settle_latency
from loopml.modeling._ensemble import WeightedEnsemble, select_ensemble
from loopml.modeling._executor import FoldJob, TrialExecutor, default_executor, wait_all
from loopml.modeling._families import FamilyRegistry, default_registry, resolve_class_weight
from loopml.modeling._lanes import portfolio_in_lanes, tune_in_lanes
from loopml.modeling._leaderboard import Leaderboard, TrialResult, TrialRun
from loopml.modeling._pipeline import PipelineRecipe, make_pipeline, quietly
from loopml.modeling._spec import ProgressFn, TrainingData, TrainingSpec
from loopml.modeling._split import Folds
from loopml.modeling._stacking import settle_bagging
from loopml.modeling._threshold import ThresholdChoice, tune_threshold, with_threshold
from loopml.modeling._tuning import ask, new_study, tell

log = logging.getLogger(__name__)

#: Out-of-fold predictions kept for ensembling: those of the best trials only.
KEPT_PREDICTIONS = 20

#: Share of the budget the search plans with; the rest absorbs what the estimates miss (the
#: final refit's variance, predicting, bookkeeping), so the whole fit stays within the budget.
PLANNED_SHARE = 0.95

#: Share of the budget the search keeps at its end for refitting an ensemble's members: the
#: best single model's refit alone left no time to refit an ensemble that scored better
#: (credit_scoring at 60 s: an ensemble of MLP, random forest and linear, dropped).
ENSEMBLE_SHARE = 0.10

#: Parameters that shape the pipeline rather than the model.
PIPELINE_PARAMS = ("absolute_time", "selection")


@dataclass(frozen=True)
class SearchResult:
    leaderboard: Leaderboard
    pipeline: Pipeline  # the best configuration refitted on all the training rows
    feature_roles: dict[str, str] = field(default_factory=dict)
    threshold: ThresholdChoice | None = None  # binary tasks with problem.threshold set
    folds: Folds = field(default_factory=list)  # the cross-validation folds the search used
    time_column: str | None = None  # the column the rows were found in time order by


class Search:
    """Cross-validate candidates within the budget and refit the best on all rows.

    The budget covers the search and the final refit: a trial is stopped between folds when
    what is left would not fit another fold and the refit of the current best. It counts
    from ``started`` (a ``clock`` reading) when given, so a caller's own preparation is paid
    from it too. ``spec.max_trials`` stops the search earlier: with a budget that does not
    bind, the same trials run every time.

    Folds are fitted by ``executor`` (see :mod:`loopml.modeling._executor`), as many at a
    time as it has workers; by default local processes when ``n_jobs`` allows several folds
    at once, else this process. With several workers, whole trials run side by side, one per
    worker (see :mod:`loopml.modeling._lanes`); under a trial cap a trial's folds run side by
    side instead, so that which trials run does not depend on timing. The final refit always
    runs here.
    """

    def __init__(
        self,
        data: TrainingData,
        spec: TrainingSpec,
        folds: Folds,
        *,
        candidates: FamilyRegistry | None = None,
        executor: TrialExecutor | None = None,
        clock: Callable[[], float],
        progress: ProgressFn | None = None,
        started: float | None = None,
    ) -> None:
        self.data, self.spec, self.folds = data, spec, folds
        self.registry = candidates if candidates is not None else default_registry()
        self.progress = progress
        self.jobs = resolve_n_jobs(spec.n_jobs)  # -1: the CPUs this process may use
        self.order = self._families()
        y, task = data.y, spec.task
        weight = (
            resolve_class_weight(spec.class_weight, y, spec.metric)
            if task != "regression"
            else None
        )
        self.extra: dict[str, Any] = {"class_weight": weight} if weight else {}
        self.budget = Budget(
            spec.budget_seconds * PLANNED_SHARE,
            clock,
            prior=self.registry.cost_prior,
            unscaled=[f.name for f in self.registry if f.needs_scaling],
            refit_factor=refit_factor(len(data.X), folds),
            start=started,
            load=self.registry.load_seconds,
            hold=spec.budget_seconds * ENSEMBLE_SHARE if spec.ensemble else 0.0,
        )
        self.bigger = greater_is_better(spec.metric)
        self.trials: list[TrialResult] = []
        self.oof_store: dict[int, np.ndarray] = {}  # trial number -> out-of-fold predictions
        self.excluded: set[str] = set()  # families whose defaults broke a constraint
        # long budgets keep the best trials' fold models to bag them (see _bagging)
        self.bagging = wants_bagging(
            spec.bagging,
            budget_seconds=spec.budget_seconds,
            folds=folds,
            n_rows=len(data.X),
            constraints=spec.constraints,
        )
        self.fold_models = FoldModels(bag_memory_limit() if self.bagging else 0)
        self.executor = executor or default_executor(self.jobs, len(folds), spec.budget_seconds)
        self.threads = max(1, self.jobs // self.executor.workers)  # cores per concurrent fold
        # trials side by side (one fold at a time each) keep every worker busy; a trial cap
        # keeps waves of folds, whose trials are the same every run
        self.lanes = self.executor.workers if spec.max_trials is None else 1
        self.lock = threading.RLock()  # the lanes share the trials, the budget and the study
        self.stopped_by = "complete"
        self.options: dict[str, tuple[Any, ...]] = {}  # pipeline choices the search decides
        if spec.features is not None:
            self.options = {
                "absolute_time": absolute_time_options(spec.features, data.roles),
                "selection": selection_options(spec.features),
            }

    def _families(self) -> list[str]:
        """The families to try, in portfolio order: the allowed ones that can be built."""
        families = list(self.registry.names if self.spec.families is None else self.spec.families)
        if self.spec.constraints.interpretable:
            interpretable = self.registry.interpretable
            families = [f for f in families if f in interpretable]
            if not families:
                raise TrainingError(
                    "problem.constraints.interpretable allows only "
                    f"{', '.join(interpretable)}; add one of them to training.models."
                )
        for family, reason in self.registry.unavailable(families).items():
            log.info("candidate %s skipped: %s", family, reason)
        return list(self.registry.portfolio(self.registry.available(families)))

    # -- the phases -------------------------------------------------------------------------

    def run(self) -> SearchResult:
        """Every phase in order; the result holds the refitted best pipeline.

        Raises
        ------
        TrainingError
            When no candidate completed.
        """
        self.executor.start(self.data.X, self.data.y, self.folds)
        try:
            self.portfolio()
            self.tune()
        finally:
            self.executor.close()
        if self.stopped_by == "complete" and any(
            t.status in ("timeout", "not_started") for t in self.trials
        ):
            self.stopped_by = "budget"
        best = self.best_so_far()
        if best is None:
            reasons = "; ".join(f"{t.family}: {t.error or t.status}" for t in self.trials)
            raise TrainingError(f"no candidate model could be trained ({reasons}).")
        bag = bag_trials(self)  # long budgets: the fold models, averaged, need no refit
        ensemble = self.ensemble(best)
        settled = settle_bagging(self, bag, ensemble or best)
        if settled is not None:  # the bag, or a second layer over bags
            pipeline, choice = settled
        else:
            # an ensemble over max_latency_ms gives way to a distilled or the best fast model
            best, chosen, target = settle_latency(self, best, ensemble)
            pipeline = self._unfitted(best, chosen)
            choice = self.threshold(best, chosen)
            if choice is not None:
                pipeline = with_threshold(pipeline, choice.threshold, self.spec.positive_class)
            self.refit(pipeline, target)
        return SearchResult(
            leaderboard=self._leaderboard(),
            pipeline=pipeline,
            feature_roles=dict(self.data.roles),
            threshold=choice,
            folds=self.folds,
        )

    def portfolio(self) -> None:
        """Each family's defaults once, in portfolio order, while the budget and cap allow."""
        # whether year and elapsed time help is decided once, early, on the first tree model
        probe = next(
            (f for f in self.order if not self.registry[f].needs_scaling),
            self.order[0] if self.order else None,
        )
        if self.lanes > 1:
            portfolio_in_lanes(self, probe)
            return
        for family in self.order:
            if not self.may_continue():
                break
            first = self.run_trial(family, dict(self.extra), "portfolio")
            if family == probe and self.probes_time() and self.may_continue():
                params = {**self.extra, "absolute_time": False}
                self.settle_absolute_time(first, self.run_trial(family, params, "portfolio"))

    def probes_time(self) -> bool:
        """Whether year and elapsed-time features are still to be tried both ways."""
        return len(self.options.get("absolute_time", ())) > 1

    def settle_absolute_time(self, first: TrialResult, second: TrialResult) -> None:
        """Keep whichever of the probe's two trials (``second`` without year and elapsed time)
        scored better, for the rest of the search."""
        if first.status == "ok" and second.status == "ok":
            better = second.mean > first.mean if self.bigger else second.mean < first.mean
            self.extra["absolute_time"] = not better
            self.options.pop("absolute_time")

    def tune(self) -> None:
        """Bayesian search (TPE) over the two best families, pruning weak trials between folds.

        Near the end of the budget a family too slow for what is left is no longer drawn: the
        trial is pinned to one that still fits, and the search ends when none does. Tuning
        ends only at the cap or the budget.
        """
        if not self.spec.tune or self.best_so_far() is None or not self.may_continue():
            return
        ok = sorted(self._completed(), key=lambda t: -t.mean if self.bigger else t.mean)
        allowed = [f for f in self.order if f not in self.excluded]
        families = list(dict.fromkeys(t.family for t in ok))[:2] or allowed[:1]
        study = new_study(self)
        if self.lanes > 1:
            tune_in_lanes(self, study, families)
        while self.lanes == 1 and self.may_continue():
            asked = ask(self, study, families)
            if asked is None:
                break
            trial, family, params = asked
            tell(self, study, trial, self.run_trial(family, params, "optuna", trial))
        if self.stopped_by == "complete":
            self.stopped_by = "budget"

    def ensemble(self, best: TrialResult) -> TrialResult | None:
        """Greedy ensemble selection on the kept out-of-fold predictions, as a leaderboard
        row, when it beats ``best``'s pooled out-of-fold score and per-fold mean, and
        refitting its members fits in what is left of the budget."""
        spec = self.spec
        if not spec.ensemble:
            return None
        choice = select_ensemble(
            self.oof_store,
            self.data.y.to_numpy(),
            metric=spec.metric,
            task=spec.task,
            classes=spec.classes,
            positive_class=spec.positive_class,
            families={n: self.trials[n].family for n in self.oof_store},
        )
        if choice is None or not choice.improves:
            return None
        better = (
            choice.score > choice.best_single_score
            if self.bigger
            else (choice.score < choice.best_single_score)
        )
        if not better:
            return None
        members = {n: w for n, w in sorted(choice.weights.items(), key=lambda kv: -kv[1])}
        fold_seconds = self.budget.fold_seconds
        refit = sum(fold_seconds.get(self.trials[n].family, 0.0) for n in members) * 1.25
        extra = refit - fold_seconds.get(best.family, 0.0) * 1.25
        if extra > max(self.budget.left, 0.0):
            return None  # no time to refit the members: the single best model it is
        stacked = sum(w * self.oof_store[n] for n, w in members.items())
        kept = [v for v in self._fold_scores(np.asarray(stacked)) if not math.isnan(v)]
        mean = float(np.mean(kept)) if kept else float("nan")
        if not (mean > best.mean if self.bigger else mean < best.mean):
            return None  # better pooled but not per fold: keep the simpler model
        return self.combined_row("ensemble", {"members": members}, kept, source="ensemble")

    def combined_row(
        self,
        family: str,
        params: dict[str, Any],
        scores: Iterable[float],
        *,
        source: str,
        error: str = "",
    ) -> TrialResult:
        """Put a model combined from trials (ensemble, bag, stack) on the leaderboard: its
        fold scores come from out-of-fold predictions, so it cost no fit of its own. With an
        ``error`` it is listed as excluded, saying why."""
        row = TrialResult(
            number=len(self.trials),
            family=family,
            params=params,
            fold_scores=tuple(scores),
            seconds=0.0,
            status="excluded" if error else "ok",
            source=source,
            error=error,
        )
        self.trials.append(row)
        return row

    def _fold_scores(self, stacked: np.ndarray) -> list[float]:
        """The metric on each fold's validation rows of pooled out-of-fold predictions."""
        spec, y = self.spec, self.data.y
        scores = []
        for _, valid_idx in self.folds:
            part = stacked[valid_idx]
            y_part = y.iloc[valid_idx].to_numpy()
            if spec.task == "regression":
                args: tuple[Any, Any] = (part[:, 0], None)
            else:
                args = (np.asarray(list(spec.classes))[np.argmax(part, axis=1)], part)
            scores.append(
                score(spec.metric, spec.task, y_part, *args, spec.classes, spec.positive_class)
            )
        return scores

    def threshold(self, best: TrialResult, chosen: TrialResult | None) -> ThresholdChoice | None:
        """The binary decision threshold tuned on the chosen model's out-of-fold predictions."""
        spec = self.spec
        if spec.task != "binary" or spec.threshold == "default":
            return None
        if chosen is not None:
            oof = sum(w * self.oof_store[n] for n, w in chosen.params["members"].items())
        else:
            oof = self.oof_store.get(best.number)
        return None if oof is None else self.threshold_on(np.asarray(oof))

    def threshold_on(self, oof: np.ndarray) -> ThresholdChoice | None:
        """The binary decision threshold tuned on out-of-fold predictions ``oof``."""
        spec = self.spec
        if spec.task != "binary" or spec.threshold == "default":
            return None
        covered = np.isfinite(oof).all(axis=1)
        column = list(spec.classes).index(spec.positive_class)
        choice = tune_threshold(
            self.data.y.to_numpy()[covered],
            oof[covered, column],
            spec.positive_class,
            objective=spec.threshold,
            false_positive=spec.costs.false_positive if spec.costs else 1.0,
            false_negative=spec.costs.false_negative if spec.costs else 1.0,
        )
        self.report(f"decision threshold {choice.threshold:.3f} ({spec.threshold})")
        return choice

    def refit(self, pipeline: Any, target: pd.Series | None = None) -> None:
        """Fit the chosen pipeline on all the training rows, to ``target`` when given (a
        distilled model learns the ensemble's out-of-fold predictions), else the labels."""
        with quietly(self.jobs):
            pipeline.fit(self.data.X, self.data.y if target is None else target)
        self.report("done")

    # -- trials -----------------------------------------------------------------------------

    def run_trial(
        self,
        family: str,
        params: dict[str, Any],
        source: str,
        optuna_trial: optuna.Trial | None = None,
    ) -> TrialResult:
        """Cross-validate one configuration, wave after wave of folds, and record it."""
        started = self.budget.clock()
        run = TrialRun(family, params, np.full((len(self.data.X), self.spec.width), np.nan))
        must_finish = self.best_so_far() is None  # the first model always completes
        while run.done < len(self.folds):
            best = self.best_so_far()
            if not must_finish and not self.budget.affordable(
                family, best.family if best else None
            ):
                run.status = "timeout" if run.done else "not_started"
                break
            if not self._run_wave(run):
                break
            if optuna_trial is not None and run.scores:
                optuna_trial.report(float(np.mean(run.scores)), run.done - 1)
                if optuna_trial.should_prune():
                    run.status = "pruned"
                    break
        return self.record(run, source, self.budget.clock() - started)

    def _run_wave(self, run: TrialRun) -> bool:
        """Fit the next wave of folds side by side (in lanes, one fold); False when one
        failed."""
        size = self.executor.workers if self.lanes == 1 else 1
        end = min(run.done + size, len(self.folds))
        wave = [self.fold_job(run, k) for k in range(run.done, end)]
        t0 = self.budget.clock()
        with self.lock:
            futures = [self.executor.submit(job) for job in wave]
        outcomes = wait_all(wave, futures)
        spent = self.budget.clock() - t0
        failed = next((o for o in outcomes if o.error), None)
        if failed is not None:  # a candidate failing is recorded, not fatal
            run.status, run.error = "failed", failed.error
            log.warning("a %s trial failed: %s", run.family, run.error)
            return False
        with self.lock:
            self.budget.observe(run.family, spent)
        for outcome in outcomes:
            if not math.isnan(outcome.score):
                run.scores.append(outcome.score)
            run.oof[self.folds[outcome.fold][1]] = outcome.predictions
            run.broken = run.broken or outcome.broken
            if outcome.curve:
                run.curves.append(outcome.curve)
            if outcome.latency_ms is not None:
                run.latency_ms = outcome.latency_ms
            self.fold_models.take(run, outcome)
        run.done += len(wave)
        self.report(f"{run.family} fold {run.done}/{len(self.folds)}")
        return True

    def fold_job(self, run: TrialRun, k: int) -> FoldJob:
        """Fold ``k`` of ``run``; the last fold also checks the constraints."""
        spec, limits = self.spec, self.spec.constraints
        checked = bool(limits.max_latency_ms or limits.max_model_mb)
        return FoldJob(
            family=self.registry[run.family],
            params=run.params,
            fold=k,
            task=spec.task,
            metric=spec.metric,
            roles=self.data.roles,
            classes=tuple(spec.classes),
            positive_class=spec.positive_class,
            seed=spec.seed,
            threads=self.threads,
            cleaning=spec.cleaning,
            features=spec.features,
            limits=limits if checked and k == len(self.folds) - 1 else None,
            numbers=self.data.numbers,
            latency=spec.latency,
            keep_model=self.bagging,
        )

    def record(self, run: TrialRun, source: str, seconds: float) -> TrialResult:
        """Put a finished run on the leaderboard, keeping its out-of-fold predictions."""
        with self.lock:  # the trial's number is its place on the leaderboard
            return self._record(run, len(self.trials), source, seconds)

    def _record(self, run: TrialRun, number: int, source: str, seconds: float) -> TrialResult:
        if run.status == "ok" and not run.scores:
            run.status, run.error = "failed", "metric undefined on every fold"
        if run.status == "ok" and run.broken:
            run.status, run.error = "excluded", run.broken
            self.excluded.add(run.family)
        result = TrialResult(
            number=number,
            family=run.family,
            params=self._trial_params(run.family, run.params),
            fold_scores=tuple(run.scores),
            seconds=seconds,
            status=run.status,
            source=source,
            error=run.error,
            latency_ms=run.latency_ms,
            curves=tuple(run.curves),
        )
        self.trials.append(result)
        if run.status == "ok" and len(run.scores) == len(self.folds):
            self.oof_store[number] = run.oof
            _keep_best(
                self.oof_store, self.trials, self.bigger, limit=KEPT_PREDICTIONS, leaders=True
            )
            self.fold_models.keep(number, run, self.trials, self.bigger)
        status = f"{result.mean:.4f}" if run.status == "ok" else run.status
        self.report(f"{run.family}: {status}")
        return result

    def _trial_params(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        """What a trial ran with: the model's relevant parameters plus pipeline choices."""
        model = {k: v for k, v in params.items() if k not in PIPELINE_PARAMS}
        defaults = self.registry[family].defaults
        out = self.registry.relevant_params(family, self.spec.task, {**defaults, **model})
        out.update({k: params[k] for k in PIPELINE_PARAMS if k in params})
        return out

    # -- state ------------------------------------------------------------------------------

    def _completed(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == "ok" and not math.isnan(t.mean)]

    def best_so_far(self) -> TrialResult | None:
        ok = self._completed()
        if not ok:
            return None
        return max(ok, key=lambda t: t.mean if self.bigger else -t.mean)

    def may_continue(self) -> bool:
        """Whether another trial may start; the first of the trial cap and the budget stops
        the search (with a generous budget, the cap alone decides: the same trials every
        run)."""
        cap = self.spec.max_trials
        if cap is not None and sum(t.started for t in self.trials) >= cap:
            self.stopped_by = "max_trials"
            return False
        best = self.best_so_far()
        if self.budget.has_room(best.family if best else None):
            return True
        self.stopped_by = "budget"
        return False

    def report(self, message: str) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(min(self.budget.elapsed, self.budget.seconds), message)

    def _recipe(self) -> PipelineRecipe:
        spec = self.spec
        return PipelineRecipe(spec.cleaning, spec.features, self.data.numbers)

    def _unfitted(self, best: TrialResult, chosen: TrialResult | None) -> Any:
        """The pipeline to refit: the ensemble's members, or the best single configuration."""
        if chosen is None:
            self.report(f"refitting {best.family} on all training rows")
            return self.unfitted_member(best)
        members = [self.trials[n] for n in chosen.params["members"]]
        self.report(f"refitting an ensemble of {len(members)} models on all training rows")
        return WeightedEnsemble(
            estimators=[self.unfitted_member(m) for m in members],
            weights=list(chosen.params["members"].values()),
            task=self.spec.task,
        )

    def unfitted_member(self, trial: TrialResult) -> Any:
        """The unfitted pipeline of a single trial's configuration."""
        family = self.registry[trial.family]
        spec = self.spec
        return make_pipeline(
            self.data.roles, family, spec.task, trial.params, spec.seed, self.jobs, self._recipe()
        )

    def _leaderboard(self) -> Leaderboard:
        return Leaderboard(
            metric=self.spec.metric,
            greater_is_better=self.bigger,
            trials=tuple(self.trials),
            budget_seconds=self.spec.budget_seconds,
            elapsed_seconds=self.budget.elapsed,
            n_folds=len(self.folds),
            n_jobs=self.jobs,
            workers=self.executor.workers,
            stopped_by=self.stopped_by,
        )


def _keep_best(
    store: dict[int, Any],
    trials: list[TrialResult],
    bigger: bool,
    limit: int,
    *,
    leaders: bool = False,
) -> None:
    """Keep out-of-fold predictions of the ``limit`` best trials only (memory stays bounded);
    with ``leaders``, each family's best trial too (the ensemble's candidates)."""
    if len(store) <= limit:
        return
    by_number = {t.number: t for t in trials}
    ranked = sorted(store, key=lambda n: -by_number[n].mean if bigger else by_number[n].mean)
    kept = set(ranked[:limit])
    if leaders:
        kept |= set({by_number[n].family: n for n in reversed(ranked)}.values())
    for n in ranked:
        if n not in kept:
            del store[n]
