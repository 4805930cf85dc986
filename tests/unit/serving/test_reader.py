"""Reading request instances into typed columns (loopml.serving._reader)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.config import CategoryCleaning, CleaningConfig, ProblemConfig
from loopml.data import NumberFormat, infer_schema, prepare_target, resolve_problem
from loopml.errors import ConfigError, DataError
from loopml.modeling import PipelineRecipe, make_pipeline
from loopml.registry import ModelBundle
from loopml.serving._contract import RequestError
from loopml.serving._frame import FramePredictor
from loopml.serving._reader import RecordReader, find_coercer


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": rng.integers(20, 70, n).astype(float),
            "plan": rng.choice(["Basic", "pro ", "TEAM"], n),
            "active": rng.choice([True, False], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="13h").strftime("%Y-%m-%d %H:%M"),
        }
    )
    frame.loc[[3, 7], "age"] = np.nan
    frame["churned"] = np.where((frame["age"].fillna(45) < 40) | (frame["plan"] == "Basic"), 1, 0)
    frame["churned"] = np.where(frame["churned"] == 1, "yes", "no")
    return frame


def _bundle(numbers: NumberFormat | None = None) -> ModelBundle:
    frame = _frame()
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X = frame.drop(columns=["churned"])
    y = prepare_target(frame["churned"], problem.task)
    recipe = PipelineRecipe(numbers=numbers)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1, recipe)
    return ModelBundle(
        pipeline=pipeline.fit(X, y), schema=schema, problem=problem, id_columns=("customer_id",)
    )


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return _bundle()


@pytest.fixture(scope="module")
def reader(bundle: ModelBundle) -> RecordReader:
    return RecordReader(bundle)


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "age": 41,
        "plan": "pro",
        "active": True,
        "signup": "2024-02-03T10:00:00",
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


# ---------------------------------------------------------------------------- types


def test_roles_come_from_the_schema_in_its_order(reader: RecordReader) -> None:
    assert reader.roles == {
        "age": "numeric",
        "plan": "categorical",
        "active": "boolean",
        "signup": "datetime",
    }


def test_values_are_read_by_their_column_role(reader: RecordReader) -> None:
    batch = reader.read(
        [
            _row(age="1,234.5", plan=" Basic ", active="Yes", signup="2024-02-03T10:00:00Z"),
            _row(age=" 7 ", plan=1.0, active=0, signup="2024-02-03T12:00:00+02:00"),
            _row(age="", plan="", active="", signup=""),
            _row(age=None, plan=None, active=None, signup=None),
        ]
    )
    rows = batch.rows
    assert batch.n == 4
    np.testing.assert_array_equal(rows["age"], [1234.5, 7.0, np.nan, np.nan])
    assert rows["age"].dtype == np.float64
    assert rows["plan"].tolist()[:2] == ["basic", "1"]
    assert all(v != v for v in rows["plan"].tolist()[2:])  # NaN: missing
    np.testing.assert_array_equal(rows["active"], [1.0, 0.0, np.nan, np.nan])
    assert rows["signup"].dtype == np.dtype("datetime64[ns]")
    assert rows["signup"][0] == np.datetime64("2024-02-03T10:00:00")
    assert rows["signup"][1] == np.datetime64("2024-02-03T10:00:00")  # +02:00 read as UTC
    assert np.isnat(rows["signup"][2:]).all()


def test_typed_columns_equal_the_pipelines_coercion(
    bundle: ModelBundle, reader: RecordReader
) -> None:
    records = [
        _row(age="2,500", plan="TEAM ", active="no", signup="2024-03-01"),
        _row(age=33.25, plan=True, active=1, signup="2024-03-01T23:59:59.5+01:00"),
        _row(age="$20", plan=12, active="t", signup="03/05/2024 14:00"),
        _row(age=None, plan=None, active=None, signup=None),
    ]
    batch = reader.read(records)
    expected = find_coercer(bundle.pipeline).transform(pd.DataFrame(records))
    for name in reader.names:
        got = pd.Series(batch.rows[name], name=name, dtype=batch.rows[name].dtype)
        want = expected[name].reset_index(drop=True)
        if name == "signup":  # the contract's unit; pandas reads microseconds (same instants)
            want = want.astype("datetime64[ns]")
        pd.testing.assert_series_equal(got, want)


def test_the_training_number_format_is_used() -> None:
    reader = RecordReader(_bundle(NumberFormat(",", ".")))
    batch = reader.read([_row(age="1.234,5"), _row(age="4,5")])
    np.testing.assert_array_equal(batch.rows["age"], [1234.5, 4.5])
    with pytest.raises(RequestError, match=r"expected a number \(e\.g\. 12,5"):
        reader.read([_row(age="1,234.5")])


def test_no_instances_give_empty_columns(reader: RecordReader) -> None:
    batch = reader.read([])
    assert batch.n == 0
    assert all(len(v) == 0 for v in batch.rows.values())


# ---------------------------------------------------------------------------- problems


def test_every_unreadable_value_is_a_problem_naming_instance_and_field(
    reader: RecordReader,
) -> None:
    records = [
        _row(),
        _row(age="abc", active="maybe"),
        _row(plan=["a"], signup="next tuesday"),
        _row(age=float("inf"), signup=20240101),
    ]
    with pytest.raises(RequestError, match=r"instance 1, field 'age': expected a number") as info:
        reader.read(records)
    found = [(p.index, p.field) for p in info.value.problems]
    assert found == [
        (1, "age"),
        (1, "active"),
        (2, "plan"),
        (2, "signup"),
        (3, "age"),
        (3, "signup"),
    ]
    assert all("send null for a missing value" in p.message for p in info.value.problems)
    by_field = {(p.index, p.field): p.message for p in info.value.problems}
    assert "expected true or false" in by_field[(1, "active")]
    assert "got 'maybe'" in by_field[(1, "active")]
    assert "got a list" in by_field[(2, "plan")]
    assert "ISO 8601" in by_field[(2, "signup")]
    assert info.value.problems[0].to_dict()["loc"] == ["body", "instances", 1, "age"]
    assert isinstance(info.value, DataError)


def test_an_absent_feature_column_is_a_problem(reader: RecordReader) -> None:
    with pytest.raises(RequestError, match=r"instance 0, field 'plan': required") as info:
        reader.read([_row(plan=...), _row()])
    assert [(p.index, p.field) for p in info.value.problems] == [(0, "plan")]
    assert "send null for a missing value" in info.value.problems[0].message


def test_an_instance_that_is_not_an_object_is_a_problem(reader: RecordReader) -> None:
    with pytest.raises(RequestError, match=r"instance 1, field '': an instance must be an object"):
        reader.read([_row(), [41, "pro"]])  # type: ignore[list-item]


def test_many_problems_are_all_listed_and_the_message_is_cut(reader: RecordReader) -> None:
    with pytest.raises(RequestError, match=r"\(and 5 more\)") as info:
        reader.read([_row(age="x")] * 10)
    assert len(info.value.problems) == 10


# ---------------------------------------------------------------------------- unused fields


def test_id_and_unknown_columns_are_ignored_and_listed(reader: RecordReader) -> None:
    batch = reader.read([_row(customer_id=7, note="vip"), _row(customer_id=8, churned="yes")])
    assert batch.ignored == ("customer_id", "note", "churned")
    assert set(batch.rows) == set(reader.names)


def test_reject_mode_makes_unused_fields_problems(bundle: ModelBundle) -> None:
    strict = RecordReader(bundle, extra_columns="reject")
    with pytest.raises(RequestError, match=r"field 'customer_id': an id column") as info:
        strict.read([_row(customer_id=7), _row(note="vip")])
    found = {(p.index, p.field): p.message for p in info.value.problems}
    assert set(found) == {(0, "customer_id"), (1, "note")}
    assert "not a column of the model" in found[(1, "note")]
    assert "serving.extra_columns: ignore" in found[(1, "note")]
    assert strict.read([_row()]).ignored == ()


def test_an_unknown_extra_columns_mode_is_refused(bundle: ModelBundle) -> None:
    with pytest.raises(ConfigError, match=r"serving.extra_columns must be 'ignore' or 'reject'"):
        RecordReader(bundle, extra_columns="drop")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- warnings


def test_unseen_categories_and_out_of_range_numbers_are_flagged(reader: RecordReader) -> None:
    batch = reader.read(
        [
            _row(plan="Gold"),
            _row(age=150),
            _row(age=20, plan=" TEAM"),
            _row(age=None, plan=None),
        ]
    )
    assert batch.warnings == [
        ["plan: unseen category 'gold'"],
        ["age: 150 is outside the training range [20, 69]"],
        [],
        [],
    ]
    assert batch.rows["plan"][0] == "gold"  # read and predicted anyway


def test_flagged_instances_are_predicted(bundle: ModelBundle, reader: RecordReader) -> None:
    records = [_row(plan="Gold", age=150), _row()]
    batch = reader.read(records)
    got = FramePredictor(bundle).predict(batch.rows, batch.n)
    expected = bundle.predict_frame(pd.DataFrame(records))
    assert got.predictions == expected["prediction"].tolist()
    assert got.probabilities is not None
    np.testing.assert_allclose(
        [p["yes"] for p in got.probabilities], expected["proba_yes"], rtol=0, atol=1e-12
    )


def test_labels_the_merger_maps_are_not_unseen() -> None:
    frame = _frame()
    frame.loc[:2, "plan"] = "Basicc"  # a spelling variant the merger learns
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X, y = frame.drop(columns=["churned"]), prepare_target(frame["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    merger = pipeline.named_steps["categories"]
    assert merger.mappings_["plan"] == {"basicc": "basic"}
    reader = RecordReader(ModelBundle(pipeline=pipeline, schema=schema, problem=problem))
    assert reader.read([_row(plan="BASICC"), _row(plan="basic ")]).warnings == [[], []]
    assert reader.read([_row(plan="bsc")]).warnings == [["plan: unseen category 'bsc'"]]


def test_labels_stay_as_written_without_normalisation() -> None:
    frame = _frame()
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X, y = frame.drop(columns=["churned"]), prepare_target(frame["churned"], problem.task)
    cleaning = CleaningConfig(categories=CategoryCleaning(normalize=False))
    recipe = PipelineRecipe(cleaning=cleaning)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1, recipe)
    bundle = ModelBundle(pipeline=pipeline.fit(X, y), schema=schema, problem=problem)
    records = [_row(plan=" Basic "), _row(plan=2.5), _row(plan=None)]
    batch = RecordReader(bundle).read(records)
    expected = find_coercer(bundle.pipeline).transform(pd.DataFrame(records))["plan"]
    assert batch.rows["plan"].tolist()[:2] == [" Basic ", "2.5"] == expected.tolist()[:2]


def test_booleans_accept_only_true_false_words_and_zero_one(reader: RecordReader) -> None:
    batch = reader.read([_row(active=1.0), _row(active=" NO "), _row(active="t")])
    np.testing.assert_array_equal(batch.rows["active"], [1.0, 0.0, 1.0])
    with pytest.raises(RequestError, match=r"field 'active': expected true or false.*got 2"):
        reader.read([_row(active=2)])
    with pytest.raises(RequestError, match=r"field 'active': expected true or false.*a list"):
        reader.read([_row(active=[True])])


def test_numbers_refuse_text_that_is_not_a_number_in_the_training_format(
    reader: RecordReader,
) -> None:
    for bad in ("12abc", "1.2.3", "nan", "inf", "1,23", {"v": 1}):
        with pytest.raises(RequestError, match=r"field 'age': expected a number"):
            reader.read([_row(age=bad)])
    batch = reader.read([_row(age="€ 1,234"), _row(age="-5"), _row(age="1e3"), _row(age=True)])
    np.testing.assert_array_equal(batch.rows["age"], [1234.0, -5.0, 1000.0, 1.0])


def test_reject_mode_says_when_a_field_is_personal_data() -> None:
    frame = _frame()
    frame["email"] = [f"user{i}@example.com" for i in range(len(frame))]
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    assert schema["email"].pii == "email"
    X, y = frame.drop(columns=["churned"]), prepare_target(frame["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    bundle = ModelBundle(pipeline=pipeline, schema=schema, problem=problem)
    assert RecordReader(bundle).read([_row(email="a@b.c")]).ignored == ("email",)
    with pytest.raises(RequestError, match=r"'email': personal data the model was trained"):
        RecordReader(bundle, extra_columns="reject").read([_row(email="a@b.c")])
