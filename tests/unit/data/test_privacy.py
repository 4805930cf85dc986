"""loopml.data._privacy: personal data by content and header, and the drop/hash/keep policy."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest

from loopml.config import PrivacyConfig
from loopml.data import apply_privacy, detect_pii, pii_findings
from loopml.data._privacy import iban_valid, luhn_valid
from loopml.errors import ConfigError

# --------------------------------------------------------------------------------------------
# detection by content

EMAILS = ["ann@example.com", "bob.smith+news@mail.example.org", "c@d.co.uk", "x_y@host.io"]
PHONES = ["+44 20 7946 0958", "(555) 123-4567", "555-123-4567", "+1-202-555-0143"]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "340000000000009", "6011000000000004"]
IBANS = [
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
]
SSNS = ["123-45-6789", "234-56-7890", "345-67-8901", "456-78-9012"]
NINOS = ["AB123456C", "CE 12 34 56 D", "JG103759A", "HN654321B"]
IPS = ["192.168.0.1", "10.0.0.255", "2001:db8::1", "::1"]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (EMAILS, "email"),
        (PHONES, "phone"),
        (CARDS, "payment_card"),
        (IBANS, "iban"),
        (SSNS, "national_id"),
        (NINOS, "national_id"),
        (IPS, "ip_address"),
    ],
)
def test_each_kind_is_detected_by_content_under_a_neutral_header(
    values: list[str], kind: str
) -> None:
    frame = pd.DataFrame({"field_a": values, "amount": [1.0, 2.0, 3.0, 4.0]})
    assert detect_pii(frame) == {"field_a": kind}


def test_card_numbers_stored_as_integers_are_found() -> None:
    frame = pd.DataFrame({"c": [4111111111111111, 5500000000000004, 4012888888881881]})
    assert detect_pii(frame) == {"c": "payment_card"}


def test_most_values_must_match() -> None:
    # 3 of 5 e-mail addresses is not "most" (the share needed is 0.8)
    frame = pd.DataFrame({"mixed": [*EMAILS[:3], "n/a", "unknown"]})
    assert detect_pii(frame) == {}
    # 4 of 5 is; missing values do not count
    frame = pd.DataFrame({"mixed": [*EMAILS, "n/a", None, None]})
    assert detect_pii(frame) == {"mixed": "email"}


@pytest.mark.parametrize(
    "values",
    [
        # 16 digits with separators, failing the Luhn check
        ["4111 1111 1111 1112", "1234 5678 9012 3456", "1111-2222-3333-4445", "9999888877776667"],
        # order ids: plain digit strings are neither phone nor card numbers
        ["12345678", "23456789", "34567890", "45678901"],
        ["ORD-2024-000123", "ORD-2024-000124", "ORD-2024-000125", "ORD-2024-000126"],
        # dates, decimals and version numbers look like phones or IPs only at a glance
        ["2024-01-15", "2023-12-01", "2024-02-29", "2022-07-04"],
        ["12.5", "13.25", "1234.5678", "99"],
        ["1.2.3", "1.2.4", "2.0.0", "10.1.1"],
        # IBAN-shaped text with wrong check digits
        ["GB00 WEST 1234 5698 7654 32", "DE00370400440532013000", "XX123", "NL00ABNA0417164300"],
        # ssn-shaped but never issued (area 000 / 666 / 9xx)
        ["000-12-3456", "666-12-3456", "912-34-5678", "999-99-9999"],
        ["red", "green", "blue", "red"],
    ],
)
def test_look_alikes_are_not_detected(values: list[str]) -> None:
    assert detect_pii(pd.DataFrame({"field": values})) == {}


def test_luhn_and_iban_checks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_valid("GB83 WEST 1234 5698 7654 32")
    assert not iban_valid("not an iban")


def test_content_wins_over_the_header() -> None:
    frame = pd.DataFrame({"email": PHONES})
    assert detect_pii(frame) == {"email": "phone"}


def test_sample_limits_the_values_checked() -> None:
    values = ["ann@example.com"] * 5000 + ["plain text"] * 5000
    frame = pd.DataFrame({"v": values})
    assert detect_pii(frame, sample=100) == {}  # about half match in any sample


# --------------------------------------------------------------------------------------------
# detection by header


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("first_name", "name"),
        ("last_name", "name"),
        ("LastName", "name"),
        ("full name", "name"),
        ("surname", "name"),
        ("name", "name"),
        ("customer_name", "name"),
        ("address", "address"),
        ("street", "address"),
        ("Street Address", "address"),
        ("addr_line1", "address"),
        ("address_line_2", "address"),
        ("billing_address", "address"),
        ("email", "email"),
        ("work_email", "email"),
        ("e-mail", "email"),
        ("phone", "phone"),
        ("mobile_number", "phone"),
        ("ip", "ip_address"),
        ("client_ip_address", "ip_address"),
        ("ssn", "national_id"),
    ],
)
def test_personal_headers(header: str, kind: str) -> None:
    frame = pd.DataFrame({header: ["a", "b", "c"]})
    assert detect_pii(frame) == {header: kind}


@pytest.mark.parametrize(
    "header",
    [
        "product_name",
        "plan_name",
        "company_name",
        "file_name",
        "email_opt_in",
        "email_domain",
        "ip_country",
        "address_verified",
        "phone_type",
        "order_id",
        "amount",
    ],
)
def test_non_personal_headers(header: str) -> None:
    frame = pd.DataFrame({header: ["a", "b", "c"]})
    assert detect_pii(frame) == {}


def test_boolean_columns_are_never_personal() -> None:
    frame = pd.DataFrame({"email": [True, False, True]})
    assert detect_pii(frame) == {}


# --------------------------------------------------------------------------------------------
# policy


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "email": ["ann@example.com", None, "bob@example.org", "ann@example.com"],
            "phone": PHONES,
            "x": [1.0, 2.0, 3.0, 4.0],
        }
    )


PII = {"email": "email", "phone": "phone"}


def test_drop_is_the_default(people: pd.DataFrame) -> None:
    out, actions = apply_privacy(people, PII, PrivacyConfig(), salt=None)
    assert list(out.columns) == ["x"]
    assert actions == {"email": "drop", "phone": "drop"}
    assert list(people.columns) == ["email", "phone", "x"]  # the input is not modified


def test_keep_leaves_the_values(people: pd.DataFrame) -> None:
    out, actions = apply_privacy(people, PII, PrivacyConfig(pii="keep"), salt=None)
    pd.testing.assert_frame_equal(out, people)
    assert actions == {"email": "keep", "phone": "keep"}


def test_hash_is_a_truncated_hmac_and_missing_stays_missing(people: pd.DataFrame) -> None:
    out, actions = apply_privacy(people, PII, PrivacyConfig(pii="hash"), salt="pepper")
    assert actions == {"email": "hash", "phone": "hash"}
    expected = hmac.new(b"pepper", b"ann@example.com", hashlib.sha256).hexdigest()[:16]
    assert out["email"].iloc[0] == expected
    assert out["email"].iloc[3] == expected  # deterministic: equal values, equal digests
    assert pd.isna(out["email"].iloc[1])
    assert out["email"].str.fullmatch(r"[0-9a-f]{16}").sum() == 3
    pd.testing.assert_series_equal(out["x"], people["x"])


def test_hash_never_holds_a_raw_value(people: pd.DataFrame) -> None:
    out, _ = apply_privacy(people, PII, PrivacyConfig(pii="hash"), salt="pepper")
    text = out.to_csv(index=False)
    for raw in [*EMAILS, *PHONES, "ann", "example"]:
        assert raw not in text


def test_hash_depends_on_the_salt(people: pd.DataFrame) -> None:
    policy = PrivacyConfig(pii="hash")
    one, _ = apply_privacy(people, PII, policy, salt="one")
    again, _ = apply_privacy(people, PII, policy, salt="one")
    other, _ = apply_privacy(people, PII, policy, salt="two")
    pd.testing.assert_frame_equal(one, again)
    assert (one["phone"] != other["phone"]).all()


def test_hash_treats_integral_floats_like_integers() -> None:
    policy = PrivacyConfig(pii="hash")
    ints, _ = apply_privacy(pd.DataFrame({"p": [5551234567]}), {"p": "phone"}, policy, salt="s")
    floats, _ = apply_privacy(
        pd.DataFrame({"p": [5551234567.0, np.nan]}), {"p": "phone"}, policy, salt="s"
    )
    assert ints["p"].iloc[0] == floats["p"].iloc[0]
    assert pd.isna(floats["p"].iloc[1])


def test_per_column_overrides_win(people: pd.DataFrame) -> None:
    policy = PrivacyConfig(pii="hash", columns={"phone": "drop", "email": "keep"})
    out, actions = apply_privacy(people, PII, policy, salt=None)  # nothing hashed: no salt needed
    assert actions == {"email": "keep", "phone": "drop"}
    assert list(out.columns) == ["email", "x"]


def test_columns_absent_from_the_frame_are_skipped(people: pd.DataFrame) -> None:
    out, actions = apply_privacy(people, {"ssn": "national_id"}, PrivacyConfig(), salt=None)
    assert actions == {}
    pd.testing.assert_frame_equal(out, people)


def test_hash_without_a_salt_names_the_environment_variable(people: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"set the environment variable LOOPML_PII_SALT"):
        apply_privacy(people, PII, PrivacyConfig(pii="hash"), salt=None)
    policy = PrivacyConfig(pii="drop", columns={"email": "hash"}, salt_env="MY_SALT")
    with pytest.raises(ConfigError, match=r"privacy.columns says 'hash'.*'email'.*MY_SALT"):
        apply_privacy(people, PII, policy, salt="")


# --------------------------------------------------------------------------------------------
# findings


def test_pii_findings_say_what_was_done() -> None:
    actions = {"email": "drop", "phone": "hash", "ip": "keep"}
    pii = {"email": "email", "phone": "phone", "ip": "ip_address", "other": "iban"}
    findings = pii_findings(pii, actions)
    assert [(f.id, f.column, f.severity) for f in findings] == [
        ("pii-column", "email", "warning"),
        ("pii-column", "phone", "info"),
        ("pii-column", "ip", "warning"),
    ]
    assert findings[0].message == "column email holds e-mail addresses: dropped (privacy.pii: drop)"
    assert findings[1].message == (
        "column phone holds phone numbers: hashed with the salt (privacy.pii: hash)"
    )
    assert "set privacy.pii: drop or hash" in findings[2].suggestion


def test_pii_findings_name_the_override_key() -> None:
    policy = PrivacyConfig(columns={"email": "keep"})
    (finding,) = pii_findings({"email": "email"}, {"email": "keep"}, policy)
    assert finding.message == "column email holds e-mail addresses: kept as it is " + (
        "(privacy.columns.email: keep)"
    )


def test_unknown_kinds_read_as_personal_data() -> None:
    (finding,) = pii_findings({"notes": "declared"}, {"notes": "drop"})
    assert finding.message == "column notes holds personal data: dropped (privacy.pii: drop)"
