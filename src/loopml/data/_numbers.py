"""Numbers written as text: '4,0288', '1.234,5', '$20,000', '1 234,5'.

:class:`NumberFormat` is a decimal mark and a thousands separator; it reads text numbers
strictly, so a value that is not a number in the format is missing rather than misread.
:func:`classify` tells what one value says about the format, for sniffing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Currency signs stripped from numbers written as text.
CURRENCY = "$€£¥₹₽₩₺₪฿"
THOUSANDS_MARKS = (",", ".", " ", "'")
_SPACES = " \u00a0\u202f"
_MARKS = ".,'" + _SPACES
_NUMBERISH = re.compile(
    rf"^[-+]?\s*(?P<c1>[{CURRENCY}]\s*)?[-+]?"
    rf"(?P<body>[\d{re.escape(_MARKS)}]*\d[\d{re.escape(_MARKS)}]*)"
    rf"(?P<exp>[eE][-+]?\d+)?(?P<c2>\s*[{CURRENCY}])?$"
)
_SIMPLE = re.compile(r"[-+]?(\d*)(?:([.,])(\d*))?")
_NOT_DIGIT = re.compile(r"\D")


@dataclass(frozen=True)
class NumberFormat:
    """How numbers are written as text: the decimal mark and the thousands separator.

    ``thousands`` is ``""`` for none; a space also accepts the no-break spaces that French
    exports use. Grouping is checked strictly (``1,234,567``), so a value that is not a
    number in this format is missing rather than misread.

    Examples
    --------
    >>> NumberFormat(",", ".").parse(pd.Series(["4,0288", "1.234,5", "€ 12", "n/a"])).tolist()
    [4.0288, 1234.5, 12.0, nan]
    """

    decimal: str = "."
    thousands: str = ","

    def __post_init__(self) -> None:
        if self.decimal not in (".", ","):
            raise ValueError(f"decimal must be '.' or ',', got {self.decimal!r}")
        if self.thousands not in ("", *THOUSANDS_MARKS):
            raise ValueError(
                f"thousands must be one of {', '.join(map(repr, THOUSANDS_MARKS))} or empty, "
                f"got {self.thousands!r}"
            )
        if self.thousands == self.decimal:
            raise ValueError(f"decimal and thousands are both {self.decimal!r}")

    @classmethod
    def natural(cls, decimal: str) -> NumberFormat:
        """The format of a decimal mark with the usual thousands separator (the other mark).

        Examples
        --------
        >>> NumberFormat.natural(",")
        NumberFormat(decimal=',', thousands='.')
        """
        return cls(decimal, "." if decimal == "," else ",")

    @property
    def is_default(self) -> bool:
        return self == NumberFormat()

    def pattern(self) -> re.Pattern[str]:
        d = re.escape(self.decimal)
        t = f"[{_SPACES}]" if self.thousands == " " else re.escape(self.thousands)
        integer = rf"(?:[1-9]\d{{0,2}}(?:{t}\d{{3}})+|\d+)" if self.thousands else r"\d+"
        number = rf"(?:{integer}(?:{d}\d*)?|{d}\d+)(?:[eE][-+]?\d+)?"
        currency = rf"[{CURRENCY}]"
        return re.compile(rf"[-+]?\s*(?:{currency}\s*)?[-+]?{number}(?:\s*{currency})?")

    def parse(self, text: pd.Series) -> pd.Series:
        """Floats from text in this format; anything else (and missing) becomes NaN."""
        text = text.astype("string").str.strip()
        out = pd.Series(np.nan, index=text.index, dtype=float)
        todo = text.notna() & (text != "")
        if self.decimal == ".":  # most values are plain numbers: let pandas read those first
            plain = pd.to_numeric(text.where(todo), errors="coerce").astype(float)
            out = plain
            todo &= plain.isna()
        if not todo.any():
            return out
        rest = text[todo]
        rest = rest.where(rest.str.fullmatch(self.pattern()).fillna(False).astype(bool))
        rest = rest.str.replace(rf"[\s{CURRENCY}]", "", regex=True)
        if self.thousands and self.thousands != " ":
            rest = rest.str.replace(self.thousands, "", regex=False)
        if self.decimal == ",":
            rest = rest.str.replace(",", ".", regex=False)
        out[todo] = pd.to_numeric(rest, errors="coerce").astype(float)
        return out

    def to_numbers(self, values: pd.Series) -> pd.Series:
        """Floats from any column: numbers stay numbers, text is read in this format.

        Examples
        --------
        >>> NumberFormat().to_numbers(pd.Series([1, "2,500", "n/a"], dtype=object)).tolist()
        [1.0, 2500.0, nan]
        """
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            return values.astype(float)
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind in ("string", "empty"):
            return self.parse(values)
        # a mix of numbers and text (a column read by this module): only text is parsed
        is_text = values.map(lambda v: isinstance(v, str)).astype(bool)
        out = pd.to_numeric(values.where(~is_text), errors="coerce").astype(float)
        if is_text.any():
            out[is_text] = self.parse(values[is_text])
        return out


def read_number_text(frame: pd.DataFrame, numbers: NumberFormat) -> pd.DataFrame:
    """``frame`` with its text columns of numbers read in ``numbers``' format.

    A column whose values all read as numbers becomes a numeric column, as pandas makes one
    of plain numbers; one where most do keeps its other values as text next to the numbers
    (so quality checks still see them). Missing and blank cells stay as they were.

    Examples
    --------
    >>> frame = pd.DataFrame({"price": ["4,5", "1.234,5"], "name": ["a", "b"]})
    >>> read_number_text(frame, NumberFormat(",", ".")).to_dict("list")
    {'price': [4.5, 1234.5], 'name': ['a', 'b']}
    """
    out: pd.DataFrame | None = None
    for name in frame.columns:
        values = frame[name]
        if isinstance(values, pd.DataFrame) or not _is_text(values):
            continue
        probe = _present(values.dropna().iloc[:2000])
        if probe.empty or numbers.parse(probe).notna().mean() < 0.5:
            continue
        present = _present(values.dropna())
        parsed = numbers.parse(present)
        if parsed.notna().all():
            column = pd.Series(np.nan, index=values.index, dtype=float)
            column[parsed.index] = parsed
            integral = not column.isna().any() and bool(np.all(np.mod(column, 1) == 0))
            new: pd.Series = column.astype("int64") if integral else column
        else:
            new = values.astype(object).copy()
            hits = parsed.dropna()
            new[hits.index] = hits.to_numpy(dtype=object)
        if out is None:
            out = frame.copy(deep=False)
        out[name] = new
    return frame if out is None else out


def _present(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text[text != ""]


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(values) or pd.api.types.is_object_dtype(values)


def classify(value: str) -> tuple[str, str, str] | None:
    """How one value reads as a number: ("int", "", ""), ("decimal", mark, thousands) when
    it decides the decimal mark, ("ambiguous", mark, "") when it reads two ways (``1,234``),
    or None when it is not a number.

    Examples
    --------
    >>> [classify(v) for v in ("12", "4,0288", "1,234", "1.234.567", "abc")]
    [('int', '', ''), ('decimal', ',', ''), ('ambiguous', ',', ''), ('decimal', ',', '.'), None]
    """
    simple = _SIMPLE.fullmatch(value)  # most values: 12, -3.25, 4,0288
    if simple is not None:
        return _classify_simple(*simple.groups(default=""))
    match = _NUMBERISH.match(value)
    if match is None:
        return None
    body = match["body"].strip(_SPACES)
    for space in _SPACES[1:]:
        body = body.replace(space, " ")
    marks = [c for c in body if not c.isdigit()]
    if not marks:
        return ("int", "", "")
    kinds = list(dict.fromkeys(marks))
    if len(kinds) == 1:
        return _classify_one_mark(body, marks, has_exponent=bool(match["exp"]))
    if len(kinds) == 2 and kinds[1] in ".," and marks.count(kinds[1]) == 1:
        if body.rfind(kinds[0]) > body.index(kinds[1]):
            return None  # a thousands separator after the decimal mark
        whole_groups = _NOT_DIGIT.split(body[: body.index(kinds[1])])
        if _grouped(whole_groups):
            return ("decimal", kinds[1], kinds[0])
    return None


def _classify_simple(whole: str, mark: str, fraction: str) -> tuple[str, str, str] | None:
    """:func:`classify` for digits with at most one '.' or ',' and nothing else."""
    if not whole and not fraction:
        return None
    if not mark:
        return ("int", "", "")
    if len(fraction) == 3 and _grouped([whole, fraction]):
        return ("ambiguous", mark, "")
    return ("decimal", mark, "")


def _classify_one_mark(
    body: str, marks: list[str], *, has_exponent: bool
) -> tuple[str, str, str] | None:
    """:func:`classify` for a number written with one kind of mark (once or repeated)."""
    groups = _NOT_DIGIT.split(body)
    mark = marks[0]
    if len(marks) == 1 and mark in ".,":
        whole, fraction = groups
        grouping = _grouped(groups) and not has_exponent
        if grouping and whole:
            return ("ambiguous", mark, "")
        return ("decimal", mark, "") if whole or fraction else None
    if not _grouped(groups):
        return None
    other = {",": ".", ".": ","}.get(mark, "")  # 1.234.567: the decimal mark is ','
    return ("decimal", other, mark) if other else ("int", "", mark)


def _grouped(groups: list[str]) -> bool:
    """Whether digit groups form a thousands-grouped integer: 1-3 digits, then threes."""
    first, rest = groups[0], groups[1:]
    return 1 <= len(first) <= 3 and first[0] != "0" and all(len(g) == 3 for g in rest)
