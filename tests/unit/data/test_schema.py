"""loopml.data._schema: a role per column, and the checks the schema runs on scoring input."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from loopml.data._schema import (
    ColumnSchema,
    Schema,
    infer_column,
    infer_schema,
    normalize_category,
    reference_statistics,
    to_boolean,
    to_datetime,
    to_numeric,
)
from loopml.errors import DataError, SchemaError

N = 60  # above the 50 rows id detection needs


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, N),
            "income": [f" {x:.1f} " for x in rng.normal(50, 10, N)],
            "active": rng.choice([True, False], N),
            "opted_in": rng.choice([0, 1], N),
            "signup": [f"2024-01-{(i % 28) + 1:02d}" for i in range(N)],
            "email": [f"user{i}@example.com" for i in range(N)],
            "customer_id": np.arange(1000, 1000 + N),
            "code": [f"C{i:04d}" for i in range(N)],
            "comment": [f"this is comment number {i} okay" for i in range(N)],
            "plan": ["basic", "Pro", " pro ", "BASIC ", "gold"] * (N // 5),
            "churned": rng.choice(["yes", "no"], N),
        }
    )


@pytest.fixture(scope="module")
def schema(training: pd.DataFrame) -> Schema:
    return infer_schema(training, "churned")


# --------------------------------------------------------------------------------------------
# role inference


@pytest.mark.parametrize(
    ("column", "role", "reason", "pii"),
    [
        ("age", "numeric", "numbers", None),
        ("income", "numeric", "numbers stored as text", None),
        ("active", "boolean", "boolean values", None),
        ("opted_in", "boolean", "only 0 and 1", None),
        ("signup", "datetime", "date or time strings", None),
        ("email", "id", "e-mail addresses (personal data)", "email"),
        ("customer_id", "id", "unique integers with an id-like name", None),
        ("code", "id", "100% of values are unique", None),
        ("comment", "text", "free text (6.0 words on average)", None),
        ("plan", "categorical", "5 distinct values", None),
    ],
)
def test_role_inference(
    schema: Schema, column: str, role: str, reason: str, pii: str | None
) -> None:
    col = schema[column]
    assert (col.role, col.reason, col.pii) == (role, reason, pii)


def test_target_is_left_out_and_order_is_kept(schema: Schema, training: pd.DataFrame) -> None:
    assert schema.target == "churned"
    assert schema.names == [c for c in training.columns if c != "churned"]


def test_feature_columns_leave_out_ids_and_personal_data(schema: Schema) -> None:
    assert schema.roles() == {
        "age": "numeric",
        "income": "numeric",
        "active": "boolean",
        "opted_in": "boolean",
        "signup": "datetime",
        "comment": "text",  # free text becomes TF-IDF terms in the pipeline
        "plan": "categorical",
    }
    assert not schema["email"].is_feature


def test_numeric_column_details(schema: Schema, training: pd.DataFrame) -> None:
    col = schema["age"]
    assert col.dtype == "int64"
    assert col.minimum == float(training["age"].min())
    assert col.maximum == float(training["age"].max())
    assert col.n_unique == training["age"].nunique()
    assert col.missing_fraction == 0.0


def test_numbers_as_text_get_their_range(schema: Schema, training: pd.DataFrame) -> None:
    numbers = training["income"].str.strip().astype(float)
    assert (schema["income"].minimum, schema["income"].maximum) == (
        numbers.min(),
        numbers.max(),
    )


def test_datetime_strings_get_their_range_in_epoch_seconds(schema: Schema) -> None:
    col = schema["signup"]
    assert col.minimum == pd.Timestamp("2024-01-01").timestamp() == 1704067200.0
    assert col.maximum == pd.Timestamp("2024-01-28").timestamp()


def test_categories_are_normalised_and_sorted(schema: Schema) -> None:
    col = schema["plan"]
    assert col.categories == ("basic", "gold", "pro")
    assert col.n_unique == 5  # counted before normalisation


def test_boolean_columns_range_from_zero_to_one(schema: Schema) -> None:
    assert (schema["active"].minimum, schema["active"].maximum) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("values", "role", "reason"),
    [
        (["1,234.5", "2,000", "17"], "numeric", "numbers stored as text"),
        ([0.0, 1.0, np.nan, 1.0], "boolean", "only 0 and 1"),
        ([1.5, 2.5, np.nan], "numeric", "numbers"),
        (["2024-01-01 10:00", "2024/02/03", "2024-03-04T05:06:07Z"], "datetime", None),
        (["a", "b", "a", None], "categorical", "2 distinct values"),
        (["yes", "no", "yes"], "categorical", "2 distinct values"),
        ([None, None, None], "categorical", "all values missing"),
        (pd.to_datetime(["2024-01-01", "2024-02-01"]), "datetime", "timestamp values"),
    ],
    ids=["thousands", "float01", "floats", "dates", "strings", "yes_no", "all_missing", "stamps"],
)
def test_infer_column_roles(values: object, role: str, reason: str | None) -> None:
    col = infer_column(pd.Series(values, name="col"))
    assert col.role == role
    if reason is not None:
        assert col.reason == reason


def test_short_unique_text_is_categorical_not_id() -> None:
    # fewer than 51 rows are not enough evidence for an id
    col = infer_column(pd.Series([f"C{i}" for i in range(50)], name="code"))
    assert (col.role, col.n_unique) == ("categorical", 50)


def test_unique_integers_without_an_id_like_name_are_numeric() -> None:
    col = infer_column(pd.Series(np.arange(N), name="amount"))
    assert col.role == "numeric"


@pytest.mark.parametrize(
    "name",
    ["id", "user_id", "id_user", "UUID", "api_key", "row_identifier", "PassengerId", "CustomerID"],
)
def test_id_like_names(name: str) -> None:
    assert infer_column(pd.Series(np.arange(N), name=name)).role == "id"


@pytest.mark.parametrize("name", ["paid", "valid", "Kid", "rapid"])
def test_words_ending_in_id_are_not_id_names(name: str) -> None:
    assert infer_column(pd.Series(np.arange(N), name=name)).role == "numeric"


def test_missing_fraction() -> None:
    col = infer_column(pd.Series([1.0, np.nan, 3.0], name="x"))
    assert col.missing_fraction == round(1 / 3, 6)
    assert (col.minimum, col.maximum, col.n_unique) == (1.0, 3.0, 2)


def test_declared_roles_win(training: pd.DataFrame) -> None:
    schema = infer_schema(
        training,
        "churned",
        id_columns=["age"],
        time_column="signup",
        drop_columns=["comment", "email"],
    )
    assert schema["age"].role == "id"
    assert schema["age"].reason == "declared in loopml.yaml"
    assert schema["signup"].role == "datetime"
    assert schema["signup"].reason == "declared in loopml.yaml"
    assert "comment" not in schema.names
    assert schema.ignored == ("comment", "email")


def test_unknown_column_is_a_key_error(schema: Schema) -> None:
    with pytest.raises(KeyError, match="nope"):
        schema["nope"]


# --------------------------------------------------------------------------------------------
# check and inspect


def test_check_names_every_missing_feature_column(schema: Schema) -> None:
    expected = (
        "batch.csv is missing 4 column(s) the model needs: age, signup, comment, plan. "
        "Add them (empty values are allowed) and retry."
    )
    with pytest.raises(SchemaError, match=f"^{re.escape(expected)}$"):
        schema.check(["income", "active", "opted_in", "email"], "batch.csv")


def test_check_is_a_data_error(schema: Schema) -> None:
    with pytest.raises(DataError, match="request is missing 7 column"):
        schema.check([], "request")


def test_check_ignores_ids_personal_data_and_extra_columns(schema: Schema) -> None:
    schema.check([*schema.roles(), "extra"], "batch.csv")


@pytest.fixture(scope="module")
def small() -> Schema:
    frame = pd.DataFrame(
        {
            "age": [20, 30, 40, 50, 60, 25],
            "plan": ["basic", "pro", "Pro", "basic", " BASIC", "pro"],
            "when": [f"2024-01-0{d}" for d in range(1, 7)],
            "flag": [True, False, True, False, True, True],
            "y": [0, 1, 0, 1, 0, 1],
        }
    )
    return infer_schema(frame, "y")


def test_inspect_counts_problems_per_column(small: Schema) -> None:
    new = pd.DataFrame(
        {
            "age": [10, 30, 70, "abc", None, " "],
            "plan": ["basic", "gold", "PRO ", None, "", "silver"],
            "when": ["2024-02-01", "not a date", None, "", "2024-13-45", "2023-01-01"],
            "flag": [True, False, None, True, False, True],
        }
    )
    assert small.inspect(new) == {
        "age": {"invalid": 1, "out_of_range": 2},
        "plan": {"unseen_category": 2},
        "when": {"invalid": 2},
    }


def test_inspect_clean_input_has_nothing_to_report(small: Schema) -> None:
    clean = pd.DataFrame(
        {"age": [20.0, 60.0], "plan": ["PRO", "basic"], "when": ["2024-05-05", None]}
    )
    assert small.inspect(clean) == {}


def test_inspect_skips_absent_columns(small: Schema) -> None:
    assert small.inspect(pd.DataFrame({"age": [100]})) == {"age": {"out_of_range": 1}}


def test_inspect_counts_unparseable_booleans(small: Schema) -> None:
    assert small.inspect(pd.DataFrame({"flag": ["yes", "maybe"]})) == {"flag": {"invalid": 1}}


# --------------------------------------------------------------------------------------------
# serialisation


def test_to_dict_from_dict_round_trip_through_json(schema: Schema) -> None:
    data = json.loads(json.dumps(schema.to_dict()))
    assert data["target"] == "churned"
    assert data["columns"][schema.names.index("plan")]["categories"] == ["basic", "gold", "pro"]
    assert Schema.from_dict(data) == schema


def test_from_dict_fills_optional_fields() -> None:
    data = {
        "target": "y",
        "columns": [
            {"name": "x", "role": "numeric", "dtype": "float64", "missing_fraction": 0.0,
             "n_unique": 3}
        ],
    }  # fmt: skip
    schema = Schema.from_dict(data)
    assert schema.columns == (
        ColumnSchema(name="x", role="numeric", dtype="float64", missing_fraction=0.0, n_unique=3),
    )
    assert schema.ignored == ()


# --------------------------------------------------------------------------------------------
# reference statistics


def test_reference_statistics(small: Schema) -> None:
    frame = pd.DataFrame(
        {
            "age": [20, 30, 40, 50, 60, 25],
            "plan": ["basic", "pro", "Pro", "basic", " BASIC", "pro"],
            "when": [f"2024-01-0{d}" for d in range(1, 7)],
            "flag": [True, False, True, False, True, True],
        }
    )
    stats = reference_statistics(frame, small, bins=4)
    # sorted ages 20 25 30 40 50 60: quartile edges 20, 26.25, 35, 47.5, 60
    age = stats["age"]
    assert (age["role"], age["missing"], age["mean"]) == ("numeric", 0.0, 37.5)
    assert age["std"] == pytest.approx(math.sqrt(1187.5 / 6), rel=1e-12)
    assert age["edges"] == pytest.approx([20.0, 26.25, 35.0, 47.5, 60.0], rel=1e-12)
    assert age["shares"] == pytest.approx([2 / 6, 1 / 6, 1 / 6, 2 / 6], rel=1e-12)
    assert stats["plan"] == {
        "role": "categorical",
        "missing": 0.0,
        "shares": {"basic": 0.5, "pro": 0.5},
    }
    assert stats["when"] == {"role": "datetime", "missing": 0.0}
    assert stats["flag"]["mean"] == pytest.approx(4 / 6)
    assert sum(stats["flag"]["shares"]) == pytest.approx(1.0)


def test_reference_statistics_missing_share_and_constant_column() -> None:
    frame = pd.DataFrame({"x": [5.0, 5.0, np.nan, 5.0], "y": [0, 1, 0, 1]})
    schema = infer_schema(frame, "y")
    stats = reference_statistics(frame, schema)
    assert stats["x"] == {
        "role": "numeric",
        "missing": 0.25,
        "mean": 5.0,
        "std": 0.0,
        "edges": [5.0],
        "shares": [1.0],
    }


def test_reference_statistics_skip_non_features_and_absent_columns(schema: Schema) -> None:
    stats = reference_statistics(
        pd.DataFrame({"age": [20, 30], "email": ["a@b.co", "c@d.co"]}), schema
    )
    assert list(stats) == ["age"]


# --------------------------------------------------------------------------------------------
# value conversions


def test_normalize_category() -> None:
    values = pd.Series(["Yes", " yes ", "YES", None, "", "  ", "No"])
    assert normalize_category(values).tolist()[:3] == ["yes", "yes", "yes"]
    result = normalize_category(values)
    assert result.isna().tolist() == [False, False, False, True, True, True, False]
    assert result.iloc[6] == "no"


def test_normalize_category_numbers_and_booleans() -> None:
    assert normalize_category(pd.Series([1.0, 2.5, np.nan])).tolist()[:2] == ["1", "2.5"]
    assert normalize_category(pd.Series([1, 2])).tolist() == ["1", "2"]
    assert normalize_category(pd.Series([True, False])).tolist() == ["true", "false"]


def test_to_numeric() -> None:
    result = to_numeric(pd.Series([" 12.5 ", "1,234.5", "abc", None, " "]))
    assert result.tolist()[:2] == [12.5, 1234.5]
    assert result.isna().tolist() == [False, False, True, True, True]
    assert to_numeric(pd.Series([True, False])).tolist() == [1.0, 0.0]


def test_to_boolean() -> None:
    result = to_boolean(pd.Series(["Yes", "no", "maybe", None, " TRUE ", "0", "f"]))
    assert result.fillna(-1).tolist() == [1.0, 0.0, -1, -1, 1.0, 0.0, 0.0]
    assert to_boolean(pd.Series([1, 0])).tolist() == [1.0, 0.0]


def test_to_datetime_converts_to_naive_utc() -> None:
    result = to_datetime(pd.Series(["2024-01-01T10:00:00+02:00", "2024-01-01", "nope"]))
    assert result.iloc[0] == pd.Timestamp("2024-01-01 08:00:00")
    assert result.iloc[1] == pd.Timestamp("2024-01-01")
    assert pd.isna(result.iloc[2])
    assert result.dt.tz is None
