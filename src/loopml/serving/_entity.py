"""The id columns a logged prediction keeps, so that ``loopml forget`` can find an entity.

The model does not read its id columns, but the right to erasure needs them: a customer asks
to be forgotten by their id, not by their features. Each id column of the model is logged as
the privacy policy wrote it in training: a column the policy hashes is logged as the same
digest (HMAC-SHA256 with the salt from ``privacy.salt_env``), others as sent. A column the
policy drops is not an id column of the model, so it is never logged. When a hashed column's
salt is not set in the service's environment, the column is not logged (a raw id must not
reach the log), and the service says so once at load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.data import hash_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EntityKeys:
    """Which id columns to log, raw or hashed, and the salt of the hashed ones."""

    raw: tuple[str, ...] = ()
    hashed: tuple[str, ...] = ()
    salt: str = ""

    @classmethod
    def of(
        cls,
        id_columns: tuple[str, ...],
        info: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> EntityKeys:
        """From a bundle's id columns and its ``info`` (the privacy actions, the salt's
        variable); ``env`` defaults to the process environment."""
        env = os.environ if env is None else env
        actions = info.get("privacy") or {}
        hashed = tuple(c for c in id_columns if actions.get(c) == "hash")
        raw = tuple(c for c in id_columns if actions.get(c) not in ("hash", "drop"))
        salt_env = str(info.get("privacy_salt_env") or "LOOPML_PII_SALT")
        salt = env.get(salt_env, "")
        if hashed and not salt:
            log.warning(
                "the privacy policy hashes %s but %s is not set: the prediction log will not "
                "hold it, so `loopml forget --column %s` cannot find those predictions; set "
                "%s in the service's environment to the salt the model was trained with",
                ", ".join(hashed),
                salt_env,
                hashed[0],
                salt_env,
            )
            hashed = ()
        return cls(raw, hashed, salt)

    def __bool__(self) -> bool:
        return bool(self.raw or self.hashed)

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The id values of one instance, as the log keeps them (absent ones left out)."""
        keys = {c: record[c] for c in self.raw if record.get(c) is not None}
        for c in self.hashed:
            if record.get(c) is not None:
                keys[c] = hash_text(record[c], self.salt)
        return keys
