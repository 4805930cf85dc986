"""Calendar parts of epoch-nanosecond timestamps as ONNX nodes, in integer arithmetic.

The graph gets what :class:`~loopml.features.DatetimeExpander` derives with pandas: the civil
date comes from the day count by Howard Hinnant's ``civil_from_days`` (exact for every date
numpy can hold), the time of day from the remainder. Only the last step, to ``double``, is
floating point, and the cyclical parts use the same operations in the same order as pandas
(``2 * pi * value / period``), so results agree to the last bit or nearly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from loopml.serving._onnx_base import MISSING_STAMP
from loopml.serving._onnx_ops import const, node, to_double

_NS_PER_DAY = 86_400 * 10**9
_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_MINUTE = 60 * 10**9
_CYCLES = {
    "month_sin": ("month", 12, "Sin"),
    "month_cos": ("month", 12, "Cos"),
    "dayofweek_sin": ("dayofweek", 7, "Sin"),
    "dayofweek_cos": ("dayofweek", 7, "Cos"),
    "hour_sin": ("hour", 24, "Sin"),
    "hour_cos": ("hour", 24, "Cos"),
}


class _Ints:
    """int64 arithmetic on graph values; ``div`` truncates (operands are never negative
    where it is used), ``floordiv`` and ``mod`` follow Python."""

    def __init__(self, scope: Any, container: Any):
        self.scope, self.container = scope, container

    def _value(self, x: str | int) -> str:
        if isinstance(x, str):
            return x
        return const(self.scope, self.container, np.int64(x), "i")

    def op(self, kind: str, a: str | int, b: str | int) -> str:
        return node(self.scope, self.container, kind, [self._value(a), self._value(b)])

    def add(self, a: str | int, b: str | int) -> str:
        return self.op("Add", a, b)

    def sub(self, a: str | int, b: str | int) -> str:
        return self.op("Sub", a, b)

    def mul(self, a: str | int, b: str | int) -> str:
        return self.op("Mul", a, b)

    def div(self, a: str | int, b: str | int) -> str:
        return self.op("Div", a, b)

    def mod(self, a: str | int, b: str | int) -> str:
        return node(self.scope, self.container, "Mod", [self._value(a), self._value(b)], fmod=0)

    def floordiv(self, a: str | int, b: str | int) -> str:
        return self.div(self.sub(a, self.mod(a, b)), b)

    def where(self, condition: str, a: str | int, b: str | int) -> str:
        return node(
            self.scope, self.container, "Where", [condition, self._value(a), self._value(b)]
        )


def _civil(i: _Ints, days: str) -> tuple[str, str, str]:
    """Year, month and day of the day count since 1970-01-01 (``civil_from_days``)."""
    z = i.add(days, 719_468)
    era = i.floordiv(z, 146_097)
    doe = i.sub(z, i.mul(era, 146_097))
    yoe = i.div(
        i.sub(i.add(i.sub(doe, i.div(doe, 1_460)), i.div(doe, 36_524)), i.div(doe, 146_096)), 365
    )
    doy = i.sub(doe, i.sub(i.add(i.mul(yoe, 365), i.div(yoe, 4)), i.div(yoe, 100)))
    mp = i.div(i.add(i.mul(doy, 5), 2), 153)
    day = i.add(i.sub(doy, i.div(i.add(i.mul(mp, 153), 2), 5)), 1)
    early = node(i.scope, i.container, "Less", [mp, i._value(10)])
    month = i.add(mp, i.where(early, 3, -9))
    january_february = node(i.scope, i.container, "LessOrEqual", [month, i._value(2)])
    year = i.add(i.add(yoe, i.mul(era, 400)), i.where(january_february, 1, 0))
    return year, month, day


def _january_first(i: _Ints, year: str) -> str:
    """The day count of January 1st of ``year`` (``days_from_civil(year, 1, 1)``)."""
    y = i.sub(year, 1)
    era = i.floordiv(y, 400)
    yoe = i.sub(y, i.mul(era, 400))
    doe = i.add(i.sub(i.add(i.mul(yoe, 365), i.div(yoe, 4)), i.div(yoe, 100)), 306)
    return i.sub(i.add(i.mul(era, 146_097), doe), 719_468)


def datetime_parts(
    scope: Any, container: Any, x: str, parts: tuple[str, ...], reference: float
) -> list[str]:
    """One ``double [N, 1]`` value per part of the timestamps ``x``; NaN where ``x`` is NaT."""
    i = _Ints(scope, container)
    missing = node(scope, container, "Equal", [x, i._value(MISSING_STAMP)])
    safe = i.where(missing, 0, x)
    days = i.floordiv(safe, _NS_PER_DAY)
    of_day = i.sub(safe, i.mul(days, _NS_PER_DAY))
    cache: dict[str, str] = {}

    def calendar() -> tuple[str, str, str]:
        if "year" not in cache:
            cache["year"], cache["month"], cache["day"] = _civil(i, days)
        return cache["year"], cache["month"], cache["day"]

    def weekday() -> str:
        return i.mod(i.add(days, 3), 7)  # 1970-01-01 was a Thursday; Monday is 0

    integer: dict[str, Callable[[], str]] = {
        "year": lambda: calendar()[0],
        "month": lambda: calendar()[1],
        "day": lambda: calendar()[2],
        "quarter": lambda: i.add(i.div(i.sub(calendar()[1], 1), 3), 1),
        "dayofyear": lambda: i.add(i.sub(days, _january_first(i, calendar()[0])), 1),
        "dayofweek": weekday,
        "hour": lambda: i.div(of_day, _NS_PER_HOUR),
        "minute": lambda: i.div(i.mod(of_day, _NS_PER_HOUR), _NS_PER_MINUTE),
        "is_weekend": lambda: i.where(
            node(scope, container, "GreaterOrEqual", [weekday(), i._value(5)]), 1, 0
        ),
    }
    nan = const(scope, container, np.float64(np.nan), "nan")

    def as_double(value: str) -> str:
        return node(scope, container, "Where", [missing, nan, to_double(scope, container, value)])

    out = []
    for part in parts:
        if part == "elapsed_days":
            seconds = to_double(scope, container, i.floordiv(safe, 10**9))
            shifted = node(
                scope, container, "Sub", [seconds, const(scope, container, np.float64(reference))]
            )
            value = node(
                scope, container, "Div", [shifted, const(scope, container, np.float64(86400.0))]
            )
            out.append(node(scope, container, "Where", [missing, nan, value]))
        elif part in _CYCLES:
            base, period, function = _CYCLES[part]
            angle = node(
                scope,
                container,
                "Mul",
                [
                    to_double(scope, container, integer[base]()),
                    const(scope, container, np.float64(2 * np.pi)),
                ],
            )
            angle = node(
                scope, container, "Div", [angle, const(scope, container, np.float64(period))]
            )
            out.append(
                node(
                    scope,
                    container,
                    "Where",
                    [missing, nan, node(scope, container, function, [angle])],
                )
            )
        else:
            out.append(as_double(integer[part]()))
    return out
