"""Erasure: an entity's predictions and labels out of the prediction log (``loopml forget``).

The log holds each instance as the model read it, and its id columns (so that an entity can
be found by its id), after the privacy policy: a column the policy hashed holds digests, a
column it dropped is not there. :func:`forget_entity` therefore
hashes the given values the way the model's policy did (same salt, same HMAC-SHA256) before
it matches, and says so when the policy dropped the column. It also matches the values as
given, so a client that sent the raw value is found too (a digest never equals a raw id).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.data import privacy_replay
from loopml.errors import ConfigError, DataError
from loopml.serving._predlog import ForgetResult, PredictionLog
from loopml.serving._predlog_store import match_texts

if TYPE_CHECKING:
    from loopml.registry import ModelBundle


@dataclass(frozen=True)
class ErasurePolicy:
    """What erasure needs to know of the model that logged: its privacy actions, where its
    salt comes from, its columns and the features among them (the columns the service logs)."""

    privacy: Mapping[str, str] = field(default_factory=dict)  # column -> drop | hash | keep
    salt_env: str = "LOOPML_PII_SALT"  # the environment variable holding the hashing salt
    columns: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()  # id columns: logged too (as the policy wrote them) for erasure

    @classmethod
    def of(cls, bundle: ModelBundle, salt_env: str = "LOOPML_PII_SALT") -> ErasurePolicy:
        """The policy a registered model was trained under (``salt_env``: where its info
        does not say)."""
        return cls(
            privacy=dict(bundle.info.get("privacy", {})),
            salt_env=str(bundle.info.get("privacy_salt_env", salt_env)),
            columns=tuple(c.name for c in bundle.schema.columns),
            features=tuple(c.name for c in bundle.schema.feature_columns),
            ids=tuple(bundle.id_columns),
        )


def forget_entity(
    plog: PredictionLog,
    column: str,
    values: Sequence[Any],
    policy: ErasurePolicy,
    *,
    env: Mapping[str, str],
    dry_run: bool = False,
) -> ForgetResult:
    """Delete the predictions whose ``column`` holds one of ``values``, and their labels.

    Parameters
    ----------
    plog
        The prediction log.
    column, values
        The entity: a column and its value(s) as the user knows them (raw, not hashed).
    policy
        The champion's privacy actions and columns; with the log's own columns, its columns
        are the ones a user may name.
    env
        The environment to read the salt from.
    dry_run
        Count what would be deleted; delete nothing.

    Raises
    ------
    DataError
        No value given, or a column that neither the model, the policy nor the log knows.
    ConfigError
        The policy hashed the column but the salt's environment variable is not set.
    """
    if not values:
        raise DataError(f"name at least one value of {column} to forget (--value).")
    action = policy.privacy.get(column)
    if action is None and column not in policy.columns:
        _check_known(plog, column, [*policy.columns, *policy.privacy])
    if action == "hash":
        hashed = _hash(column, values, policy.salt_env, env)
        result = plog.forget(column, [*hashed, *values], dry_run=dry_run)
        return dataclasses.replace(result, matched="hashed")
    result = plog.forget(column, values, dry_run=dry_run)
    if action == "drop":
        return dataclasses.replace(result, matched="dropped", note=_dropped_note(column, result))
    logged = (*policy.features, *policy.ids)
    if column in policy.columns and column not in logged and not result.predictions:
        note = (
            f"{column} is neither a feature nor an id column of the model, and the service "
            "logs only those: there is nothing of it to delete"
        )
        return dataclasses.replace(result, note=note)
    return result


def _check_known(plog: PredictionLog, column: str, known: list[str]) -> None:
    logged = plog.columns()
    if column in logged:
        return
    names = sorted(set(known) | set(logged))
    listed = ", ".join(names) if names else "none: no model and an empty log"
    raise DataError(
        f"unknown column {column!r}: neither the champion model, its privacy policy nor the "
        f"prediction log has it. Known columns: {listed}. Check the spelling (names are "
        "case-sensitive)."
    )


def _hash(column: str, values: Sequence[Any], salt_env: str, env: Mapping[str, str]) -> list[str]:
    """The digests the privacy policy would have logged for ``values`` (each text form)."""
    if not env.get(salt_env):
        raise ConfigError(
            f"the privacy policy hashes {column}, so the prediction log holds its digests, "
            f"but the salt is not set: set the environment variable {salt_env} "
            "(privacy.salt_env) to the secret the model was trained with, then run again."
        )
    replay = privacy_replay({column: "hash"}, salt_env, env)
    assert replay is not None  # a hashed column always makes a replay
    frame = pd.DataFrame({column: pd.Series(match_texts(values), dtype=object)})
    return [str(v) for v in replay(frame)[column]]


def _dropped_note(column: str, result: ForgetResult) -> str:
    note = (
        f"the privacy policy drops {column}, so the prediction log cannot hold it: "
        "there is nothing of it to delete"
    )
    if result.predictions:
        verb = "would be deleted" if result.dry_run else "were deleted"
        note = (
            f"the privacy policy drops {column}, but {result.predictions} prediction(s) "
            f"logged under an earlier policy held it; they {verb}"
        )
    return note
