"""Fast models for serving: an ensemble too slow for ``problem.constraints.max_latency_ms``.

Greedy ensemble selection may pick several models whose single-row costs add up past the
limit although each member fits it. :func:`settle_latency` then marks the ensemble's
leaderboard row *excluded* (with its score and latency, so the trade-off stays visible) and
offers a distilled model in its place: the best single trial's configuration, trained on the
ensemble's out-of-fold predictions instead of the labels, cross-validated on the same folds
against the real labels. The chosen model is then the best one that fits: the distilled one
when it beats every single model, else the best single model.

The ensemble's latency is the sum of its members' (each measured on its last fold by the
search's latency function): the compiled row path runs the members one after another, so the
sum is what serving costs, less one request's shared overhead. Summing needs no refit: an
ensemble that will be dropped is never fitted on all rows, and no budget is spent on it.

The distilled model's cross-validated score is slightly optimistic: the out-of-fold target of
a training row came from models that saw the other folds' labels, including the validation
fold's. Its leaderboard row says ``source: distilled`` so a reader can weigh that.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from loopml.modeling._executor import fit_fold
from loopml.modeling._leaderboard import TrialResult, TrialRun
from loopml.modeling._pipeline import latency_excess

if TYPE_CHECKING:
    from loopml.modeling._search import Search

#: Margin on the estimated time of the distilled model's folds and refit.
DISTILL_MARGIN = 1.25


def settle_latency(
    search: Search, best: TrialResult, chosen: TrialResult | None
) -> tuple[TrialResult, TrialResult | None, pd.Series | None]:
    """The best single trial, the ensemble (``None``: none) and the refit's target
    (``None``: the labels) once the ensemble's latency is checked against the limit.

    An ensemble within the limit keeps its row, with its latency; one over it is excluded,
    a distilled model is cross-validated, and the best trial that fits is returned.
    """
    limits = search.spec.constraints
    if chosen is None or limits.max_latency_ms is None:
        return best, chosen, None
    members = chosen.params["members"]
    latencies = [search.trials[n].latency_ms for n in members]
    if any(v is None for v in latencies):  # not measured: nothing to compare
        return best, chosen, None
    total = float(sum(v for v in latencies if v is not None))
    reason = latency_excess(total, limits)
    at = search.trials.index(chosen)
    if not reason:
        search.trials[at] = dataclasses.replace(chosen, latency_ms=total)
        return best, search.trials[at], None
    search.trials[at] = dataclasses.replace(
        chosen, status="excluded", error=f"{reason} (its members' sum)", latency_ms=total
    )
    search.report(f"ensemble excluded: {reason}")
    stacked = np.asarray(sum(w * search.oof_store[n] for n, w in members.items()))
    target = distilled_target(search, stacked)
    distilled = distill(search, best, target)
    fastest = search.best_so_far() or best
    if distilled is not None and fastest is distilled:
        return distilled, None, target
    return fastest, None, None


def distilled_target(search: Search, stacked: np.ndarray) -> pd.Series:
    """What the distilled model learns: the ensemble's out-of-fold prediction for each row
    (regression) or its predicted class (classification); a row no fold validated keeps
    its label."""
    y, spec = search.data.y, search.spec
    covered = np.isfinite(stacked).all(axis=1)
    if spec.task == "regression":
        values = stacked[:, 0]
    else:
        safe = np.where(np.isfinite(stacked), stacked, -np.inf)
        values = np.asarray(list(spec.classes), dtype=object)[np.argmax(safe, axis=1)]
    out = y.astype(object).to_numpy(copy=True)
    out[covered] = values[covered]
    if spec.task == "regression":
        return pd.Series(out.astype(float), index=y.index, name=y.name)
    return pd.Series(out, index=y.index, name=y.name).astype(y.dtype)


def distill(search: Search, best: TrialResult, target: pd.Series) -> TrialResult | None:
    """Cross-validate ``best``'s configuration trained on ``target`` (scored on the labels)
    and record it as a ``distilled`` trial; ``None`` when the budget left cannot pay for it."""
    folds, budget = search.folds, search.budget
    needed = budget.estimate(best.family) * (len(folds) + budget.refit_factor) * DISTILL_MARGIN
    if needed > budget.left:
        search.report("no time left to distil the ensemble into one model")
        return None
    search.report(f"distilling the ensemble into one {best.family} model")
    X, y = search.data.X, search.data.y
    run = TrialRun(best.family, dict(best.params), np.full((len(X), search.spec.width), np.nan))
    started = budget.clock()
    for k, (train_idx, valid_idx) in enumerate(folds):
        job = dataclasses.replace(search.fold_job(run, k), threads=search.jobs)
        outcome = fit_fold(
            job, X.iloc[train_idx], target.iloc[train_idx], X.iloc[valid_idx], y.iloc[valid_idx]
        )
        if outcome.error:  # a candidate failing is recorded, not fatal
            run.status, run.error = "failed", outcome.error
            break
        if not np.isnan(outcome.score):
            run.scores.append(outcome.score)
        run.oof[valid_idx] = outcome.predictions
        run.broken = run.broken or outcome.broken
        run.latency_ms = outcome.latency_ms if outcome.latency_ms is not None else run.latency_ms
        run.done += 1
    return search.record(run, "distilled", budget.clock() - started)
