"""Preparation (loopml.data._prepare) and the replay of a model's privacy policy on new rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.config import ProjectConfig
from loopml.data import (
    DataSet,
    check_quality,
    labelled_rows,
    prepare_data,
    privacy_replay,
    quality_report,
)
from loopml.data._privacy import hash_values
from loopml.errors import ConfigError, DataError


def _config(**sections: Any) -> ProjectConfig:
    base: dict[str, Any] = {
        "name": "churn",
        "problem": {"target": "churned"},
        "data": {"source": {"type": "csv", "path": "x.csv"}, "id_columns": ["customer_id"]},
        "training": {"seed": 0, "holdout_fraction": 0.25},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return ProjectConfig.model_validate(base)


def _frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": rng.integers(18, 80, n),
            "plan": rng.choice(["basic", "pro"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "churned": np.where(np.arange(n) % 3 == 0, "yes", "no"),
        }
    )


def _data(frame: pd.DataFrame) -> DataSet:
    return DataSet(frame, fingerprint="f", origin="test:rows")


def test_rows_without_a_target_and_duplicates_are_dropped_with_a_note() -> None:
    frame = _frame()
    frame.loc[3, "churned"] = " "  # blank: missing, as the quality checks count it
    frame = pd.concat([frame, frame.iloc[[10, 11]]], ignore_index=True)
    prepared = prepare_data(_data(frame), _config())
    assert len(prepared.y) == 79  # 82 rows, one blank label, two duplicates
    assert "2 duplicate rows dropped (cleaning.duplicates)" in prepared.problem.notes
    assert len(prepared.split.train) + len(prepared.split.holdout) == 79
    assert prepared.data.n_rows == 82  # the collected rows, protected, not filtered


def test_the_split_is_stratified_and_reproducible() -> None:
    first = prepare_data(_data(_frame()), _config())
    again = prepare_data(_data(_frame()), _config())
    assert first.split.strategy == "stratified"
    assert np.array_equal(first.split.holdout, again.split.holdout)
    assert len(first.split.holdout) == 20
    train, holdout = first.training_rows(), first.holdout_rows()
    assert list(train.X.index) == list(range(60))
    assert train.X.iloc[0].equals(first.X.iloc[first.split.train[0]])
    assert holdout.y.tolist() == first.y.iloc[first.split.holdout].tolist()


def test_a_time_column_makes_a_time_ordered_split() -> None:
    prepared = prepare_data(_data(_frame()), _config(data={"time_column": "signup"}))
    assert prepared.split.strategy == "time"
    assert prepared.time is not None
    assert prepared.holdout_rows().time.min() > prepared.training_rows().time.max()


def test_too_many_bad_timestamps_are_an_error() -> None:
    frame = _frame()
    frame.loc[:10, "signup"] = "not a date"
    with pytest.raises(DataError, match="11 of 80 values are missing or not dates"):
        prepare_data(_data(frame), _config(data={"time_column": "signup"}))


def test_a_class_only_in_the_holdout_is_an_error() -> None:
    frame = _frame()
    frame.loc[[78, 79], "churned"] = "maybe"  # a third class in the latest rows only
    config = _config(data={"time_column": "signup"})
    with pytest.raises(DataError, match=r"class\(es\) \['maybe'\] of 'churned' occur only"):
        prepare_data(_data(frame), config)


def test_a_declared_column_that_is_missing_names_the_key_and_the_file() -> None:
    with pytest.raises(ConfigError, match=r"data\.id_columns names column 'customer_id'.*my\.yaml"):
        prepare_data(
            _data(_frame().drop(columns=["customer_id"])), _config(), config_name="my.yaml"
        )


def test_personal_data_is_protected_before_the_schema() -> None:
    frame = _frame().assign(email=[f"user{i}@example.com" for i in range(80)])
    prepared = prepare_data(_data(frame), _config(privacy={"pii": "hash"}), salt="s3cret")
    assert prepared.pii == {"email": "email"}
    assert prepared.privacy == {"email": "hash"}
    assert prepared.X["email"].iloc[0] == hash_values(pd.Series(["user0@example.com"]), "s3cret")[0]


def test_the_summary_describes_the_run_data() -> None:
    summary = prepare_data(_data(_frame()), _config()).summary()
    assert summary["rows_with_target"] == 80
    assert (summary["train_rows"], summary["holdout_rows"]) == (60, 20)
    assert "customer_id (id)" in summary["ignored_columns"]


def test_the_quality_gate_lists_what_fails() -> None:
    frame = _frame().assign(leak=lambda df: (df["churned"] == "yes").astype(float))
    config = _config()
    report = quality_report(_data(frame), config, prepared=prepare_data(_data(frame), config))
    check_quality(report, "never")  # nothing fails below the gate
    failed = r"quality check failed with 1 finding.*\n- \[error\] suspected-leakage \(leak\)"
    with pytest.raises(DataError, match=failed):
        check_quality(report, "error")


def test_labelled_rows_keep_the_rows_with_a_label() -> None:
    prepared = prepare_data(_data(_frame()), _config())
    frame = _frame(6).assign(churned=["Yes ", "no", None, "yes", "no", ""])
    rows = labelled_rows(frame, prepared.problem, where="new.csv")
    assert rows.y.tolist() == ["yes", "no", "yes", "no"]
    assert "churned" not in rows.X.columns
    with pytest.raises(DataError, match=r"new\.csv has no target column 'churned'"):
        labelled_rows(frame.drop(columns=["churned"]), prepared.problem, where="new.csv")


# ---------------------------------------------------------------------------- privacy replay


def test_the_replay_drops_and_hashes_as_the_training_did() -> None:
    replay = privacy_replay(
        {"email": "drop", "phone": "hash", "city": "keep"}, "SALT", env={"SALT": "s"}
    )
    assert replay is not None
    frame = pd.DataFrame({"email": ["a@b.c"], "phone": ["+44 20 7946 0958"], "city": ["Oslo"]})
    out = replay(frame)
    assert list(out.columns) == ["phone", "city"]
    assert out["phone"].iloc[0] == hash_values(pd.Series(["+44 20 7946 0958"]), "s")[0]
    assert out["city"].iloc[0] == "Oslo"
    assert replay(pd.DataFrame({"city": ["Oslo"]}))["city"].tolist() == ["Oslo"]  # absent: fine


def test_no_replay_when_the_training_kept_everything() -> None:
    assert privacy_replay({"city": "keep"}, "SALT", env={}) is None
    assert privacy_replay({}, "SALT", env={}) is None


def test_a_hash_replay_without_the_salt_names_the_variable() -> None:
    replay = privacy_replay({"phone": "hash"}, "MY_SALT", env={})
    assert replay is not None
    with pytest.raises(ConfigError, match="set the environment variable MY_SALT"):
        replay(pd.DataFrame({"phone": ["1"]}))
