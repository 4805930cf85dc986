"""loopml.data._join: a customers table joined with aggregated events, never multiplying rows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.config import DataConfig, Join
from loopml.data import collect
from loopml.data._join import join_sources
from loopml.data._sources import fingerprint
from loopml.errors import DataError
from loopml.types import DataSet


def dataset(origin: str, **columns: list[object]) -> DataSet:
    frame = pd.DataFrame(columns)
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


CUSTOMERS = dataset(
    "csv:customers.csv", customer_id=[1, 2, 3], plan=["basic", "pro", "basic"], score=[1, 2, 3]
)
EVENTS = dataset("csv:events.csv", customer_id=[1, 3, 9], n_events=[5, 7, 1], score=[0.1, 0.3, 0.9])


def join(**fields: object) -> Join:
    return Join.model_validate(
        {"source": {"type": "csv", "path": "x.csv"}, "on": ["customer_id"], **fields}
    )


def test_left_join_keeps_every_left_row_and_suffixes_overlaps() -> None:
    data = join_sources(CUSTOMERS, EVENTS, join())

    assert data.frame["customer_id"].tolist() == [1, 2, 3]
    assert data.frame["n_events"].tolist()[0::2] == [5, 7]
    assert np.isnan(data.frame["n_events"].iloc[1])
    assert list(data.frame.columns) == ["customer_id", "plan", "score", "n_events", "score_right"]
    assert data.origin == "csv:customers.csv +join:csv:events.csv on customer_id"
    assert data.fingerprint == fingerprint(data.frame)


def test_inner_join_and_custom_suffix() -> None:
    data = join_sources(CUSTOMERS, EVENTS, join(how="inner", suffix="_events"))
    assert data.frame.to_dict("list") == {
        "customer_id": [1, 3],
        "plan": ["basic", "basic"],
        "score": [1, 3],
        "n_events": [5, 7],
        "score_events": [0.1, 0.3],
    }


def test_key_explosion_on_the_right() -> None:
    events = dataset("csv:events.csv", customer_id=[1, 1, 3, 3, 3, 4], n=[1, 2, 3, 4, 5, 6])
    expected = (
        "key explosion: 2 keys of csv:events.csv appear more than once (e.g. 1 ×2, 3 ×3); "
        "data.joins[0] is many_to_one, so joining would multiply rows. Deduplicate or aggregate "
        "that source (e.g. a query with GROUP BY customer_id), or fix data.joins[0].on."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        join_sources(CUSTOMERS, events, join())


def test_one_to_one_checks_the_left_side_too() -> None:
    customers = dataset("sql:crm table=customers", customer_id=[1, 1, 2], plan=["a", "b", "c"])
    events = dataset("csv:events.csv", customer_id=[1, 2], n=[1, 2])
    join_sources(customers, events, join())  # many_to_one allows repeated left keys
    with pytest.raises(DataError, match=r"^key explosion: 1 keys of sql:crm table=customers"):
        join_sources(customers, events, join(relationship="one_to_one"), key="data.joins[1]")


def test_composite_keys_in_the_message() -> None:
    left = dataset("csv:l.csv", a=[1, 2], b=["x", "y"])
    right = dataset("csv:r.csv", a=[1, 1], b=["x", "x"], v=[1, 2])
    with pytest.raises(DataError, match=re.escape("(e.g. (a=1, b='x') ×2)")):
        join_sources(left, right, join(on=["a", "b"]))


def test_missing_key_column_names_the_side_and_the_columns() -> None:
    events = dataset("csv:events.csv", id=[1], n=[1])
    expected = (
        "data.joins[0].on: key column(s) ['customer_id'] missing from csv:events.csv (right side "
        "of the join; its columns: id, n). Fix data.joins[0].on or the source."
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        join_sources(CUSTOMERS, events, join())


def test_missing_key_on_the_left() -> None:
    with pytest.raises(DataError, match=r"\['plan_id'\] missing from csv:customers\.csv \(left"):
        join_sources(CUSTOMERS, EVENTS, join(on=["plan_id"]))


def test_missing_right_keys_never_match() -> None:
    left = dataset("csv:l.csv", k=[1.0, None], v=["a", "b"])
    right = dataset("csv:r.csv", k=[1.0, None, None], w=["x", "y", "z"])
    data = join_sources(left, right, join(on=["k"]))
    assert data.frame["w"].tolist()[0] == "x"
    assert pd.isna(data.frame["w"].iloc[1])
    assert len(data.frame) == 2


def test_key_type_mismatch() -> None:
    events = dataset("csv:events.csv", customer_id=["1", "3"], n=[1, 2])
    with pytest.raises(DataError, match=r"key 'customer_id' is int64 in csv:customers\.csv but"):
        join_sources(CUSTOMERS, events, join())


def test_suffix_clash() -> None:
    left = dataset("csv:l.csv", k=[1], v=[1], v_right=[2])
    right = dataset("csv:r.csv", k=[1], v=[3])
    with pytest.raises(DataError, match=r"would clash with \['v_right'\]"):
        join_sources(left, right, join(on=["k"]))


def test_collect_joins_sources_in_order(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id,plan\n1,basic\n2,pro\n", encoding="utf-8")
    (tmp_path / "events.jsonl").write_text(
        '{"customer_id": 1, "n_events": 4}\n{"customer_id": 2, "n_events": 0}\n', encoding="utf-8"
    )
    (tmp_path / "plans.json").write_text(
        '[{"plan": "basic", "price": 5}, {"plan": "pro", "price": 50}]'
    )
    cfg = DataConfig.model_validate(
        {
            "source": {"type": "csv", "path": "customers.csv"},
            "joins": [
                {"source": {"type": "jsonl", "path": "events.jsonl"}, "on": ["customer_id"]},
                {"source": {"type": "json", "path": "plans.json"}, "on": ["plan"], "how": "inner"},
            ],
        }
    )
    data = collect(cfg, tmp_path)
    assert data.frame.to_dict("list") == {
        "customer_id": [1, 2],
        "plan": ["basic", "pro"],
        "n_events": [4, 0],
        "price": [5, 50],
    }
    assert data.origin == (
        "csv:customers.csv +join:jsonl:events.jsonl on customer_id +join:json:plans.json on plan"
    )


def test_collect_join_file_errors_name_the_join(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id\n1\n", encoding="utf-8")
    cfg = DataConfig.model_validate(
        {
            "source": {"type": "csv", "path": "customers.csv"},
            "joins": [{"source": {"type": "csv", "path": "nope/*.csv"}, "on": ["customer_id"]}],
        }
    )
    with pytest.raises(
        DataError, match=r"^data\.joins\[0\]\.source\.path 'nope/\*\.csv' matches no"
    ):
        collect(cfg, tmp_path)
