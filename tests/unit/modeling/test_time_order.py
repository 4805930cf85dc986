"""Time-ordered data: detecting it, folds that validate on later rows, and the absolute-time
probe (loopml.modeling._split, _auto and _search)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _searchkit import run_search

from loopml.config import FeaturesConfig
from loopml.data import to_datetime
from loopml.modeling import AutoClassifier, AutoRegressor, Leaderboard, _auto, cv_folds
from loopml.modeling._split import AUTO_FOLDS, Folds, auto_fold_count, time_ordered_column


def _days(n: int) -> pd.Series:
    """``n`` consecutive days as ``read_csv`` returns them: text."""
    return pd.Series(pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"))


def _swap(values: pd.Series, *pairs: tuple[int, int]) -> pd.Series:
    out = values.to_numpy().copy()
    for i, j in pairs:
        out[[i, j]] = out[[j, i]]
    return pd.Series(out)


def _partition(train: np.ndarray, valid: np.ndarray, n: int) -> None:
    assert len(np.intersect1d(train, valid)) == 0
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(n))
    assert train.tolist() == sorted(train.tolist())
    assert valid.tolist() == sorted(valid.tolist())


# ---------------------------------------------------------------------------- time_ordered_column


def _ordered(values: Any, role: str = "datetime", **kwargs: Any) -> str | None:
    return time_ordered_column(pd.DataFrame({"at": values}), {"at": role}, **kwargs)


def test_sorted_date_strings_are_time_ordered() -> None:
    assert _ordered(_days(30)) == "at"


def test_sorted_timestamps_are_time_ordered() -> None:
    assert _ordered(pd.date_range("2024-01-01", periods=30, freq="h")) == "at"
    # second resolution and timezones are read the same way
    assert _ordered(pd.date_range("2024-01-01", periods=30, freq="D").astype("datetime64[s]"))
    assert _ordered(pd.date_range("2024-03-30", periods=30, freq="h", tz="Europe/Paris"))


def test_ties_and_a_few_gaps_still_count_as_ordered() -> None:
    days = _days(30).repeat(2).reset_index(drop=True)  # two rows a day
    days[[5, 17, 40]] = None
    assert _ordered(days) == "at"


def test_a_few_swaps_still_count_as_ordered() -> None:
    # 2 adjacent swaps in 100 rows: 2 of 99 steps go back, 98% forward
    assert _ordered(_swap(_days(100), (10, 11), (50, 51))) == "at"


def test_too_many_swaps_do_not_count() -> None:
    # 6 adjacent swaps: 93.9% of the steps go forward, below the 95% asked for
    swapped = _swap(_days(100), *[(k, k + 1) for k in (5, 20, 35, 50, 65, 80)])
    assert _ordered(swapped) is None
    assert _ordered(swapped, min_sorted=0.9) == "at"


def test_shuffled_rows_are_not_time_ordered() -> None:
    days = _days(50).sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert _ordered(days) is None


def test_descending_rows_are_not_time_ordered() -> None:
    assert _ordered(_days(30)[::-1].reset_index(drop=True)) is None


def test_a_constant_column_is_not_time_ordered() -> None:
    # no step goes back, but time never advances
    assert _ordered(["2024-05-01"] * 20) is None


@pytest.mark.parametrize(("parsed", "expected"), [(20, "at"), (18, "at"), (17, None), (5, None)])
def test_mostly_unparseable_columns_do_not_count(parsed: int, expected: str | None) -> None:
    # at least 90% of the rows must hold a timestamp
    values = _days(20).astype(object)
    values[parsed:] = "unknown"
    assert _ordered(values) == expected


def test_fewer_than_three_timestamps_do_not_count() -> None:
    assert _ordered(["2024-01-01", "2024-01-02"]) is None
    assert _ordered(["2024-01-01", "2024-01-02", "2024-01-03"]) == "at"


@pytest.mark.parametrize("role", ["numeric", "categorical", "text", "id"])
def test_only_datetime_columns_are_considered(role: str) -> None:
    assert _ordered(_days(30), role=role) is None
    assert _ordered(np.arange(30), role=role) is None


def test_a_datetime_role_without_its_column_is_skipped() -> None:
    frame = pd.DataFrame({"x": range(10)})
    assert time_ordered_column(frame, {"at": "datetime", "x": "numeric"}) is None


def test_the_first_ordered_datetime_column_is_chosen() -> None:
    frame = pd.DataFrame(
        {
            "born": _days(40).sample(frac=1.0, random_state=1).to_numpy(),
            "seen": _days(40),
            "paid": _days(40),
        }
    )
    roles = {"born": "datetime", "seen": "datetime", "paid": "datetime"}
    assert time_ordered_column(frame, roles) == "seen"


# ---------------------------------------------------------------------------- auto_fold_count


@pytest.mark.parametrize(
    ("rows", "folds"),
    [
        (4, 5),
        (500, 5),
        (10_000, 5),
        (10_001, 3),
        (40_000, 3),
        (40_001, 1),
        (10_000_000, 1),
    ],
)
def test_auto_fold_count(rows: int, folds: int) -> None:
    assert auto_fold_count(rows) == folds


def test_auto_fold_limits() -> None:
    assert AUTO_FOLDS == ((10_000, 5), (40_000, 3))


# ---------------------------------------------------------------------------- one validation split


def test_one_time_fold_validates_on_the_latest_fifth() -> None:
    # rows arrive out of order: the validation rows are chosen by timestamp, not position
    stamps = pd.date_range("2024-01-01", periods=50, freq="D")
    time = pd.Series(stamps[np.random.default_rng(2).permutation(50)])
    y = pd.Series(np.arange(50.0))

    folds = cv_folds(y, strategy="time", n_folds=1, seed=0, time=time)

    assert len(folds) == 1
    train, valid = folds[0]
    _partition(train, valid, 50)
    assert len(valid) == 10
    assert sorted(time.iloc[valid]) == list(stamps[-10:])
    assert time.iloc[train].max() < time.iloc[valid].min()


def test_one_time_fold_without_timestamps_validates_on_the_last_rows() -> None:
    folds = cv_folds(pd.Series(np.arange(12.0)), strategy="time", n_folds=1, seed=0)

    assert [(t.tolist(), v.tolist()) for t, v in folds] == [(list(range(10)), [10, 11])]


def test_one_time_fold_keeps_at_least_one_validation_row() -> None:
    time = pd.Series(pd.date_range("2024-01-01", periods=4, freq="D"))
    folds = cv_folds(pd.Series(np.arange(4.0)), strategy="time", n_folds=1, seed=0, time=time)

    assert [(t.tolist(), v.tolist()) for t, v in folds] == [([0, 1, 2], [3])]


def test_one_stratified_fold_keeps_class_shares() -> None:
    labels = np.asarray(["no"] * 80 + ["yes"] * 20, dtype=object)
    y = pd.Series(np.random.default_rng(0).permutation(labels), dtype=object)

    folds = cv_folds(y, strategy="stratified", n_folds=1, seed=0)

    assert len(folds) == 1
    train, valid = folds[0]
    _partition(train, valid, 100)
    assert y.iloc[valid].value_counts().to_dict() == {"no": 16, "yes": 4}
    assert y.iloc[train].value_counts().to_dict() == {"no": 64, "yes": 16}


def test_one_stratified_fold_with_a_single_row_class_does_not_stratify() -> None:
    y = pd.Series(["a"] * 10 + ["b"] * 9 + ["c"], dtype=object)

    folds = cv_folds(y, strategy="stratified", n_folds=1, seed=0)

    train, valid = folds[0]
    _partition(train, valid, 20)
    assert len(valid) == 4


def test_one_stratified_fold_with_more_classes_than_validation_rows() -> None:
    y = pd.Series(["a"] * 6 + ["b"] * 2 + ["c"] * 2, dtype=object)

    folds = cv_folds(y, strategy="stratified", n_folds=1, seed=0)

    train, valid = folds[0]
    _partition(train, valid, 10)
    assert len(valid) == 2


def test_one_group_fold_keeps_groups_apart() -> None:
    groups = pd.Series(np.repeat([f"g{i}" for i in range(10)], 4))

    folds = cv_folds(pd.Series(np.arange(40.0)), strategy="group", n_folds=1, seed=0, groups=groups)

    assert len(folds) == 1
    train, valid = folds[0]
    assert not set(groups.iloc[train]) & set(groups.iloc[valid])


def test_one_random_fold_is_seeded() -> None:
    y = pd.Series(np.arange(50.0))

    first = cv_folds(y, strategy="random", n_folds=1, seed=3)
    again = cv_folds(y, strategy="random", n_folds=1, seed=3)
    other = cv_folds(y, strategy="random", n_folds=1, seed=4)

    assert len(first) == 1
    train, valid = first[0]
    _partition(train, valid, 50)
    assert len(valid) == 10
    assert valid.tolist() == again[0][1].tolist()
    assert valid.tolist() != other[0][1].tolist()
    # shuffled, not the last rows
    assert valid.tolist() != list(range(40, 50))


# ---------------------------------------------------------------------------- Auto* on time data

FAST: dict[str, Any] = {
    "time_budget": 60.0,
    "max_trials": 2,
    "models": ("linear", "lightgbm"),
    "random_state": 0,
    "n_jobs": 1,
}


def _daily(n: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows sorted by a date column of text, a trend, and a numeric signal."""
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=n)
    frame = pd.DataFrame({"day": _days(n).astype(object), "x1": x1})
    y = 0.05 * np.arange(n) + 2.0 * x1 + rng.normal(scale=0.3, size=n)
    return frame, y


@pytest.fixture
def used_folds(monkeypatch: pytest.MonkeyPatch) -> list[Folds]:
    """The folds each Auto* fit hands the search."""
    seen: list[Folds] = []
    real = _auto.train_model

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        seen.append(result.folds)
        return result

    monkeypatch.setattr(_auto, "train_model", spy)
    return seen


def _assert_validated_on_later_rows(folds: Folds, day: pd.Series) -> None:
    stamps = to_datetime(day)
    for train, valid in folds:
        assert stamps.iloc[train].max() < stamps.iloc[valid].min()


def test_auto_regressor_validates_time_ordered_rows_on_later_rows(
    used_folds: list[Folds],
) -> None:
    frame, y = _daily()

    reg = AutoRegressor(**FAST).fit(frame, y)

    assert reg.time_column_ == "day"
    (folds,) = used_folds
    assert len(folds) == 5 == reg.leaderboard_.n_folds  # automatic: 60 rows -> 5 folds
    _assert_validated_on_later_rows(folds, frame["day"])
    # expanding windows: each fold trains on everything before its validation rows
    assert [len(train) for train, _ in folds] == [10, 20, 30, 40, 50]
    assert [len(valid) for _, valid in folds] == [10] * 5


def test_auto_regressor_follows_the_row_order_when_rows_are_nearly_sorted(
    used_folds: list[Folds],
) -> None:
    # the rows are (nearly) in time order: later rows validate, and a row without a time,
    # or one out of place, stays where it arrived rather than moving to the end
    frame, y = _daily()
    frame["day"] = _swap(frame["day"], (20, 21), (44, 45))
    frame.loc[[5, 30], "day"] = None

    reg = AutoRegressor(**FAST, cv_folds=3).fit(frame, y)

    assert reg.time_column_ == "day"
    (folds,) = used_folds
    assert len(folds) == 3
    for train, valid in folds:
        assert train.max() < valid.min()
        _partition(train, valid, int(valid.max()) + 1)


def test_time_ordered_folds_whose_training_part_misses_a_class_are_dropped(
    used_folds: list[Folds],
) -> None:
    # "yes" appears only from row 50 on: the first two expanding folds train on "no" alone
    frame, _ = _daily(100)
    y = np.where(np.arange(100) >= 50, np.where(np.arange(100) % 2 == 0, "yes", "no"), "no")

    clf = AutoClassifier(**FAST, cv_folds=4).fit(frame, y)

    (folds,) = used_folds
    assert clf.time_column_ == "day"
    assert len(folds) == 2  # of 4: the ones training on rows 0-59 and 0-79
    assert all(set(y[train]) == {"no", "yes"} for train, _ in folds)


def test_classes_seen_only_at_the_end_fall_back_to_stratified_folds(
    used_folds: list[Folds],
) -> None:
    frame, _ = _daily(100)
    y = np.where(np.arange(100) >= 90, "yes", "no")

    clf = AutoClassifier(**FAST, cv_folds=3).fit(frame, y)

    (folds,) = used_folds
    assert clf.time_column_ is None
    assert all(set(y[valid]) == {"no", "yes"} for _, valid in folds)


def test_auto_regressor_with_one_fold_validates_on_the_latest_fifth(
    used_folds: list[Folds],
) -> None:
    frame, y = _daily()

    reg = AutoRegressor(**FAST, cv_folds=1).fit(frame, y)

    (folds,) = used_folds
    assert reg.leaderboard_.n_folds == 1
    assert [(t.tolist(), v.tolist()) for t, v in folds] == [(list(range(48)), list(range(48, 60)))]


def test_auto_regressor_on_shuffled_rows_uses_random_folds(used_folds: list[Folds]) -> None:
    frame, y = _daily()
    order = np.random.default_rng(1).permutation(len(frame))
    frame, y = frame.iloc[order].reset_index(drop=True), y[order]

    reg = AutoRegressor(**FAST).fit(frame, y)

    assert reg.time_column_ is None
    (folds,) = used_folds
    assert len(folds) == 5
    # random folds: every fold's validation rows start before its training rows end
    stamps = to_datetime(frame["day"])
    assert all(stamps.iloc[valid].min() < stamps.iloc[train].max() for train, valid in folds)


def test_auto_classifier_without_a_datetime_column_has_no_time_column() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=40), "x2": rng.normal(size=40)})
    y = np.where(X["x1"] > 0, "yes", "no")

    clf = AutoClassifier(**FAST).fit(X, y)

    assert clf.time_column_ is None
    assert clf.leaderboard_.n_folds == 5


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "3"])
def test_invalid_cv_folds_raise(value: Any) -> None:
    frame, y = _daily(20)

    message = (
        rf"^cv_folds must be None \(automatic\) or an integer >= 1, got {re.escape(repr(value))}$"
    )
    with pytest.raises(ValueError, match=message):
        AutoRegressor(**FAST, cv_folds=value).fit(frame, y)


def test_numpy_integer_cv_folds_are_accepted() -> None:
    frame, y = _daily(20)

    reg = AutoRegressor(**FAST, cv_folds=np.int64(2)).fit(frame, y)

    assert reg.leaderboard_.n_folds == 2


# ---------------------------------------------------------------------------- absolute-time probe

ROLES = {"x1": "numeric", "color": "categorical", "signup": "datetime"}


@pytest.fixture(scope="module")
def dated() -> tuple[pd.DataFrame, pd.Series]:
    """A trend over a datetime column plus a signal in x1 and color."""
    rng = np.random.default_rng(0)
    n = 90
    x1 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    X = pd.DataFrame(
        {
            "x1": x1,
            "color": color,
            "signup": pd.date_range("2024-01-01", periods=n, freq="D"),
        }
    )
    y = pd.Series(0.03 * np.arange(n) + x1 + (color == "red") + rng.normal(scale=0.3, size=n))
    return X, y


def _frozen() -> float:
    """A clock that never moves: the budget never binds, max_trials decides."""
    return 0.0


def _probe_search(
    data: tuple[pd.DataFrame, pd.Series],
    *,
    roles: dict[str, str] = ROLES,
    features: FeaturesConfig | None = None,
    **kwargs: Any,
) -> Leaderboard:
    X, y = data
    options: dict[str, Any] = {
        "families": ("linear", "lightgbm"),
        "budget_seconds": 600.0,
        "tune": False,
        "ensemble": False,
        "seed": 0,
        "n_jobs": 1,
        "clock": _frozen,
    }
    options.update(kwargs)
    result = run_search(
        X[list(roles)],
        y,
        task="regression",
        metric="rmse",
        roles=roles,
        folds=cv_folds(y, strategy="time", n_folds=3, seed=0, time=X["signup"]),
        features=features,
        **options,
    )
    return result.leaderboard


def test_the_first_tree_family_is_tried_without_absolute_time(
    dated: tuple[pd.DataFrame, pd.Series],
) -> None:
    board = _probe_search(dated, features=FeaturesConfig())

    rows = [(t.family, t.source, t.status) for t in board.trials]
    assert rows == [
        ("lightgbm", "portfolio", "ok"),
        ("lightgbm", "portfolio", "ok"),
        ("linear", "portfolio", "ok"),
    ]
    assert "absolute_time" not in board.trials[0].params
    assert board.trials[1].params["absolute_time"] is False
    # the same defaults otherwise
    without = {k: v for k, v in board.trials[1].params.items() if k != "absolute_time"}
    assert without == board.trials[0].params
    # the winner is kept for the rest of the portfolio
    winner = not board.trials[1].mean < board.trials[0].mean  # rmse: lower is better
    assert board.trials[2].params["absolute_time"] is winner


def test_the_absolute_time_winner_is_kept_for_later_trials(
    dated: tuple[pd.DataFrame, pd.Series],
) -> None:
    board = _probe_search(dated, features=FeaturesConfig(), tune=True, max_trials=5)

    kept, dropped = board.trials[0], board.trials[1]
    assert dropped.params["absolute_time"] is False
    winner = not dropped.mean < kept.mean  # rmse: lower is better
    later = board.trials[2:]
    assert [t.source for t in later] == ["portfolio", "optuna", "optuna"]
    assert [t.params["absolute_time"] for t in later] == [winner, winner, winner]


@pytest.mark.parametrize(
    ("roles", "features"),
    [
        (ROLES, None),  # no feature engineering asked for
        (ROLES, FeaturesConfig(absolute_time="keep")),
        (ROLES, FeaturesConfig(absolute_time="drop")),
        ({"x1": "numeric", "color": "categorical"}, FeaturesConfig()),  # no datetime column
    ],
)
def test_no_absolute_time_probe(
    dated: tuple[pd.DataFrame, pd.Series],
    roles: dict[str, str],
    features: FeaturesConfig | None,
) -> None:
    board = _probe_search(dated, roles=roles, features=features)

    assert [t.family for t in board.trials] == ["lightgbm", "linear"]
    assert all("absolute_time" not in t.params for t in board.trials)
