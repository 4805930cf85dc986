"""loopml.features: datetime parts, declared expressions, target encoding, TF-IDF text."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import TargetEncoder

from loopml.config import FeaturesConfig, SelectionConfig, TextConfig
from loopml.errors import ConfigError
from loopml.features import (
    ALL_DATETIME_PARTS,
    DATETIME_PARTS,
    DatetimeExpander,
    ExpressionFeatures,
    FeatureChoices,
    TextVectorizer,
    absolute_time_options,
    build_preprocessor,
    check_expressions,
    selection_options,
)

# --------------------------------------------------------------------------------------------
# DatetimeExpander: every part, absolute time


def stamps(*values: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {"d": pd.to_datetime(list(values), format="ISO8601"), "x": range(len(values))}
    )


def test_every_datetime_part_has_its_exact_value() -> None:
    # 2024-01-06 is a Saturday, 2024-04-01 a Monday (day 92 of a leap year)
    frame = stamps("2024-01-06 12:30", "2024-04-01 00:00", None)
    expander = DatetimeExpander(("d",), parts=ALL_DATETIME_PARTS).fit(frame)
    out = expander.transform(frame)

    assert list(out.columns) == ["x", *[f"d__{p}" for p in ALL_DATETIME_PARTS]]
    assert expander.get_feature_names_out().tolist() == list(out.columns)
    saturday, monday = 2 * math.pi * 5 / 7, 0.0
    calendar = [2024, 1, 1, 6, 6, 5, 12, 30, 1]
    cycles = [0.5, math.sqrt(3) / 2, math.sin(saturday), math.cos(saturday), 0.0, -1.0]
    assert out.iloc[0, 1:].tolist() == pytest.approx([*calendar, *cycles, 0.0], abs=1e-12)
    calendar = [2024, 2, 4, 1, 92, 0, 0, 0, 0]
    cycles = [math.sqrt(3) / 2, -0.5, math.sin(monday), math.cos(monday), 0.0, 1.0]
    elapsed = 85 + 11.5 / 24  # from 2024-01-06 12:30
    assert out.iloc[1, 1:].tolist() == pytest.approx([*calendar, *cycles, elapsed], abs=1e-12)
    assert out.iloc[2, 1:].isna().all()


def test_minute_is_kept_only_where_it_varies() -> None:
    frame = pd.DataFrame(
        {
            "hourly": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00"]),
            "exact": pd.to_datetime(["2024-01-01 10:05", "2024-01-01 10:40"]),
        }
    )
    expander = DatetimeExpander(("hourly", "exact"), parts=("hour", "minute")).fit(frame)
    assert expander.parts_ == {"hourly": ("hour",), "exact": ("hour", "minute")}
    out = expander.transform(frame)
    assert out.columns.tolist() == ["hourly__hour", "exact__hour", "exact__minute"]
    assert out["exact__minute"].tolist() == [5.0, 40.0]


@pytest.mark.parametrize("parts", [None, ALL_DATETIME_PARTS])
def test_absolute_time_false_removes_year_and_elapsed_days(parts: tuple[str, ...] | None) -> None:
    frame = stamps("2023-12-31", "2024-01-06")
    out = DatetimeExpander(("d",), parts=parts, absolute_time=False).fit_transform(frame)
    requested = parts or DATETIME_PARTS
    absolute_or_constant = ("year", "elapsed_days", "minute")
    expected = [f"d__{p}" for p in requested if p not in absolute_or_constant]
    assert out.columns.tolist() == ["x", *expected]
    assert out["d__month"].tolist() == [12.0, 1.0]


def test_unknown_datetime_part_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^unknown datetime part\(s\) 'week'; known: year, "):
        DatetimeExpander(("d",), parts=("year", "week")).fit(stamps("2024-01-01"))


def test_expander_pickled_before_parts_existed_still_transforms() -> None:
    frame = stamps("2024-01-01", "2024-01-06 12:00")
    expander = DatetimeExpander(("d",)).fit(frame)
    del expander.parts_  # as unpickled from a bundle written by the previous version
    out = pickle.loads(pickle.dumps(expander)).transform(frame)
    assert out.columns.tolist() == ["x", *[f"d__{p}" for p in DATETIME_PARTS]]
    assert out.iloc[1, 1:].tolist() == [2024.0, 1.0, 6.0, 5.0, 12.0, 1.0, 5.5]


# --------------------------------------------------------------------------------------------
# expressions


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bedrooms": [2.0, 3.0, np.nan, 1.0],
            "bathrooms": [1.0, 2.0, 1.0, 0.0],
            "plan": pd.Series(["gold", "basic", "gold", None], dtype=object),  # as coerced
            "my col": [10.0, 20.0, 30.0, 40.0],
            "start": pd.to_datetime(["2024-01-01", "2024-01-01", None, "2024-01-01"]),
            "end": pd.to_datetime(
                ["2024-01-03 12:00", "2024-01-02", "2024-01-05", None], format="ISO8601"
            ),
        }
    )


def test_expressions_give_exact_numbers() -> None:
    expressions = {
        "total_rooms": "bedrooms + bathrooms",
        "per_bath": "bedrooms / bathrooms",
        "is_gold": "plan == 'gold'",
        "big": "total_rooms >= 4 and bathrooms > 1",
        "scaled": "`my col` ** 2 / 100 - -1",
        "days": "end - start",
    }
    step = ExpressionFeatures(expressions).fit(typed_frame())
    out = step.transform(typed_frame())

    def values(name: str) -> list[float]:
        return out[name].fillna(-99.0).tolist()

    assert values("total_rooms") == [3.0, 5.0, -99.0, 1.0]  # a missing input stays missing
    assert values("per_bath") == [2.0, 1.5, -99.0, -99.0]  # division by zero is missing
    assert values("is_gold") == [1.0, 0.0, 1.0, -99.0]  # missing label: missing, not False
    assert values("big") == [0.0, 1.0, -99.0, 0.0]  # uses the expression before it
    assert values("scaled") == [2.0, 5.0, 10.0, 17.0]
    assert values("days") == [2.5, 1.0, -99.0, -99.0]  # time differences in days
    assert all(out[name].dtype == np.float64 for name in expressions)
    assert step.get_feature_names_out().tolist() == [*typed_frame().columns, *expressions]
    assert step.columns_used_["big"] == ("total_rooms", "bathrooms")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("sqrt(bedrooms)", r"^features\.expressions\.new: 'sqrt\(bedrooms\)' uses a function call"),
        ("bedrooms.sum()", r"uses a function call; allowed: arithmetic"),
        ("plan.str", r"^features\.expressions\.new: 'plan\.str' uses an attribute access"),
        ("bedrooms[0]", r"uses indexing"),
        (
            "bedrooms + @cutoff",
            r"'bedrooms \+ @cutoff' is not a valid expression \(invalid syntax\)",
        ),
        ("rooms = bedrooms + 1", r"is not a valid expression"),
        ("bedrooms if plan else 1", r"uses an if-else"),
        ("lambda: 1", r"uses a lambda"),
        ("__import__('os')", r"uses a function call"),
        ("price * 2", r"uses 'price', which is not a feature column \(the target, id,"),
        ("1 + 2", r"'1 \+ 2' uses no column"),
        ("", r"^features\.expressions\.new: expected an expression such as 'a \+ b', got ''\.$"),
    ],
)
def test_anything_but_arithmetic_and_comparison_is_refused(expression: str, message: str) -> None:
    columns = ["bedrooms", "bathrooms", "plan"]
    with pytest.raises(ConfigError, match=message):
        check_expressions({"new": expression}, columns)
    with pytest.raises(ConfigError, match=message):
        ExpressionFeatures({"new": expression}).fit(typed_frame())


def test_check_expressions_lists_every_problem_and_allows_earlier_names() -> None:
    check_expressions({"a2": "bedrooms * 2", "a4": "a2 * 2", "c": "`my col` > 1"}, typed_frame())
    with pytest.raises(
        ConfigError,
        match=(
            r"^features\.expressions\.bedrooms: the name 'bedrooms' is already a column; "
            r"choose a new name for the derived feature\.\n"
            r"features\.expressions\.later: 'later_one \+ 1' uses 'later_one', which is not"
        ),
    ):
        check_expressions(
            {"bedrooms": "bathrooms + 1", "later": "later_one + 1", "later_one": "bathrooms"},
            ["bedrooms", "bathrooms"],
        )


def test_expression_of_the_wrong_types_fails_at_fit_naming_its_key() -> None:
    with pytest.raises(
        ConfigError,
        match=(
            r"^features\.expressions\.label: 'plan \+ plan' gives object values, not numbers\. "
            r"Column types: plan \(object\)\."
        ),
    ):
        ExpressionFeatures({"label": "plan + plan"}).fit(typed_frame())
    with pytest.raises(
        ConfigError,
        match=r"^features\.expressions\.bad: evaluating 'plan - bedrooms' failed: TypeError: ",
    ):
        ExpressionFeatures({"bad": "plan - bedrooms"}).fit(typed_frame())


def test_expressions_run_on_typed_columns_inside_the_preprocessor() -> None:
    roles = {"a": "numeric", "b": "numeric", "plan": "categorical"}
    features = FeaturesConfig(expressions={"ratio": "a / b", "gold": "plan == 'gold'"})
    raw = pd.DataFrame({"a": ["1", " 3 "], "b": [2, 4], "plan": [" GOLD", "basic"]})
    pipe = build_preprocessor(roles, "ordinal", features=features).fit(raw, [0, 1])

    assert [name for name, _ in pipe.steps] == [
        "coerce",
        "categories",
        "expressions",
        "datetime",
        "columns",
    ]
    assert pipe.get_feature_names_out().tolist() == ["a", "b", "ratio", "gold", "plan"]
    out = pipe.transform(raw)
    np.testing.assert_array_equal(out[:, 2:4], [[0.5, 1.0], [0.75, 0.0]])


# --------------------------------------------------------------------------------------------
# target encoding


def random_high_cardinality(n: int = 400) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "shop": [f"s{i}" for i in rng.randint(0, 150, n)],
            "size": rng.choice(["s", "m", "l"], n),
        }
    )
    return frame, pd.Series(rng.randint(0, 2, n))


ROLES = {"shop": "categorical", "size": "categorical"}


def test_target_encoding_in_the_pipeline_does_not_leak_across_folds() -> None:
    X, y = random_high_cardinality()
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    pre = build_preprocessor(ROLES, "onehot", features=FeaturesConfig(), task="binary")
    model = Pipeline([*pre.steps, ("model", LogisticRegression())])
    auc = cross_val_score(model, X, y, cv=folds, scoring="roc_auc").mean()
    assert 0.4 < auc < 0.6  # the shop is noise: chance

    # the same encoding fitted on all rows first leaks the target into every fold
    leaky = TargetEncoder(target_type="binary").fit(X[["shop"]], y).transform(X[["shop"]])
    leaked = cross_val_score(LogisticRegression(), leaky, y, cv=folds, scoring="roc_auc").mean()
    assert leaked > 0.75


def test_only_high_cardinality_categories_are_target_encoded() -> None:
    X, y = random_high_cardinality()
    pipe = build_preprocessor(ROLES, "onehot", features=FeaturesConfig(), task="binary")
    assert pipe.fit(X, y).get_feature_names_out().tolist() == ["size_l", "size_m", "size_s", "shop"]
    ordinal = build_preprocessor(ROLES, "ordinal", features=FeaturesConfig(high_cardinality=2))
    assert ordinal.fit(X, y).get_feature_names_out().tolist() == ["shop", "size"]  # 3 sizes > 2
    never = build_preprocessor(ROLES, "onehot", features=FeaturesConfig(target_encoding="never"))
    names = never.fit(X, y).get_feature_names_out().tolist()
    # one-hot: the 20 shops seen at least 5 times, the rest as one infrequent column
    assert len(names) == 20 + 1 + 3
    assert names[-4:] == ["shop_infrequent_sklearn", "size_l", "size_m", "size_s"]
    switched_off = build_preprocessor(
        ROLES, "onehot", features=FeaturesConfig(), choices=FeatureChoices(target_encoding=False)
    )
    assert switched_off.fit(X, y).get_feature_names_out().tolist() == names


def test_target_encoding_for_multiclass_and_integer_regression_targets() -> None:
    X, _ = random_high_cardinality()
    classes = pd.Series(np.random.RandomState(1).choice(["red", "green", "blue"], len(X)))
    multi = build_preprocessor(ROLES, "ordinal", features=FeaturesConfig(), task="multiclass")
    names = multi.fit(X, classes).get_feature_names_out().tolist()
    assert names == ["size", "shop_blue", "shop_green", "shop_red"]

    counts = pd.Series(np.random.RandomState(2).randint(0, 500, len(X)))  # integers, a regression
    reg = build_preprocessor(ROLES, "ordinal", features=FeaturesConfig(), task="regression")
    out = reg.fit_transform(X, counts)
    assert reg.get_feature_names_out().tolist() == ["size", "shop"]
    assert out[:, 1].min() > 0 and out[:, 1].max() < 500  # encoded as a mean, not 500 classes


def test_target_encoding_is_deterministic_for_a_seed() -> None:
    X, y = random_high_cardinality()
    pipe = build_preprocessor(ROLES, "ordinal", features=FeaturesConfig(), task="binary", seed=3)
    first = clone(pipe).fit_transform(X, y)
    np.testing.assert_array_equal(first, clone(pipe).fit_transform(X, y))
    other = build_preprocessor(ROLES, "ordinal", features=FeaturesConfig(), task="binary", seed=4)
    assert not np.array_equal(first, other.fit_transform(X, y))  # the seed picks inner folds


# --------------------------------------------------------------------------------------------
# text


def test_text_columns_become_tfidf_terms_and_missing_text_is_empty() -> None:
    roles = {"n": "numeric", "review": "text"}
    frame = pd.DataFrame(
        {
            "n": [1.0, 2.0, 3.0, 4.0],
            "review": ["Great product", "great value", None, "bad product"],
        }
    )
    features = FeaturesConfig(text=TextConfig(max_features=4, ngram_max=1))
    pipe = build_preprocessor(roles, "onehot", features=features).fit(frame, [1, 1, 0, 0])
    names = pipe.get_feature_names_out().tolist()
    assert names == [
        "n",
        "review__bad",
        "review__great",
        "review__product",
        "review__value",
    ]
    out = pipe.transform(pd.DataFrame({"n": [1.0, 2.0], "review": [None, "GREAT, great!"]}))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out[0, 1:], [0.0, 0.0, 0.0, 0.0])  # missing: no terms
    np.testing.assert_allclose(out[1, 1:], [0.0, 1.0, 0.0, 0.0])  # one term, L2-normalised


def test_text_is_dropped_without_features_and_empty_text_gives_no_columns() -> None:
    roles = {"n": "numeric", "review": "text"}
    frame = pd.DataFrame({"n": [1.0, 2.0], "review": [None, None]})
    plain = build_preprocessor(roles, "ordinal").fit(frame)
    assert plain.get_feature_names_out().tolist() == ["n"]
    with_features = build_preprocessor(roles, "ordinal", features=FeaturesConfig()).fit(frame)
    assert with_features.get_feature_names_out().tolist() == ["n"]
    assert with_features.transform(frame).shape == (2, 1)


def test_text_vectorizer_names_terms_by_column() -> None:
    vectorizer = TextVectorizer(max_features=2, ngram_max=2)
    vectorizer.fit(pd.DataFrame({"note": ["red car", "red car", "blue"]}))
    assert vectorizer.get_feature_names_out().tolist() == ["note__car", "note__red"]
    with pytest.raises(ValueError, match=r"^TextVectorizer takes one text column, got shape"):
        vectorizer.fit(pd.DataFrame({"a": ["x"], "b": ["y"]}))


# --------------------------------------------------------------------------------------------
# options the search tries


def test_preprocessor_with_features_expands_datetimes_with_every_part() -> None:
    roles = {"when": "datetime"}
    frame = pd.DataFrame({"when": ["2024-01-01 10:00", "2024-02-01 11:00"]})
    names = build_preprocessor(roles, "ordinal", features=FeaturesConfig()).fit(frame)
    expected = [f"when__{p}" for p in ALL_DATETIME_PARTS if p != "minute"]  # minute is constant
    assert names.get_feature_names_out().tolist() == expected
    dropped = build_preprocessor(roles, "ordinal", features=FeaturesConfig(absolute_time="drop"))
    without = [n for n in expected if n not in ("when__year", "when__elapsed_days")]
    assert dropped.fit(frame).get_feature_names_out().tolist() == without
    forced = build_preprocessor(
        roles, "ordinal", features=FeaturesConfig(), choices=FeatureChoices(absolute_time=False)
    )
    assert forced.fit(frame).get_feature_names_out().tolist() == without


def test_options_for_the_search() -> None:
    with_time, without_time = {"when": "datetime"}, {"x": "numeric"}
    assert absolute_time_options(FeaturesConfig(), with_time) == (True, False)
    assert absolute_time_options(FeaturesConfig(), without_time) == (True,)
    assert absolute_time_options(FeaturesConfig(absolute_time="keep"), with_time) == (True,)
    assert absolute_time_options(FeaturesConfig(absolute_time="drop"), with_time) == (False,)
    assert selection_options(FeaturesConfig()) == ("none", "auto")
    rfe = FeaturesConfig(selection=SelectionConfig(method="rfe"))
    assert selection_options(rfe) == ("rfe",)


def test_selection_step_is_added_when_configured_or_asked_for() -> None:
    roles = {"x": "numeric"}

    def steps(features: FeaturesConfig, selection: str | None = None) -> list[str]:
        pipe = build_preprocessor(
            roles, "onehot", features=features, choices=FeatureChoices(selection=selection)
        )
        return [name for name, _ in pipe.steps]

    base = ["coerce", "datetime", "columns"]
    assert steps(FeaturesConfig()) == base  # auto: the search decides
    assert steps(FeaturesConfig(), "auto") == [*base, "select"]
    assert steps(FeaturesConfig(selection=SelectionConfig(method="rfe"))) == [*base, "select"]
    assert steps(FeaturesConfig(selection=SelectionConfig(method="rfe")), "none") == base
