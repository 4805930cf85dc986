"""The search's budget: estimates, what is affordable, the refit reserve (modeling._budget)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loopml.modeling import Budget, cv_folds
from loopml.modeling._budget import refit_factor

PRIORS = {"lightgbm": 1.0, "linear": 1.0, "catboost": 8.0, "xgboost": 2.0}


def _prior(family: str) -> float:
    return PRIORS.get(family, max(PRIORS.values()))


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _budget(seconds: float = 60.0, factor: float = 1.5, start: float | None = None) -> Budget:
    return Budget(
        seconds, ManualClock(), _prior, unscaled={"linear"}, refit_factor=factor, start=start
    )


def test_elapsed_and_left_follow_the_clock_from_the_start() -> None:
    budget = _budget(60.0)
    budget.clock.now += 25.0  # type: ignore[attr-defined]
    assert (budget.elapsed, budget.left) == (25.0, 35.0)


def test_a_given_start_counts_the_callers_preparation() -> None:
    budget = _budget(60.0, start=90.0)  # the caller started 10 s before the budget was made
    assert (budget.elapsed, budget.left) == (10.0, 50.0)


def test_observed_waves_smooth_down_slowly_and_up_at_once() -> None:
    budget = _budget()
    budget.observe("lightgbm", 4.0)
    assert budget.estimate("lightgbm") == 4.0
    budget.observe("lightgbm", 2.0)  # a faster wave counts halfway
    assert budget.estimate("lightgbm") == 3.0
    budget.observe("lightgbm", 10.0)  # a slower one in full
    assert budget.estimate("lightgbm") == 10.0


def test_a_family_not_tried_yet_is_scaled_by_the_cost_priors() -> None:
    budget = _budget()
    assert budget.estimate("catboost") == 0.0  # nothing seen yet: nothing to scale from
    budget.observe("lightgbm", 2.0)
    budget.observe("xgboost", 3.0)
    # the slowest estimate of the seen ones: lightgbm says 16 s, xgboost 12 s
    assert budget.estimate("catboost") == 16.0


def test_unscaled_families_do_not_estimate_the_others_unless_alone() -> None:
    budget = _budget()
    budget.observe("linear", 5.0)
    assert budget.estimate("catboost") == 40.0  # linear is all there is
    budget.observe("lightgbm", 1.0)
    assert budget.estimate("catboost") == 8.0  # linear's one-hot width says nothing of trees


def test_an_unknown_family_gets_the_largest_prior() -> None:
    budget = _budget()
    budget.observe("lightgbm", 1.0)
    assert budget.estimate("toy") == 8.0


def test_the_refit_reserve_is_the_best_familys_fold_scaled_to_all_rows() -> None:
    budget = _budget(factor=1.5)
    assert budget.refit_reserve(None) == 0.0
    budget.observe("lightgbm", 2.0)
    assert budget.refit_reserve("lightgbm") == pytest.approx(2.0 * 1.5 * 1.1)
    assert budget.refit_reserve("catboost") == 0.0  # a best family never timed: nothing known


def test_affordable_keeps_the_larger_of_the_two_refits_back() -> None:
    budget = _budget(20.0, factor=1.5)
    budget.observe("lightgbm", 2.0)
    budget.clock.now += 6.0  # type: ignore[attr-defined]
    # 14 s left; a catboost wave (16 s) does not fit at all
    assert not budget.affordable("catboost", "lightgbm")
    # a lightgbm wave (2 s) plus its own refit (3.3 s) fits
    assert budget.affordable("lightgbm", "lightgbm")
    budget.clock.now += 9.0  # type: ignore[attr-defined]
    # 5 s left: 5 - 3.3 < 2
    assert not budget.affordable("lightgbm", "lightgbm")


def test_affordable_reserves_the_new_familys_own_refit_when_it_is_slower() -> None:
    budget = _budget(40.0, factor=1.5)
    budget.observe("lightgbm", 1.0)
    budget.observe("xgboost", 6.0)
    budget.clock.now += 20.0  # type: ignore[attr-defined]
    # 20 s left: an xgboost wave (6 s) and the lightgbm refit (1.65 s) would fit, but if
    # xgboost became the best its refit (6 x 1.5 x 1.1 = 9.9 s) must fit too: 20 - 9.9 >= 6
    assert budget.affordable("xgboost", "lightgbm")
    budget.clock.now += 5.0  # type: ignore[attr-defined]
    assert not budget.affordable("xgboost", "lightgbm")  # 15 - 9.9 < 6


def test_has_room_before_the_first_model_always() -> None:
    budget = _budget(10.0)
    budget.clock.now += 50.0  # type: ignore[attr-defined]
    assert budget.has_room(None)
    budget.observe("lightgbm", 1.0)
    assert not budget.has_room("lightgbm")


def test_refit_factor_of_equal_folds_is_rows_over_the_training_part() -> None:
    y = np.arange(100)
    folds = cv_folds(pd.Series(y), strategy="random", n_folds=5, seed=0)
    assert refit_factor(100, folds) == pytest.approx(100 / 80)


def test_refit_factor_of_expanding_time_folds_uses_the_largest_training_part() -> None:
    # TimeSeriesSplit on 120 rows: training parts of 20, 40, 60, 80, 100 rows. The slowest
    # fold trains on 100 rows, so the refit on 120 takes 1.2 times as long, not 120/60 = 2.
    folds = cv_folds(pd.Series(np.arange(120)), strategy="time", n_folds=5, seed=0)
    assert [len(train) for train, _ in folds] == [20, 40, 60, 80, 100]
    assert refit_factor(120, folds) == pytest.approx(1.2)


def test_refit_factor_without_folds_is_one() -> None:
    assert refit_factor(100, []) == 1.0


def test_a_family_not_tried_yet_also_pays_for_loading_its_library() -> None:
    # the networks' first fold imports PyTorch and pytabkit: seconds no cost prior scales
    loads = {"catboost": 5.0}
    budget = Budget(60.0, ManualClock(), _prior, load=lambda f: loads.get(f, 0.0))
    budget.observe("lightgbm", 2.0)
    assert budget.estimate("catboost") == 16.0 + 5.0
    assert budget.estimate("xgboost") == 4.0  # nothing to load
    budget.observe("catboost", 12.0)  # once it ran, the measured waves decide
    assert budget.estimate("catboost") == 12.0
    assert _budget().estimate("catboost") == 0.0  # without load: the prior alone
