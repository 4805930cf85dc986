"""Erasure with the privacy policy (loopml.serving._forget): hashed, dropped, id and unknown
columns, on a SQLite prediction log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from loopml.data._privacy import hash_values
from loopml.errors import ConfigError, DataError
from loopml.serving import ErasurePolicy, forget_entity
from loopml.serving._contract import Feedback, LoggedPrediction
from loopml.serving._predlog import PredictionLog

SALT = "a-long-random-secret"
ENV = {"LOOPML_PII_SALT": SALT}
T0 = 1_780_000_000.0
POLICY = ErasurePolicy(
    privacy={"email": "hash", "phone": "drop", "city": "keep"},
    columns=("customer_id", "email", "age", "city"),
    features=("email", "age", "city"),
)


def digest(value: Any) -> str:
    return str(hash_values(pd.Series([value], dtype=object), SALT).iloc[0])


@pytest.fixture()
def plog(tmp_path: Path) -> Iterator[PredictionLog]:
    """Four predictions as the service logs them (emails hashed), all labelled; one from an
    older model that logged a phone column before the policy dropped it."""
    rows = [
        ("a", {"email": digest("ann@example.com"), "age": 41, "city": "Oslo"}),
        ("b", {"email": digest("ann@example.com"), "age": 42, "city": "Bergen"}),
        ("c", {"email": digest("bo@example.org"), "age": 7, "city": "Oslo"}),
        ("d", {"email": "ann@example.com", "age": 30, "phone": "+47 22 33 44 55"}),
    ]
    with PredictionLog(base_dir=tmp_path, mode="sync") as log:
        log.record([LoggedPrediction(r, T0, "1", f, "yes", None, 1.0) for r, f in rows])
        log.feedback([Feedback(r, "no", T0 + 1) for r, _ in rows])
        yield log


def remaining(plog: PredictionLog) -> list[str]:
    return [r.request_id for r in plog.read(T0, T0 + 1)]


def test_a_hashed_column_is_matched_by_its_digest_and_as_given(plog: PredictionLog) -> None:
    result = forget_entity(plog, "email", ["ann@example.com"], POLICY, env=ENV)
    # a and b hold the digest; d, a client that sent the raw address, is found too
    assert (result.predictions, result.labels, result.matched) == (3, 3, "hashed")
    assert remaining(plog) == ["c"]


def test_a_hashed_number_matches_in_any_form(tmp_path: Path) -> None:
    policy = ErasurePolicy(privacy={"card": "hash"}, columns=("card",), features=("card",))
    with PredictionLog(base_dir=tmp_path, mode="sync") as log:
        log.record([LoggedPrediction("n", T0, "1", {"card": digest(7)}, 1, None, 1.0)])
        assert forget_entity(log, "card", ["7.0"], policy, env=ENV, dry_run=True).predictions == 1
        assert forget_entity(log, "card", [" 7"], policy, env=ENV).predictions == 1


def test_a_hashed_column_without_the_salt_is_refused(plog: PredictionLog) -> None:
    with pytest.raises(ConfigError, match="set the environment variable LOOPML_PII_SALT"):
        forget_entity(plog, "email", ["ann@example.com"], POLICY, env={})
    assert len(remaining(plog)) == 4


def test_a_dropped_column_is_explained(plog: PredictionLog) -> None:
    result = forget_entity(plog, "phone", ["+1 555 0100"], POLICY, env=ENV)
    assert (result.predictions, result.matched) == (0, "dropped")
    assert result.note == (
        "the privacy policy drops phone, so the prediction log cannot hold it: "
        "there is nothing of it to delete"
    )
    # a prediction logged under an earlier policy that kept the column is still erased
    older = forget_entity(plog, "phone", ["+47 22 33 44 55"], POLICY, env=ENV, dry_run=True)
    assert older.predictions == 1
    assert "1 prediction(s) logged under an earlier policy held it; they would be" in older.note


def test_a_plain_column_matches_numbers_and_text(plog: PredictionLog) -> None:
    result = forget_entity(plog, "age", ["7"], POLICY, env=ENV)
    assert (result.request_ids, result.matched, result.note) == (("c",), "as given", "")
    assert forget_entity(plog, "city", ["Oslo"], POLICY, env=ENV).request_ids == ("a",)
    assert remaining(plog) == ["b", "d"]


def test_a_column_the_service_does_not_log_is_explained(plog: PredictionLog) -> None:
    result = forget_entity(plog, "customer_id", ["7"], POLICY, env=ENV)
    assert result.predictions == 0
    assert result.note.startswith("customer_id is neither a feature nor an id column")


def test_the_id_columns_are_logged_as_the_policy_wrote_them() -> None:
    from loopml.data._privacy import hash_values
    from loopml.serving._entity import EntityKeys

    info = {"privacy": {"email": "hash", "phone": "drop"}, "privacy_salt_env": "SALT"}
    keys = EntityKeys.of(("customer_id", "email"), info, env={"SALT": "s3cret"})
    logged = keys({"customer_id": 7, "email": "ann@example.com", "age": 41})
    digest = hash_values(pd.Series(["ann@example.com"]), "s3cret")[0]
    assert logged == {"customer_id": 7, "email": digest}
    assert keys({"age": 41}) == {}  # absent ids are left out
    # without the salt a hashed id is not logged at all: never raw
    unsalted = EntityKeys.of(("customer_id", "email"), info, env={})
    assert unsalted({"customer_id": 7, "email": "ann@example.com"}) == {"customer_id": 7}


def test_an_unknown_column_is_refused_naming_the_known_ones(plog: PredictionLog) -> None:
    with pytest.raises(
        DataError,
        match=r"unknown column 'e_mail'.*Known columns: age, city, customer_id, email, phone\.",
    ):
        forget_entity(plog, "e_mail", ["x"], POLICY, env=ENV)
    assert len(remaining(plog)) == 4


def test_a_column_only_the_log_knows_is_accepted(plog: PredictionLog) -> None:
    # no champion (an empty policy): the log's own columns may be named
    result = forget_entity(plog, "city", ["Bergen"], ErasurePolicy(), env={})
    assert result.request_ids == ("b",)


def test_no_value_is_refused(plog: PredictionLog) -> None:
    with pytest.raises(DataError, match="name at least one value of email"):
        forget_entity(plog, "email", [], POLICY, env=ENV)


def test_the_policy_of_a_bundle() -> None:
    column = SimpleNamespace
    schema = SimpleNamespace(
        columns=[column(name="id"), column(name="email"), column(name="age")],
        feature_columns=[column(name="email"), column(name="age")],
    )
    bundle: Any = SimpleNamespace(
        info={"privacy": {"email": "hash"}, "privacy_salt_env": "MY_SALT"},
        schema=schema,
        id_columns=("id",),
    )
    assert ErasurePolicy.of(bundle) == ErasurePolicy(
        {"email": "hash"}, "MY_SALT", ("id", "email", "age"), ("email", "age"), ("id",)
    )
    bundle.info = {}
    assert ErasurePolicy.of(bundle, "OTHER").salt_env == "OTHER"
