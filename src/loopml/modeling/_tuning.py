"""The tuning phase's Optuna study: how it is made, asked for a trial and told the result.

Each call takes the :class:`~loopml.modeling._search.Search` it serves: the lone loop of
``Search.tune`` and the lanes of :mod:`loopml.modeling._lanes` ask and tell the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

if TYPE_CHECKING:
    from loopml.modeling._leaderboard import TrialResult
    from loopml.modeling._search import Search


def new_study(search: Search) -> optuna.Study:
    """TPE over the search's families and their spaces, median pruning between folds.

    With trials side by side (``search.lanes > 1``) a running trial counts as a poor result
    for the next draw (Optuna's constant liar), so two lanes do not sample the same region;
    a lone lane never has a running trial when it asks, so it draws as before.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        direction="maximize" if search.bigger else "minimize",
        sampler=optuna.samplers.TPESampler(
            seed=search.spec.seed, n_startup_trials=4, constant_liar=search.lanes > 1
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    )


def ask(
    search: Search, study: optuna.Study, families: list[str]
) -> tuple[optuna.Trial, str, dict[str, Any]] | None:
    """The next configuration to tune, among the families that still fit the budget (a
    family too slow for what is left is no longer drawn); ``None`` when none fits."""
    best = search.best_so_far()
    budget = search.budget
    usable = [f for f in families if budget.affordable(f, best.family if best else None)]
    if not usable:
        return None
    if len(usable) < len(families):
        study.enqueue_trial({"family": usable[0]}, skip_if_exists=False)
    trial = study.ask()
    family = trial.suggest_categorical("family", families)
    params = {**search.registry[family].space(trial, search.spec.task), **search.extra}
    for key, values in search.options.items():
        if len(values) > 1:  # pipeline choices the data leaves open: the search decides
            params[key] = trial.suggest_categorical(key, list(values))
    return trial, family, params


def tell(search: Search, study: optuna.Study, trial: optuna.Trial, result: TrialResult) -> None:
    """Tell the study how a tuning trial ended: its score, pruned, or failed."""
    with search.lock:
        if result.status == "ok":
            study.tell(trial, result.mean)
        elif result.status == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
