"""Holdout and cross-validation splits (loopml.modeling._split)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

from loopml.errors import DataError
from loopml.modeling import choose_strategy, cv_folds, holdout_split, plan_folds


def _labels(counts: dict[str, int]) -> pd.Series:
    """Class labels as object dtype, the way ``prepare_target`` hands them to the splitter."""
    values = [label for label, n in counts.items() for _ in range(n)]
    shuffled = np.random.default_rng(0).permutation(np.asarray(values, dtype=object))
    return pd.Series(shuffled, dtype=object)


def _assert_partition(train: np.ndarray, holdout: np.ndarray, n: int) -> None:
    assert len(np.intersect1d(train, holdout)) == 0
    assert sorted(np.concatenate([train, holdout]).tolist()) == list(range(n))


# ---------------------------------------------------------------------------- choose_strategy


@pytest.mark.parametrize(
    ("split", "task", "has_time", "has_groups", "expected"),
    [
        ("auto", "binary", True, True, "time"),
        ("auto", "binary", False, True, "group"),
        ("auto", "binary", False, False, "stratified"),
        ("auto", "multiclass", False, False, "stratified"),
        ("auto", "regression", False, False, "random"),
        ("random", "binary", True, True, "random"),
    ],
)
def test_choose_strategy(
    split: str, task: str, has_time: bool, has_groups: bool, expected: str
) -> None:
    time = pd.Series(pd.date_range("2024-01-01", periods=3)) if has_time else None
    groups = pd.Series(["a", "b", "c"]) if has_groups else None
    assert choose_strategy(split, task, time, groups) == expected  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- holdout_split


def test_time_holdout_is_the_latest_rows() -> None:
    # rows arrive out of order: the holdout is chosen by timestamp, not by position
    stamps = pd.date_range("2024-01-01", periods=20, freq="D")
    order = np.random.default_rng(1).permutation(20)
    time = pd.Series(stamps[order])
    y = pd.Series(np.arange(20, dtype=float))

    split = holdout_split(y, strategy="time", fraction=0.25, seed=0, time=time)

    assert split.strategy == "time"
    assert len(split.holdout) == 5
    _assert_partition(split.train, split.holdout, 20)
    assert time.iloc[split.train].max() < time.iloc[split.holdout].min()
    assert sorted(time.iloc[split.holdout]) == list(stamps[-5:])
    # positions come back sorted
    assert split.train.tolist() == sorted(split.train.tolist())
    assert split.holdout.tolist() == sorted(split.holdout.tolist())


def test_time_holdout_without_time_column() -> None:
    with pytest.raises(DataError, match=r"time-ordered split needs data\.time_column"):
        holdout_split(pd.Series(range(10)), strategy="time", fraction=0.2, seed=0)


def test_group_holdout_never_shares_a_group() -> None:
    groups = pd.Series(np.repeat([f"g{i}" for i in range(12)], 5))
    y = pd.Series(np.tile([0.0, 1.0, 2.0, 3.0, 4.0], 12))

    split = holdout_split(y, strategy="group", fraction=0.25, seed=3, groups=groups)

    assert split.strategy == "group"
    _assert_partition(split.train, split.holdout, 60)
    train_groups = set(groups.iloc[split.train])
    holdout_groups = set(groups.iloc[split.holdout])
    assert train_groups.isdisjoint(holdout_groups)
    assert len(holdout_groups) == 3  # a quarter of the 12 groups
    assert len(split.holdout) == 15


def test_group_holdout_without_groups() -> None:
    with pytest.raises(DataError, match=r"grouped split needs data\.group_column"):
        holdout_split(pd.Series(range(10)), strategy="group", fraction=0.2, seed=0)


def test_stratified_holdout_keeps_class_shares() -> None:
    y = _labels({"a": 60, "b": 30, "c": 10})

    split = holdout_split(y, strategy="stratified", fraction=0.2, seed=0)

    assert split.strategy == "stratified"
    _assert_partition(split.train, split.holdout, 100)
    assert y.iloc[split.holdout].value_counts().to_dict() == {"a": 12, "b": 6, "c": 2}
    assert y.iloc[split.train].value_counts().to_dict() == {"a": 48, "b": 24, "c": 8}


def test_random_holdout_size_and_seed() -> None:
    y = pd.Series(np.arange(50, dtype=float))

    first = holdout_split(y, strategy="random", fraction=0.3, seed=7)
    again = holdout_split(y, strategy="random", fraction=0.3, seed=7)
    other = holdout_split(y, strategy="random", fraction=0.3, seed=8)

    assert len(first.holdout) == 15
    _assert_partition(first.train, first.holdout, 50)
    assert first.holdout.tolist() == again.holdout.tolist()
    assert first.holdout.tolist() != other.holdout.tolist()


def test_holdout_keeps_at_least_one_row() -> None:
    split = holdout_split(pd.Series([1.0, 2.0, 3.0]), strategy="random", fraction=0.1, seed=0)
    assert len(split.holdout) == 1
    assert len(split.train) == 2


@pytest.mark.parametrize("n_rows", [0, 1, 2])
def test_too_few_rows_for_a_holdout(n_rows: int) -> None:
    y = pd.Series(np.arange(n_rows, dtype=float))
    with pytest.raises(DataError, match=rf"only {n_rows} rows with a target: too few"):
        holdout_split(y, strategy="random", fraction=0.2, seed=0)


def test_stratified_holdout_with_a_single_row_class() -> None:
    y = _labels({"a": 10, "b": 9, "c": 1})
    with pytest.raises(DataError, match="cannot make a stratified holdout of 4 rows"):
        holdout_split(y, strategy="stratified", fraction=0.2, seed=0)


# ---------------------------------------------------------------------------- cv_folds


def test_time_folds_validate_on_later_rows() -> None:
    stamps = pd.Series(pd.date_range("2024-01-01", periods=30, freq="h"))
    time = stamps.iloc[np.random.default_rng(2).permutation(30)].reset_index(drop=True)
    y = pd.Series(np.arange(30, dtype=float))

    folds = cv_folds(y, strategy="time", n_folds=4, seed=0, time=time)

    assert len(folds) == 4
    for train, valid in folds:
        assert time.iloc[train].max() < time.iloc[valid].min()
    # TimeSeriesSplit: 30 rows, 4 splits -> validation blocks of 6, growing training part
    assert [len(train) for train, _ in folds] == [6, 12, 18, 24]
    assert [len(valid) for _, valid in folds] == [6, 6, 6, 6]


def test_group_folds_never_share_a_group() -> None:
    groups = pd.Series(np.repeat(np.arange(10), 4))
    y = pd.Series(np.tile(["a", "b"], 20), dtype=object)

    folds = cv_folds(y, strategy="group", n_folds=5, seed=0, groups=groups)

    assert len(folds) == 5
    for train, valid in folds:
        assert set(groups.iloc[train]).isdisjoint(set(groups.iloc[valid]))
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(40))


def test_group_folds_are_capped_by_the_number_of_groups() -> None:
    groups = pd.Series(np.repeat(["x", "y", "z"], 4))
    y = pd.Series(np.arange(12, dtype=float))

    folds = cv_folds(y, strategy="group", n_folds=5, seed=0, groups=groups)

    assert len(folds) == 3
    assert sorted(sorted(set(groups.iloc[valid])) for _, valid in folds) == [["x"], ["y"], ["z"]]


def test_group_folds_stratify_object_labels() -> None:
    groups = pd.Series(np.repeat(np.arange(12), 3))
    y = pd.Series(np.tile(["a", "b", "b"], 12), dtype=object)
    expected = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=5).split(
        np.arange(36), y, groups.to_numpy()
    )

    folds = cv_folds(y, strategy="group", n_folds=4, seed=5, groups=groups)

    assert [(t.tolist(), v.tolist()) for t, v in folds] == [
        (t.tolist(), v.tolist()) for t, v in expected
    ]


def test_group_folds_stratify_pandas_string_labels() -> None:
    groups = pd.Series(np.repeat(np.arange(12), 3))
    y = pd.Series(np.tile(["a", "b", "b"], 12))  # the default text dtype of pandas
    expected = StratifiedGroupKFold(n_splits=4, shuffle=True, random_state=5).split(
        np.arange(36), y, groups.to_numpy()
    )

    folds = cv_folds(y, strategy="group", n_folds=4, seed=5, groups=groups)

    assert [(t.tolist(), v.tolist()) for t, v in folds] == [
        (t.tolist(), v.tolist()) for t, v in expected
    ]


def test_stratified_folds_match_scikit_learn() -> None:
    y = _labels({"a": 20, "b": 10})
    expected = StratifiedKFold(n_splits=5, shuffle=True, random_state=3).split(np.arange(30), y)

    folds = cv_folds(y, strategy="stratified", n_folds=5, seed=3)

    assert [(t.tolist(), v.tolist()) for t, v in folds] == [
        (t.tolist(), v.tolist()) for t, v in expected
    ]
    for _, valid in folds:
        assert y.iloc[valid].value_counts().to_dict() == {"a": 4, "b": 2}


def test_stratified_folds_shrink_to_the_rarest_class() -> None:
    y = _labels({"a": 20, "b": 3})
    folds = cv_folds(y, strategy="stratified", n_folds=5, seed=0)
    assert len(folds) == 3
    for _, valid in folds:
        assert y.iloc[valid].value_counts()["b"] == 1


def test_random_folds_match_scikit_learn() -> None:
    y = pd.Series(np.arange(20, dtype=float))
    expected = KFold(n_splits=4, shuffle=True, random_state=9).split(np.arange(20))

    folds = cv_folds(y, strategy="random", n_folds=4, seed=9)

    assert [(t.tolist(), v.tolist()) for t, v in folds] == [
        (t.tolist(), v.tolist()) for t, v in expected
    ]


# ---------------------------------------------------------------------------- plan_folds


@pytest.mark.parametrize(("rows", "expected"), [(500, 5), (20_000, 3), (50_000, 1)])
def test_plan_folds_auto_picks_the_count_from_the_rows(rows: int, expected: int) -> None:
    y = pd.Series(np.arange(rows, dtype=float))

    plan = plan_folds(y, task="regression", strategy="random", n_folds="auto", seed=0)

    assert len(plan.folds) == expected
    if expected == 1:  # one validation split of 20% of the rows
        ((train, valid),) = plan.folds
        assert (len(train), len(valid)) == (40_000, 10_000)


def test_plan_folds_keeps_a_given_count() -> None:
    y = pd.Series(np.arange(500, dtype=float))
    plan = plan_folds(y, task="regression", strategy="random", n_folds=7, seed=0)
    assert (len(plan.folds), plan.strategy) == (7, "random")


def test_plan_folds_caps_the_count_by_the_rarest_class_and_the_rows() -> None:
    rare = plan_folds(
        _labels({"a": 40, "b": 3}), task="binary", strategy="stratified", n_folds=5, seed=0
    )
    tiny = plan_folds(
        pd.Series(np.arange(6.0)), task="regression", strategy="random", n_folds=5, seed=0
    )

    assert len(rare.folds) == 3  # three rows of "b": one in each validation part
    assert len(tiny.folds) == 3  # at least two rows a fold


def test_plan_folds_time_validates_on_later_rows_in_time_order() -> None:
    # the rows arrive shuffled; their timestamps order the folds
    rng = np.random.default_rng(0)
    time = pd.Series(pd.date_range("2024-01-01", periods=60, freq="D")[rng.permutation(60)])
    y = pd.Series(rng.normal(size=60))

    plan = plan_folds(y, task="regression", strategy="time", n_folds=5, seed=0, time=time)

    assert plan.strategy == "time"
    for train, valid in plan.folds:
        assert time.iloc[train].max() < time.iloc[valid].min()


def test_plan_folds_time_drops_folds_whose_training_part_misses_a_class() -> None:
    # "c" appears only from row 25 on: the first expanding folds never train on it
    y = pd.Series(["a", "b"] * 15 + ["c", "a", "b"] * 10, dtype=object)

    plan = plan_folds(y, task="multiclass", strategy="time", n_folds=5, seed=0)

    assert plan.strategy == "time"
    assert 0 < len(plan.folds) < 5
    for train, _ in plan.folds:
        assert set(y.iloc[train]) == {"a", "b", "c"}


def test_plan_folds_stratifies_when_no_time_fold_sees_every_class() -> None:
    # "c" only in the last rows: no expanding fold trains on it
    y = pd.Series(["a", "b"] * 24 + ["c"] * 6, dtype=object)

    plan = plan_folds(y, task="multiclass", strategy="time", n_folds=5, seed=0)

    assert plan.strategy == "stratified"
    for train, valid in plan.folds:
        assert set(y.iloc[train]) == {"a", "b", "c"}
        assert len(np.intersect1d(train, valid)) == 0


def test_plan_folds_keeps_groups_on_one_side() -> None:
    groups = pd.Series(np.repeat(np.arange(20), 5))
    y = pd.Series(np.random.default_rng(0).normal(size=100))

    plan = plan_folds(y, task="regression", strategy="group", n_folds=5, seed=0, groups=groups)

    assert (plan.strategy, len(plan.folds)) == ("group", 5)
    for train, valid in plan.folds:
        assert not set(groups.iloc[train]) & set(groups.iloc[valid])
