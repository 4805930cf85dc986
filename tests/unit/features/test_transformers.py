"""loopml.features._transformers: coercion, datetime expansion and the preprocessor."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from loopml.config import CleaningConfig, MissingCleaning
from loopml.features import DATETIME_PARTS, DatetimeExpander, FrameCoercer, build_preprocessor

ROLES = {"num": "numeric", "flag": "boolean", "cat": "categorical", "when": "datetime"}
WHEN_PARTS = [f"when__{p}" for p in DATETIME_PARTS]


def train_frame() -> pd.DataFrame:
    """20 rows: categories a (7 spellings of it), b (8), c (2, infrequent) and 3 missing."""
    return pd.DataFrame(
        {
            "num": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, np.nan] * 2,
            "flag": ["yes", "no", "Yes ", "NO", "true", "false", "1", "0", "y", "n"] * 2,
            "cat": ["A", " a", "a ", "A", "a", "A", "a"]
            + ["b"] * 4
            + ["B "] * 4
            + ["c", "c"]
            + [None] * 3,
            "when": [f"2024-01-{d:02d}" for d in range(1, 20)] + [None],
        }
    )


# --------------------------------------------------------------------------------------------
# FrameCoercer


def test_frame_coercer_gives_each_role_its_type() -> None:
    frame = pd.DataFrame(
        {
            "n": ["1", " 2.5 ", "x", None],
            "b": ["Yes", "no", None, "TRUE"],
            "c": ["Yes", " yes ", "YES", None],
            "d": ["2024-01-01", "2024-01-06 12:00", None, "bad"],
            "extra": [1, 2, 3, 4],
        },
        index=[10, 11, 12, 13],
    )
    roles = {"n": "numeric", "b": "boolean", "c": "categorical", "d": "datetime"}

    out = FrameCoercer(roles).fit(frame).transform(frame)

    assert list(out.columns) == ["n", "b", "c", "d"]
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["n"].dtype == np.float64
    assert out["n"].fillna(-1).tolist() == [1.0, 2.5, -1, -1]
    assert out["b"].fillna(-1).tolist() == [1.0, 0.0, -1, 1.0]
    assert out["c"].tolist()[:3] == ["yes", "yes", "yes"]
    assert pd.isna(out["c"].iloc[3])
    assert pd.api.types.is_datetime64_any_dtype(out["d"])
    assert out["d"].tolist()[:2] == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-06 12:00")]
    assert out["d"].isna().tolist() == [False, False, True, True]


def test_frame_coercer_normalises_category_spellings() -> None:
    frame = pd.DataFrame({"c": ["Yes", " yes ", "YES", "yes"]})
    out = FrameCoercer({"c": "categorical"}).fit_transform(frame)
    assert out["c"].tolist() == ["yes"] * 4


def test_frame_coercer_does_not_modify_its_input() -> None:
    frame = pd.DataFrame({"c": [" A "]})
    FrameCoercer({"c": "categorical"}).fit_transform(frame)
    assert frame["c"].tolist() == [" A "]


def test_frame_coercer_infers_roles_without_any() -> None:
    coercer = FrameCoercer().fit(pd.DataFrame({"a": [1, 2], "s": ["x", "Y "]}))
    assert coercer.roles_ == {"a": "numeric", "s": "categorical"}
    out = coercer.transform(pd.DataFrame({"a": ["3"], "s": ["Y "]}))
    assert out.to_dict("list") == {"a": [3.0], "s": ["y"]}


def test_frame_coercer_accepts_arrays() -> None:
    out = FrameCoercer().fit_transform(np.array([[1, 2], [3, 4]]))
    assert out.to_dict("list") == {"x0": [1.0, 3.0], "x1": [2.0, 4.0]}


def test_frame_coercer_fitted_attributes() -> None:
    frame = pd.DataFrame({"a": [1], "b": ["x"], "extra": [0]})
    coercer = FrameCoercer({"b": "categorical", "a": "numeric"}).fit(frame)
    assert coercer.n_features_in_ == 3
    assert coercer.feature_names_in_.tolist() == ["a", "b", "extra"]
    assert coercer.get_feature_names_out().tolist() == ["b", "a"]


def test_frame_coercer_before_fit() -> None:
    coercer = FrameCoercer(ROLES)
    with pytest.raises(NotFittedError, match="This FrameCoercer instance is not fitted yet"):
        coercer.transform(train_frame())
    with pytest.raises(NotFittedError, match="This FrameCoercer instance is not fitted yet"):
        coercer.get_feature_names_out()


def test_frame_coercer_missing_columns_at_fit_and_transform() -> None:
    frame = train_frame()
    with pytest.raises(ValueError, match=r"^columns missing from the input: flag, when$"):
        FrameCoercer(ROLES).fit(frame[["num", "cat"]])
    coercer = FrameCoercer(ROLES).fit(frame)
    with pytest.raises(ValueError, match=r"^columns missing from the input: num$"):
        coercer.transform(frame.drop(columns="num"))


def test_frame_coercer_clones_with_its_parameters() -> None:
    coercer = FrameCoercer(ROLES, decimal=",", thousands=".")
    assert clone(coercer).get_params() == {
        "roles": ROLES,
        "normalize_categories": True,
        "decimal": ",",
        "thousands": ".",
    }


def test_frame_coercer_reads_text_numbers_in_the_training_data_format() -> None:
    """A scoring file or a request writing '4,0288' is read as the training file wrote it."""
    train = pd.DataFrame({"x": [4.0288, 1234.5, 7.0]})
    rows = pd.DataFrame({"x": ["4,0288", "1.234,5", 7.5, "n/a"]}, dtype=object)
    comma = FrameCoercer({"x": "numeric"}, decimal=",", thousands=".").fit(train)
    assert comma.transform(rows)["x"].tolist()[:3] == [4.0288, 1234.5, 7.5]
    assert np.isnan(comma.transform(rows)["x"].iloc[3])
    # in the default format '4,0288' is not a number: missing, never 40288
    dot = FrameCoercer({"x": "numeric"}).fit(train)
    assert np.isnan(dot.transform(rows)["x"].iloc[0])


def test_frame_coercer_pickled_before_the_number_format_reads_the_default() -> None:
    coercer = FrameCoercer({"x": "numeric"}).fit(pd.DataFrame({"x": [1.0]}))
    del coercer.decimal, coercer.thousands  # as unpickled from an older loopml
    assert coercer.transform(pd.DataFrame({"x": ["1,234.5"]}))["x"].tolist() == [1234.5]


def test_frame_coercer_refuses_an_impossible_number_format() -> None:
    with pytest.raises(ValueError, match=r"^decimal and thousands are both ','$"):
        FrameCoercer({"x": "numeric"}, decimal=",", thousands=",").fit(pd.DataFrame({"x": [1]}))


# --------------------------------------------------------------------------------------------
# DatetimeExpander


def stamps(*values: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        {"d": pd.to_datetime(list(values), format="ISO8601"), "x": range(len(values))}
    )


def test_datetime_expander_parts_and_elapsed_days() -> None:
    # 2024-01-06 is a Saturday
    frame = stamps("2024-01-01", "2024-01-06 12:00", None)
    out = DatetimeExpander(columns=("d",)).fit(frame).transform(frame)

    assert list(out.columns) == ["x", *[f"d__{p}" for p in DATETIME_PARTS]]
    assert out.iloc[0, 1:].tolist() == [2024.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert out.iloc[1, 1:].tolist() == [2024.0, 1.0, 6.0, 5.0, 12.0, 1.0, 5.5]
    assert out.iloc[2, 1:].isna().all()
    assert out["x"].tolist() == [0, 1, 2]


def test_elapsed_days_count_from_the_training_start() -> None:
    expander = DatetimeExpander(columns=("d",)).fit(stamps("2024-01-10", "2024-01-01"))
    out = expander.transform(stamps("2024-02-01", "2023-12-31"))
    assert out["d__elapsed_days"].tolist() == [31.0, -1.0]
    assert expander.reference_ == {"d": pd.Timestamp("2024-01-01").timestamp()}


def test_datetime_expander_all_missing_at_fit() -> None:
    expander = DatetimeExpander(columns=("d",)).fit(stamps(None, None))
    assert expander.reference_ == {"d": 0.0}
    out = expander.transform(stamps("1970-01-02"))
    assert out["d__elapsed_days"].tolist() == [1.0]


def test_datetime_expander_feature_names_match_the_output() -> None:
    frame = stamps("2024-01-01")
    expander = DatetimeExpander(columns=("d",)).fit(frame)
    assert expander.get_feature_names_out().tolist() == list(expander.transform(frame).columns)


def test_datetime_expander_without_columns_passes_through() -> None:
    frame = stamps("2024-01-01")
    pd.testing.assert_frame_equal(DatetimeExpander().fit_transform(frame), frame)


def test_datetime_expander_before_fit() -> None:
    with pytest.raises(NotFittedError, match="This DatetimeExpander instance is not fitted yet"):
        DatetimeExpander(columns=("d",)).transform(stamps("2024-01-01"))


def test_datetime_expander_raises_no_deprecation_warning() -> None:
    frame = stamps("2024-01-01")
    expander = DatetimeExpander(columns=("d",)).fit(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expander.transform(frame)


# --------------------------------------------------------------------------------------------
# build_preprocessor

TEST_ROWS = pd.DataFrame(
    {
        "num": [np.nan, 3.0, 100.0],
        "flag": ["yes", None, "no"],
        "cat": ["zzz", None, "B "],  # unseen, missing (infrequent in training), known
        "when": [None, "2024-03-01", "2024-01-01"],
    }
)


def test_onehot_preprocessor_imputes_scales_and_encodes() -> None:
    pipe = build_preprocessor(ROLES, "onehot").fit(train_frame())
    out = pipe.transform(TEST_ROWS)
    names = pipe.get_feature_names_out().tolist()

    assert names == [
        "num",
        "flag",
        *WHEN_PARTS,
        "missingindicator_num",
        *[f"missingindicator_{p}" for p in WHEN_PARTS],
        "cat_a",
        "cat_b",
        "cat_infrequent_sklearn",
    ]
    assert out.shape == (3, len(names))
    assert not np.isnan(out).any()
    cats = out[:, -3:]
    # unseen 'zzz' and missing (3 rows in training, under min_frequency) share the
    # infrequent column; 'B ' is 'b'
    np.testing.assert_array_equal(cats, [[0, 0, 1], [0, 0, 1], [0, 1, 0]])

    impute = pipe.named_steps["columns"].named_transformers_["num"].named_steps["impute"]
    assert impute.statistics_[0] == 5.5  # median of 1 2 4 5 6 7 8 9, twice
    scale = pipe.named_steps["columns"].named_transformers_["num"].named_steps["scale"]
    # the first row's num is missing: imputed with the median, then scaled
    assert out[0, 0] == pytest.approx((5.5 - scale.mean_[0]) / scale.scale_[0], rel=1e-12)


def test_onehot_unseen_category_without_infrequent_ones_is_all_zeros() -> None:
    roles = {"cat": "categorical"}
    train = pd.DataFrame({"cat": ["a"] * 5 + ["b"] * 5})
    pipe = build_preprocessor(roles, "onehot").fit(train)
    assert pipe.get_feature_names_out().tolist() == ["cat_a", "cat_b"]
    np.testing.assert_array_equal(
        pipe.transform(pd.DataFrame({"cat": ["new", "A"]})), [[0, 0], [1, 0]]
    )


def test_ordinal_preprocessor_keeps_numbers_and_codes_categories() -> None:
    no_indicators = CleaningConfig(missing=MissingCleaning(indicators=False))
    pipe = build_preprocessor(ROLES, "ordinal", no_indicators).fit(train_frame())
    out = pipe.transform(TEST_ROWS)
    names = pipe.get_feature_names_out().tolist()

    assert names == ["num", "flag", *WHEN_PARTS, "cat"]
    num, flag, cat = out[:, 0], out[:, 1], out[:, -1]
    np.testing.assert_array_equal(num, [np.nan, 3.0, 100.0])  # missing stays missing for trees
    np.testing.assert_array_equal(flag, [1.0, np.nan, 0.0])
    # frequent a -> 0, b -> 1; infrequent (c, missing) -> 2; unseen -> -1
    np.testing.assert_array_equal(cat, [-1.0, 2.0, 1.0])
    when = out[:, 2:-1]
    assert np.isnan(when[0]).all()
    np.testing.assert_array_equal(when[1], [2024, 3, 1, 4, 0, 0, 60])  # a Friday, 60 days on
    np.testing.assert_array_equal(when[2], [2024, 1, 1, 0, 0, 0, 0])


def test_preprocessor_without_datetimes_or_categories() -> None:
    pipe = build_preprocessor({"num": "numeric"}, "onehot").fit(train_frame())
    assert pipe.get_feature_names_out().tolist() == ["num", "missingindicator_num"]
    out = pipe.transform(pd.DataFrame({"num": [5.5]}))
    assert out.shape == (1, 2)


def test_preprocessor_needs_every_role_column() -> None:
    pipe = build_preprocessor(ROLES, "ordinal").fit(train_frame())
    with pytest.raises(ValueError, match=f"^{re.escape('columns missing from the input: cat')}$"):
        pipe.transform(TEST_ROWS.drop(columns="cat"))


@pytest.mark.parametrize("encoding", ["onehot", "ordinal"])
def test_preprocessor_is_deterministic_and_clonable(encoding: str) -> None:
    pipe = build_preprocessor(ROLES, encoding)
    first = clone(pipe).fit(train_frame()).transform(TEST_ROWS)
    second = clone(pipe).fit(train_frame()).transform(TEST_ROWS)
    np.testing.assert_array_equal(first, second)


# --------------------------------------------------------------------------------------------
# cleaning policy


def test_ordinal_preprocessor_adds_indicators_for_numbers_missing_in_training() -> None:
    pipe = build_preprocessor({"a": "numeric", "b": "numeric"}, "ordinal")
    train = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": [1.0, 2.0, 3.0]})
    out = pipe.fit(train).transform(pd.DataFrame({"a": [np.nan], "b": [np.nan]}))
    assert pipe.get_feature_names_out().tolist() == ["a", "b", "missingindicator_a"]
    assert np.isnan(out[0, 0]) and np.isnan(out[0, 1]) and out[0, 2] == 1.0


def test_category_merger_maps_spelling_variants_to_the_most_frequent() -> None:
    from loopml.features import CategoryMerger

    train = pd.DataFrame(
        {
            "plan": ["standard"] * 8
            + ["standrad"] * 2
            + ["premium"] * 4
            + ["yes", "y", "yes"]
            + ["gold", "goal"]
        }
    )
    merger = CategoryMerger(("plan",), similarity=0.85).fit(train)
    assert merger.mappings_["plan"] == {"standrad": "standard", "y": "yes"}
    out = merger.transform(pd.DataFrame({"plan": ["standrad", "y", "gold", "goal", None]}))
    assert out["plan"].tolist()[:4] == ["standard", "yes", "gold", "goal"]


def test_category_merger_keeps_codes_and_comparably_frequent_labels_apart() -> None:
    from loopml.features import CategoryMerger

    # discharge codes differ in one digit by design; two real categories are often about
    # as frequent as each other, where a typo is rare next to the right spelling
    train = pd.DataFrame(
        {
            "code": ["id_1"] * 50 + ["id_11"] * 3 + ["v57"] * 10 + ["v58"] * 2,
            "unit": ["hematology"] * 10 + ["rheumatology"] * 6 + ["cardiology"] * 49,
        }
    )
    merger = CategoryMerger(("code", "unit"), similarity=0.85).fit(train)
    assert merger.mappings_ == {"code": {}, "unit": {}}


def test_outlier_clipper_clips_to_training_quantiles() -> None:
    from loopml.features import OutlierClipper

    train = pd.DataFrame({"x": np.arange(101, dtype=float)})
    clipper = OutlierClipper(("x",), (0.1, 0.9)).fit(train)
    assert clipper.bounds_ == {"x": (10.0, 90.0)}
    out = clipper.transform(pd.DataFrame({"x": [-5.0, 50.0, 1e9, np.nan]}))
    assert out["x"].tolist()[:3] == [10.0, 50.0, 90.0] and np.isnan(out["x"].iloc[3])


def test_declared_cleaning_policy_shapes_the_pipeline() -> None:
    from loopml.config import CategoryCleaning

    policy = CleaningConfig(
        outliers="clip", categories=CategoryCleaning(normalize=False, merge_similar=False)
    )
    pipe = build_preprocessor({"x": "numeric", "c": "categorical"}, "onehot", policy)
    assert [name for name, _ in pipe.steps] == ["coerce", "outliers", "datetime", "columns"]
    out = pipe.fit(pd.DataFrame({"x": [1.0, 2.0] * 5, "c": ["A", "a"] * 5}))
    names = out.get_feature_names_out().tolist()
    assert "c_A" in names and "c_a" in names  # not normalised: two categories
