"""Long budgets: bags of the models cross-validation fitted anyway.

Cross-validation fits every trial once per fold. With a long budget (``LONG_BUDGET`` seconds
or more, see :func:`wants_bagging`) the search keeps those fold models for its best
``BAG_TRIALS`` trials, and at the end offers a :class:`BaggedEnsemble`: the fold models of
the trials greedy ensemble selection picks (:func:`~loopml.modeling._ensemble.select_ensemble`),
their predictions averaged with its weights. Its out-of-fold predictions are exactly the
trials' (each row's came from the fold model that did not see it), so it is scored with no
extra fit, and it needs no refit on all rows: the time a refit would take stays with the
search. It is kept when it scores at least as well out of fold as the refitted ensemble (or
single model) the search would otherwise choose; then a second layer may be stacked on it
(:mod:`loopml.modeling._stacking`).

A bag is a :class:`~loopml.modeling._ensemble.WeightedEnsemble` whose members are the fold
models, so batch scoring, the REST service's compiled row path and ONNX export take it as
they take any weighted ensemble. ``fit`` (a clone refitted by a learning curve, say) fits
each member on ``n_folds`` folds of the rows it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import _safe_indexing

from loopml.config import Constraints
from loopml.modeling._ensemble import WeightedEnsemble, select_ensemble
from loopml.modeling._leaderboard import TrialResult, TrialRun
from loopml.modeling._split import Folds, plan_folds

if TYPE_CHECKING:
    from loopml.modeling._executor import FoldOutcome
    from loopml.modeling._search import Search
    from loopml.types import TaskKind

log = logging.getLogger(__name__)

#: Budgets from this many seconds bag fold models (``training.bagging: auto``).
LONG_BUDGET = 180.0

#: Trials whose fold models are kept for the bag: the best ones. Memory bounds it: with 10,
#: deep forests on 5,000 rows took 5.3 GB at peak (benchmarks/results/automl-300s-bagging.md).
BAG_TRIALS = 6

#: The kept fold models take at most this share of the memory available when the search
#: starts, and at most ``BAG_MEMORY_MAX`` bytes: the bag is the model that is saved and
#: served. Unbounded, six trials of deep forests on wine_quality (5,000 rows, 7 classes) made
#: a 7.4 GB search (benchmarks/results/automl-300s.md, loopml-bag).
BAG_MEMORY_SHARE = 0.25
BAG_MEMORY_MAX = 2 * 2**30

#: ``training.bagging``: ``auto`` bags from ``LONG_BUDGET`` seconds, ``true`` at any budget,
#: ``false`` never.
BaggingSetting = Literal["auto"] | bool


def wants_bagging(
    setting: BaggingSetting,
    *,
    budget_seconds: float,
    folds: Folds,
    n_rows: int,
    constraints: Constraints,
) -> bool:
    """Whether the search keeps fold models to bag them.

    Bagging needs folds whose validation parts cover every row once (not time-ordered
    folds, whose first block is never validated, nor a single split), and no latency or
    model-size limit (a bag answers with every fold model: several times one model's cost).
    ``auto`` also needs a budget of ``LONG_BUDGET`` seconds or more; ``True`` bags at any
    budget where the folds and limits allow it.

    Examples
    --------
    >>> import numpy as np
    >>> from loopml.config import Constraints
    >>> folds = [(np.array([2, 3]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3]))]
    >>> wants_bagging("auto", budget_seconds=300, folds=folds, n_rows=4, constraints=Constraints())
    True
    >>> wants_bagging("auto", budget_seconds=60, folds=folds, n_rows=4, constraints=Constraints())
    False
    """
    if setting is False:
        return False
    if constraints.max_latency_ms is not None or constraints.max_model_mb is not None:
        return False
    if len(folds) < 2 or not _partitions(folds, n_rows):
        return False
    return setting is True or budget_seconds >= LONG_BUDGET


def bag_memory_limit() -> int:
    """Bytes the kept fold models may take (:data:`BAG_MEMORY_SHARE`, :data:`BAG_MEMORY_MAX`)."""
    import psutil

    return int(min(BAG_MEMORY_MAX, BAG_MEMORY_SHARE * psutil.virtual_memory().available))


class FoldModels(dict[int, dict[int, Any]]):
    """The fold models kept for the bag: trial number -> fold -> fitted pipeline.

    Of the :data:`BAG_TRIALS` best trials, those whose models fit in ``limit`` bytes
    together (their sizes pickled, :func:`~loopml.modeling._executor.pickled_size`); a trial
    whose own models pass the limit stops keeping them while it runs.
    """

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit
        self.sizes: dict[int, int] = {}  # trial number -> bytes of its kept models

    def take(self, run: TrialRun, outcome: FoldOutcome) -> None:
        """Keep ``outcome``'s fitted model in ``run`` while its models fit in the limit."""
        if outcome.model is None or run.model_bytes > self.limit:
            return
        run.model_bytes += outcome.model_bytes
        if run.model_bytes <= self.limit:
            run.models[outcome.fold] = outcome.model
            return
        run.models.clear()
        log.info(
            "a %s trial's fold models pass %.0f MB: not kept for the bag",
            run.family,
            self.limit / 2**20,
        )

    def keep(self, number: int, run: TrialRun, trials: Sequence[TrialResult], bigger: bool) -> None:
        """Add the finished trial ``number``'s models, then keep the best trials' that fit."""
        if not run.models:
            return
        self[number], self.sizes[number] = run.models, run.model_bytes
        total, count = 0, 0
        for n in sorted(self, key=lambda n: -trials[n].mean if bigger else trials[n].mean):
            if count < BAG_TRIALS and total + self.sizes[n] <= self.limit:
                total, count = total + self.sizes[n], count + 1
            else:
                del self[n], self.sizes[n]


def _partitions(folds: Folds, n_rows: int) -> bool:
    """Whether the validation parts of ``folds`` hold every row exactly once."""
    seen = np.sort(np.concatenate([np.asarray(valid) for _, valid in folds]))
    return len(seen) == n_rows and bool(np.array_equal(seen, np.arange(n_rows)))


class BaggedEnsemble(WeightedEnsemble):
    """Each member fitted on every fold, all their predictions averaged with the weights.

    Parameters
    ----------
    estimators
        The member pipelines (unfitted: ``fit`` clones them).
    weights
        One non-negative weight per member, shared by its fold models.
    task
        binary, multiclass or regression.
    n_folds
        Folds each member is fitted on by ``fit``.
    seed
        Seed of the folds ``fit`` draws.

    After fitting, ``estimators_`` holds the fold models (member after member) and
    ``weights_`` their weights, which sum to one.
    """

    def __init__(
        self,
        estimators: Sequence[Any] = (),
        weights: Sequence[float] = (),
        task: str = "binary",
        n_folds: int = 5,
        seed: int = 0,
    ):
        super().__init__(estimators=estimators, weights=weights, task=task)
        self.n_folds = n_folds
        self.seed = seed

    def fit(self, X: Any, y: Any) -> BaggedEnsemble:
        if len(self.estimators) != len(self.weights) or not self.estimators:
            raise ValueError("BaggedEnsemble needs one weight per estimator, and at least one")
        splits = bag_splits(y, self.task, self.n_folds, self.seed)
        fitted = [
            [
                clone(member).fit(_safe_indexing(X, train), _safe_indexing(y, train))
                for train, _ in splits
            ]
            for member in self.estimators
        ]
        self._install(fitted)
        return self

    @classmethod
    def from_folds(
        cls,
        estimators: Sequence[Any],
        weights: Sequence[float],
        fitted: Sequence[Sequence[Any]],
        *,
        task: str,
        seed: int = 0,
    ) -> BaggedEnsemble:
        """A fitted bag from models already fitted on folds: ``fitted[i]`` are member
        ``i``'s fold models (``estimators[i]`` its unfitted pipeline, for ``fit``)."""
        bag = cls(
            estimators=list(estimators),
            weights=list(weights),
            task=task,
            n_folds=len(fitted[0]),
            seed=seed,
        )
        bag._install(fitted)
        return bag

    def _install(self, fitted: Sequence[Sequence[Any]]) -> None:
        self.estimators_ = [model for models in fitted for model in models]
        weights = [w / len(models) for w, models in zip(self.weights, fitted, strict=True)]
        per_model = np.repeat(np.asarray(weights, dtype=float), [len(m) for m in fitted])
        self.weights_ = per_model / float(np.sum(per_model))
        if self.task != "regression":
            self.classes_ = np.unique(np.concatenate([e.classes_ for e in self.estimators_]))


def bag_splits(y: Any, task: str, n_folds: int, seed: int) -> Folds:
    """The folds ``fit`` trains members on, planned as the search plans its own
    (:func:`~loopml.modeling._split.plan_folds`): stratified for classes, with the count
    capped so that every fold can hold each class.

    Examples
    --------
    >>> y = ["a"] * 8 + ["b"] * 3
    >>> [len(valid) for _, valid in bag_splits(y, "binary", 5, seed=0)]
    [4, 4, 3]
    """
    strategy = "random" if task == "regression" else "stratified"
    kind = cast("TaskKind", task)
    plan = plan_folds(
        pd.Series(np.asarray(y)), task=kind, strategy=strategy, n_folds=n_folds, seed=seed
    )
    return list(plan.folds)


# ---------------------------------------------------------------------------- the search's


@dataclass(frozen=True)
class Bag:
    """A bag's leaderboard row and its pooled out-of-fold predictions."""

    row: TrialResult
    oof: np.ndarray

    @property
    def members(self) -> dict[int, float]:
        return dict(self.row.params["members"])


def bag_trials(search: Search) -> Bag | None:
    """The bag of the kept fold models as a ``bag`` leaderboard row (``None`` when the search
    did not bag or kept no trial's models)."""
    kept = {n: search.oof_store[n] for n in search.fold_models if n in search.oof_store}
    if not search.bagging or not kept:
        return None
    spec = search.spec
    ranked = sorted(kept, key=lambda n: -search.trials[n].mean * (1 if search.bigger else -1))
    weights: dict[int, float] = {ranked[0]: 1.0}
    if spec.ensemble and len(kept) > 1:
        choice = select_ensemble(
            kept,
            search.data.y.to_numpy(),
            metric=spec.metric,
            task=spec.task,
            classes=spec.classes,
            positive_class=spec.positive_class,
        )
        if choice is not None:
            weights = dict(sorted(choice.weights.items(), key=lambda kv: -kv[1]))
    oof = np.asarray(sum(w * kept[n] for n, w in weights.items()))
    scores = [v for v in search._fold_scores(oof) if not np.isnan(v)]
    row = search.combined_row("bag", {"members": weights}, scores, source="bag")
    search.report(f"bag of {len(weights)} trials' fold models: {row.mean:.4f}")
    return Bag(row, oof)


def at_least_as_good(search: Search, bag: Bag, other: TrialResult) -> bool:
    """Whether ``bag`` scores at least as well as ``other`` (what the search would refit)."""
    if np.isnan(bag.row.mean):
        return False
    return bag.row.mean >= other.mean if search.bigger else bag.row.mean <= other.mean


def build_bag(search: Search, members: dict[int, float]) -> BaggedEnsemble:
    """The fitted bag of ``members`` (trial number -> weight) from the kept fold models."""
    numbers = list(members)
    folds = len(search.folds)
    return BaggedEnsemble.from_folds(
        [search.unfitted_member(search.trials[n]) for n in numbers],
        [members[n] for n in numbers],
        [[search.fold_models[n][k] for k in range(folds)] for n in numbers],
        task=search.spec.task,
        seed=search.spec.seed,
    )


def prefitted_threshold(wrapper: Any, fitted: Any) -> Any:
    """``wrapper`` (an unfitted ``FixedThresholdClassifier``) around the already fitted
    ``fitted``, without refitting it."""
    wrapper.estimator_ = fitted
    for name in ("n_features_in_", "feature_names_in_"):
        if hasattr(fitted, name):
            setattr(wrapper, name, getattr(fitted, name))
    return wrapper
