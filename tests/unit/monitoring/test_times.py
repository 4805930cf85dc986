"""--since and --until (loopml.monitoring._windows.parse_time)."""

from __future__ import annotations

import pytest

from loopml.errors import ConfigError
from loopml.monitoring._windows import parse_time

NOW = 1_780_000_000.0


def test_durations_count_back_from_now_and_dates_are_utc() -> None:
    assert parse_time("7d", now=NOW) == NOW - 7 * 86_400
    assert parse_time("36h", now=NOW) == NOW - 36 * 3600
    assert parse_time("1970-01-02", now=NOW) == 86_400.0
    assert parse_time("1970-01-01T02:00+01:00", now=NOW) == 3600.0


def test_anything_else_names_both_forms() -> None:
    with pytest.raises(ConfigError, match=r"ISO 8601 date.*duration before now"):
        parse_time("last tuesday", now=NOW)
