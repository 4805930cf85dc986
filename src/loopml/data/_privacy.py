"""Personal data (PII): detection by content and by header, and the privacy policy.

Detection looks at a sample of each column's non-missing values: a column counts as a kind of
personal data when most values (``MATCH_SHARE``) match it. Content kinds are checked strictly
(payment cards must pass the Luhn check, IBANs the mod-97 check, IP addresses must parse), so
order numbers and other codes that only look alike do not count. Names and street addresses
are recognised by the column header only.

The policy (``privacy.pii: drop | hash | keep``, with per-column overrides in
``privacy.columns``) drops a column, replaces each value by a salted HMAC-SHA256 digest, or
keeps it. The salt is passed in by the caller; library code never reads the environment.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.config import PrivacyConfig
from loopml.data._schema import _EMAIL, is_text
from loopml.errors import ConfigError
from loopml.types import Finding

#: Share of the sampled values that must match for a column to count.
MATCH_SHARE = 0.8
HASH_LENGTH = 16

#: What each kind is called in messages.
KIND_NAMES: dict[str, str] = {
    "email": "e-mail addresses",
    "phone": "phone numbers",
    "payment_card": "payment-card numbers",
    "iban": "IBANs (bank accounts)",
    "national_id": "national id numbers",
    "ip_address": "IP addresses",
    "name": "personal names",
    "address": "street addresses",
}

_CARD = re.compile(r"^\d(?:[ -]?\d){12,18}$")
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
_NINO = re.compile(
    r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$",
    re.IGNORECASE,
)
_PHONE_CHARS = re.compile(r"^\+?[\d\s().-]+$")
_PHONE_GROUPS = re.compile(r"\d+")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")
_PLAIN_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")

_HEADER_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"(^|_)e_?mail(_?addr(ess)?)?$")),
    (
        "phone",
        re.compile(
            r"(^|_)(phone|telephone|tel|mobile|cell|cellphone|fax)(_?(no|num|number|nr))?$"
            r"|^msisdn$"
        ),
    ),
    ("ip_address", re.compile(r"(^|_)ip(v[46])?(_?addr(ess)?)?$")),
    ("national_id", re.compile(r"(^|_)(ssn|social_security(_number)?|nino|national_id)$")),
    ("payment_card", re.compile(r"(^|_)(credit_?card|card_?(no|num|number)|cc_?num(ber)?|pan)$")),
    ("iban", re.compile(r"(^|_)iban$")),
    (
        "name",
        re.compile(
            r"^(first|last|full|given|family|middle|maiden|fore|sur|nick)_?name$"
            r"|^(sur|fore)name$|^name$"
            r"|^(customer|client|contact|person|patient|employee|user|member|student|applicant"
            r"|borrower|guest|passenger|driver|recipient|sender|holder|cardholder|account_holder"
            r"|owner|buyer|payee|payer|beneficiary|subscriber|author|signatory)_?(full_?)?name$"
        ),
    ),
    (
        "address",
        re.compile(
            r"^(home_|street_|postal_|mailing_|billing_|shipping_|delivery_|residential_)?"
            r"(address|addr|street)(_?line)?(_?\d)?$"
            r"|^street(_?(name|address))?$|^address_?line_?\d?$|^addr_?line_?\d?$"
        ),
    ),
)


def _header(name: Any) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _header_kind(name: Any) -> str | None:
    header = _header(name)
    for kind, pattern in _HEADER_KINDS:
        if pattern.search(header):
            return kind
    return None


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum of payment-card numbers."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """True if ``text`` (spaces allowed) is an IBAN with valid mod-97 check digits."""
    compact = text.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _is_card(text: str) -> bool:
    return bool(_CARD.match(text)) and luhn_valid(re.sub(r"[ -]", "", text))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_phone(text: str) -> bool:
    if not _PHONE_CHARS.match(text) or _DATE_LIKE.match(text) or _PLAIN_NUMBER.match(text):
        return False
    groups = _PHONE_GROUPS.findall(text)
    n_digits = sum(len(g) for g in groups)
    if not 7 <= n_digits <= 15:
        return False
    return text.startswith("+") or "(" in text or len(groups) >= 3


def _is_national_id(text: str) -> bool:
    return bool(_SSN.match(text) or _NINO.match(text))


#: Content checks, most specific first; the first kind most values match wins.
_CONTENT_CHECKS: tuple[tuple[str, Any], ...] = (
    ("email", lambda t: bool(_EMAIL.match(t))),
    ("iban", iban_valid),
    ("payment_card", _is_card),
    ("national_id", _is_national_id),
    ("ip_address", _is_ip),
    ("phone", _is_phone),
)


def _content_kind(values: pd.Series, sample: int) -> str | None:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_float_dtype(values):
        return None
    is_integer = pd.api.types.is_integer_dtype(values)
    if not (is_integer or is_text(values)):
        return None
    present = values.dropna()
    if len(present) > sample:
        present = present.sample(sample, random_state=0)
    if is_integer:  # card numbers kept as integers; nothing else of interest is one
        if not len(present) or present.min() < 10**12:
            return None
        present = present.astype("int64").astype(str)
    text = present.astype(str).str.strip()
    text = text[text != ""].tolist()
    if not text:
        return None
    for kind, check in _CONTENT_CHECKS:
        if is_integer and kind != "payment_card":
            continue
        hits = 0
        for i, value in enumerate(text):
            hits += bool(check(value))
            # stop early once the share can no longer be reached
            if hits + (len(text) - i - 1) < MATCH_SHARE * len(text):
                break
        if hits >= MATCH_SHARE * len(text):
            return kind
    return None


def detect_pii(frame: pd.DataFrame, sample: int = 2000) -> dict[str, str]:
    """Columns holding personal data, and which kind.

    Parameters
    ----------
    frame
        The data; pass it without the target, which is never treated as personal data.
    sample
        At most this many non-missing values per column are checked.

    Returns
    -------
    dict[str, str]
        Column -> kind, one of ``email``, ``phone``, ``payment_card``, ``iban``,
        ``national_id``, ``ip_address`` (by content or header), ``name`` and ``address`` (by
        header). The content wins where content and header disagree.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"contact": ["ann@example.com", "bo@example.org"], "x": [1, 2]})
    >>> detect_pii(frame)
    {'contact': 'email'}
    """
    found: dict[str, str] = {}
    for name in frame.columns:
        values = frame[name]
        if isinstance(values, pd.DataFrame):  # a repeated column name: check the first
            values = values.iloc[:, 0]
        kind = _content_kind(values, sample)
        if kind is None and not pd.api.types.is_bool_dtype(values):
            kind = _header_kind(name)
        if kind is not None:
            found[name] = kind
    return found


def hash_values(values: pd.Series, salt: str) -> pd.Series:
    """HMAC-SHA256 of each value's text with ``salt``, as 16 hex digits; missing stays missing.

    Integral floats hash like the integer (``12.0`` like ``12``), and text is trimmed, so the
    same value read from CSV or a database gets the same digest.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    key = salt.encode()
    digests = np.array(
        [
            hmac.new(key, _text(v).encode(), hashlib.sha256).hexdigest()[:HASH_LENGTH]
            for v in uniques
        ]
        + [None],
        dtype=object,
    )
    out = digests[np.where(codes < 0, len(uniques), codes)]
    return pd.Series(out, index=values.index, name=values.name, dtype="str")


def hash_text(value: Any, salt: str) -> str | None:
    """:func:`hash_values` of one value (None stays None): the digest the privacy policy
    writes for it.

    Examples
    --------
    >>> hash_text(12.0, "s") == hash_text("12", "s") == hash_values(pd.Series([12]), "s")[0]
    True
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    digest = hmac.new(salt.encode(), _text(value).encode(), hashlib.sha256).hexdigest()
    return digest[:HASH_LENGTH]


def _text(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def apply_privacy(
    frame: pd.DataFrame,
    pii: Mapping[str, str],
    policy: PrivacyConfig,
    *,
    salt: str | None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Drop, hash or keep each personal-data column as the policy says.

    Parameters
    ----------
    frame
        The data; it is not modified.
    pii
        Column -> kind, as from :func:`detect_pii`. Columns absent from ``frame`` are skipped.
    policy
        ``privacy`` from loopml.yaml: ``pii`` is the action for every column,
        ``columns`` overrides it per column.
    salt
        The secret for hashing, read by the caller from the environment variable named by
        ``policy.salt_env``. Needed only when a column is hashed.

    Returns
    -------
    tuple[pandas.DataFrame, dict[str, str]]
        The new frame, and column -> action taken (``drop``, ``hash`` or ``keep``).

    Raises
    ------
    ConfigError
        A column is to be hashed but no salt was given.

    Examples
    --------
    >>> import pandas as pd
    >>> from loopml.config import PrivacyConfig
    >>> frame = pd.DataFrame({"email": ["ann@example.com"], "x": [1]})
    >>> out, actions = apply_privacy(frame, {"email": "email"}, PrivacyConfig(), salt=None)
    >>> list(out.columns), actions
    (['x'], {'email': 'drop'})
    """
    actions: dict[str, str] = {
        name: policy.columns.get(str(name), policy.pii) for name in pii if name in frame.columns
    }
    hashed = [name for name, action in actions.items() if action == "hash"]
    if hashed and not salt:
        where = (
            "privacy.pii is 'hash'"
            if any(str(c) not in policy.columns for c in hashed)
            else "privacy.columns says 'hash'"
        )
        raise ConfigError(
            f"{where} for column(s) {', '.join(map(repr, map(str, hashed)))}, but no salt was "
            f"given: set the environment variable {policy.salt_env} (privacy.salt_env) to a "
            "long random secret and keep it, or use privacy.pii: drop."
        )
    out = frame.drop(columns=[name for name, action in actions.items() if action == "drop"])
    if hashed:
        assert salt  # checked above
        out = out.copy()
        for name in hashed:
            out[name] = hash_values(out[name], salt)
    return out, actions


def pii_findings(
    pii: Mapping[str, str], actions: Mapping[str, str], policy: PrivacyConfig | None = None
) -> list[Finding]:
    """One ``pii-column`` finding per personal-data column, saying what was done with it.

    Dropped or kept columns are warnings, hashed ones are info. With ``policy`` the message
    names the key that decided (``privacy.columns.<col>`` or ``privacy.pii``).

    Examples
    --------
    >>> [f.message for f in pii_findings({"email": "email"}, {"email": "drop"})]
    ['column email holds e-mail addresses: dropped (privacy.pii: drop)']
    """
    verbs = {"drop": "dropped", "hash": "hashed with the salt", "keep": "kept as it is"}
    out = []
    for name, kind in pii.items():
        action = actions.get(name)
        if action is None:
            continue
        key = (
            f"privacy.columns.{name}"
            if policy is not None and str(name) in policy.columns
            else "privacy.pii"
        )
        what = KIND_NAMES.get(kind, "personal data")
        if action == "drop":
            suggestion = (
                f"To use it as a feature without the raw values set {key}: hash (the salt "
                "comes from the environment variable privacy.salt_env names, LOOPML_PII_SALT "
                "by default); if it is not personal data, set "
                f"privacy.columns.{name}: keep."
            )
        elif action == "keep":
            suggestion = (
                "Raw personal data reaches the model, the run records and the prediction log; "
                f"set {key}: drop or hash unless that is intended."
            )
        else:
            suggestion = "Keep the salt secret and stable: a new salt changes every digest."
        out.append(
            Finding(
                id="pii-column",
                severity="info" if action == "hash" else "warning",
                column=str(name),
                message=f"column {name} holds {what}: {verbs.get(action, action)} "
                f"({key}: {action})",
                suggestion=suggestion,
            )
        )
    return out


@dataclass(frozen=True)
class PrivacyReplay:
    """The privacy actions a model was trained under, applied again to new rows.

    Call it on a frame (a chunk to score, a request's rows): columns the training dropped
    are dropped, columns it hashed are hashed with the same salt; other columns pass.
    """

    policy: PrivacyConfig  # the recorded action per column in ``columns``; nothing else
    salt: str | None = field(default=None, repr=False)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        present = {c: "trained" for c in self.policy.columns if c in frame.columns}
        out, _ = apply_privacy(frame, present, self.policy, salt=self.salt)
        return out


def privacy_replay(
    actions: Mapping[str, str], salt_env: str, env: Mapping[str, str]
) -> PrivacyReplay | None:
    """The replay of a model's recorded privacy policy, or None when it changed no column.

    Parameters
    ----------
    actions
        Column -> action the training took (a bundle's ``info["privacy"]``).
    salt_env
        The environment variable holding the hashing salt (``info["privacy_salt_env"]``).
    env
        The environment to read the salt from (the caller's; library code reads no other).

    Examples
    --------
    >>> import pandas as pd
    >>> replay = privacy_replay({"email": "drop"}, "LOOPML_PII_SALT", env={})
    >>> list(replay(pd.DataFrame({"email": ["ann@example.com"], "x": [1]})).columns)
    ['x']
    >>> privacy_replay({"email": "keep"}, "LOOPML_PII_SALT", env={}) is None
    True
    """
    if not any(a in ("drop", "hash") for a in actions.values()):
        return None
    policy = PrivacyConfig.model_validate(
        {"pii": "keep", "columns": dict(actions), "salt_env": salt_env}
    )
    return PrivacyReplay(policy, env.get(salt_env))
