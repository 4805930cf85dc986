"""CSV dialects: the separator, decimal mark and thousands separator of a file.

A file written with ``;`` separators and decimal commas (``4,0288``) must not become 40288,
and ``$20,000`` or ``1.234,5`` must become numbers. :func:`sniff_dialect` decides the
separator from the first lines (the candidate that splits the header and the rows into the
same number of fields) and the decimal mark from the values of the columns that hold numbers
written as text, unless the options declare them. Every CSV reader of loopml (sources,
``evaluate --data``, batch scoring, ``init``) reads through the resulting :class:`CsvDialect`,
so they agree; :class:`NumberFormat` then reads the text numbers, here and in the fitted
pipeline.

A value such as ``1,234`` reads two ways (1.234 or 1234). When nothing in the file decides, a
comma-separated file keeps ``.`` as its decimal mark (a decimal comma would clash with the
separator); any other file stops with an error naming the column, examples and the option to
set, rather than guessing.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import itertools
import lzma
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.data._numbers import NumberFormat, classify, read_number_text
from loopml.errors import DataError

#: Separators tried when the options do not name one, in order of preference.
SEPARATORS = (",", ";", "\t", "|")
#: Options loopml handles itself; every other option goes to :func:`pandas.read_csv`.
NUMBER_OPTIONS = ("decimal", "thousands")
#: Options that say how values are written (not which rows to read): a model's scoring input
#: is read with the ones declared for its training data.
VALUE_OPTIONS = (
    "sep",
    "delimiter",
    "decimal",
    "thousands",
    "encoding",
    "quotechar",
    "escapechar",
    "na_values",
    "keep_default_na",
    "true_values",
    "false_values",
    "skipinitialspace",
)
#: Rows whose values are looked at for the number format, and for the separator.
SAMPLE_ROWS = 2000
SEPARATOR_ROWS = 200
SAMPLE_BYTES = 1 << 18
#: Distinct values of a column looked at, the most frequent first.
MAX_VALUES = 100
#: Share of a column's sampled values that must be numbers for the column to count (its
#: other values are placeholders such as '?' or 'n/a', kept as text).
NUMERIC_SHARE = 0.5


# --------------------------------------------------------------------------------------------
# the dialect of one file


@dataclass(frozen=True)
class CsvDialect:
    """How one CSV file is written, and the other reader options that apply to it.

    Parameters
    ----------
    sep
        The field separator.
    numbers
        Decimal mark and thousands separator of the numbers written as text.
    options
        Further :func:`pandas.read_csv` options (encoding, quotechar, na_values, ...).
    sniffed
        Which of ``sep``, ``decimal``, ``thousands`` were read from the file rather than
        declared; a sniffed option not listed was left at its default.

    Examples
    --------
    >>> dialect = CsvDialect(sep=";", numbers=NumberFormat.natural(","))
    >>> dialect.pandas_options()
    {'sep': ';', 'decimal': ','}
    >>> dialect.declared()
    {'sep': ';', 'decimal': ',', 'thousands': '.'}
    """

    sep: str = ","
    numbers: NumberFormat = field(default_factory=NumberFormat)
    options: Mapping[str, Any] = field(default_factory=dict)
    sniffed: tuple[str, ...] = ()

    def pandas_options(self) -> dict[str, Any]:
        """Options for :func:`pandas.read_csv`; pandas reads plain numbers with the decimal
        mark (it is strict about it), loopml reads the rest (its thousands handling is not)."""
        return {**self.options, "sep": self.sep, "decimal": self.numbers.decimal}

    def declared(self) -> dict[str, str]:
        """``sep``, ``decimal`` and ``thousands`` as options for ``loopml.yaml``."""
        return {
            "sep": self.sep,
            "decimal": self.numbers.decimal,
            "thousands": self.numbers.thousands,
        }

    def read(self, path: Path, **extra: Any) -> pd.DataFrame:
        """The file as a frame (library errors are the caller's to translate)."""
        frame = pd.read_csv(path, **{**self.pandas_options(), **extra})
        return self.numbers_of(frame)

    def chunks(self, path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The file in chunks of ``chunk_rows`` rows, each read like :meth:`read`."""
        with pd.read_csv(path, chunksize=chunk_rows, **self.pandas_options()) as reader:
            for chunk in reader:
                yield self.numbers_of(chunk)

    def numbers_of(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with its numbers written as text read in this dialect's format. In the
        default format they are left as text, which :func:`loopml.data.to_numeric` reads the
        same way wherever it is needed."""
        return frame if self.numbers.is_default else read_number_text(frame, self.numbers)

    def header(self, path: Path) -> list[str]:
        return [str(c) for c in pd.read_csv(path, nrows=0, **self.pandas_options()).columns]


def how_to_set(where: str, name: str, value: str, also: str = "") -> str:
    """How the user declares reader option ``name``: a flag of ``init`` or a config key.

    Examples
    --------
    >>> how_to_set("data.source", "decimal", ",")
    "set data.source.decimal to ','"
    >>> how_to_set("init", "sep", ";")
    "run `loopml init` again with --sep ';'"
    """
    if where == "init":
        return f"run `loopml init` again with --{name} '{value}'{also}"
    return f"set {where}.{name} to '{value}'{also}"


def _either(where: str, name: str, first: tuple[str, str], second: tuple[str, str]) -> str:
    """ "Set X to 'a' if ..., or to 'b' if ..." for a config key or the ``init`` flags."""
    (a, if_a), (b, if_b) = first, second
    if where == "init":
        return f"Run `loopml init` again with --{name} '{a}'{if_a}, or with --{name} '{b}'{if_b}."
    return f"Set {where}.{name} to '{a}'{if_a}, or to '{b}'{if_b}."


def check_columns(columns: list[str], dialect: CsvDialect, path: Path, where: str) -> None:
    """Refuse a file read as one column when another separator splits its header and rows
    alike: its separator is not ``dialect.sep``, and the message says which one to declare."""
    if len(columns) != 1:
        return
    name = columns[0]
    candidates = [s for s in SEPARATORS if s != dialect.sep and s in name]
    if not candidates:
        return
    text = _sample_text(path, str(dialect.options.get("encoding") or "utf-8"))
    quotechar = str(dialect.options.get("quotechar") or '"')
    for sep in candidates:
        if _agreement(text, sep, quotechar)[0] >= 0.9:
            shown = "\\t" if sep == "\t" else sep
            also = ""
            if sep != "," and "decimal" not in dialect.sniffed:
                also = " (and decimal to ',' if its numbers are written like 4,5)"
                if where == "init":
                    also = " (and --decimal ',' if its numbers are written like 4,5)"
            raise DataError(
                f"{path} was read as a single column named {_clip(name)!r}, which holds "
                f"{shown!r}: the file is separated by {shown!r}, not {dialect.sep!r}. "
                f"To read it, {how_to_set(where, 'sep', shown, also)}."
            )


def sniff_dialect(
    path: Path,
    options: Mapping[str, Any] | None = None,
    *,
    fallback: CsvDialect | None = None,
    where: str = "data.source.options",
) -> CsvDialect:
    """The dialect of the CSV file at ``path``: declared options first, then what the file says.

    Parameters
    ----------
    path
        A CSV file (optionally gzip, bz2 or xz compressed).
    options
        Reader options as declared (``data.source.options``, ``scoring.options``); ``sep``
        (or ``delimiter``), ``decimal`` and ``thousands`` given here are used as they are.
    fallback
        The dialect to assume where the file does not decide, e.g. the training data's when
        scoring: its separator when no separator splits the file, its number format when the
        values read two ways. Without it, such values are an error (see below).
    where
        Where the options live, for messages: a config key such as ``data.source.options``,
        or ``init`` for the command's flags.

    Returns
    -------
    CsvDialect

    Raises
    ------
    DataError
        When a column's numbers read two ways and nothing decides (``1,234`` in a
        ``;``-separated file), or when columns disagree on the decimal mark. The message
        names the columns, shows values and says which option to set.
    """
    options = dict(options or {})
    declared_sep = options.pop("sep", options.pop("delimiter", None))
    declared_decimal = options.pop("decimal", None)
    has_thousands = "thousands" in options
    declared_thousands = options.pop("thousands", None)
    if declared_decimal is None and declared_thousands in (",", "."):
        declared_decimal = "." if declared_thousands == "," else ","  # the other mark
    sniffed: list[str] = []
    sep = declared_sep
    if sep is None:
        sep = _sniff_separator(path, options)
        if sep is not None:
            sniffed.append("sep")
        else:
            sep = fallback.sep if fallback is not None else ","
    if declared_decimal is not None and (has_thousands or declared_thousands is not None):
        numbers = NumberFormat(declared_decimal, declared_thousands or "")
        return CsvDialect(sep, numbers, options, tuple(sniffed))
    columns = _sample_columns(path, sep, options)
    decimal, decided = _decide_decimal(columns, declared_decimal, sep, fallback, path, where)
    if decided:
        sniffed.append("decimal")
    if has_thousands:
        thousands = declared_thousands or ""
    else:
        seen = Counter(
            mark for col in columns for mark, n in col.thousands.items() if mark != decimal
        )
        if seen:
            thousands = seen.most_common(1)[0][0]
            sniffed.append("thousands")
        elif fallback is not None and fallback.numbers.decimal == decimal:
            thousands = fallback.numbers.thousands
        else:
            thousands = NumberFormat.natural(decimal).thousands
    return CsvDialect(sep, NumberFormat(decimal, thousands), options, tuple(sniffed))


def model_input_dialect(
    path: Path,
    *,
    training_source: Mapping[str, Any],
    trained: Mapping[str, str] | None,
    options: Mapping[str, Any],
    where: str = "scoring.options",
) -> CsvDialect:
    """How to read a CSV file a model scores or is evaluated on: as its training data was read.

    Parameters
    ----------
    path
        The file to read.
    training_source
        ``data.source`` of the model's config snapshot: the options declared there that say
        how values are written (:data:`VALUE_OPTIONS`) apply, e.g. ``sep`` and ``decimal``.
    trained
        The training file's dialect as recorded with the model (``sep``, ``decimal``,
        ``thousands``), declared or sniffed: assumed where this file does not decide.
    options
        ``scoring.options``: they win over both.
    """
    declared: dict[str, Any] = {}
    if training_source.get("type") == "csv":
        source_options = training_source.get("options") or {}
        declared = {k: v for k, v in source_options.items() if k in VALUE_OPTIONS}
    declared.update(options)
    fallback = None
    if trained:
        numbers = NumberFormat(trained["decimal"], trained["thousands"])
        fallback = CsvDialect(sep=trained["sep"], numbers=numbers)
    return sniff_dialect(path, declared, fallback=fallback, where=where)


# --------------------------------------------------------------------------------------------
# sniffing the separator


def _sample_text(path: Path, encoding: str) -> str:
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
        path.suffix.lower(), open
    )
    try:
        with opener(path, "rb") as handle:
            raw = handle.read(SAMPLE_BYTES + 1)
    except (OSError, EOFError, lzma.LZMAError):
        return ""
    truncated = len(raw) > SAMPLE_BYTES
    try:
        text = raw[:SAMPLE_BYTES].decode(encoding, errors="replace")
    except LookupError:
        text = raw[:SAMPLE_BYTES].decode("utf-8", errors="replace")
    if truncated and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the cut-off last line
    return text.lstrip("\ufeff")


def _sniff_separator(path: Path, options: Mapping[str, Any]) -> str | None:
    """The separator that splits the header and (nearly) every sampled row alike."""
    text = _sample_text(path, str(options.get("encoding") or "utf-8"))
    if not text.strip():
        return None
    quotechar = str(options.get("quotechar") or '"')
    best: tuple[float, int, int] | None = None
    chosen = None
    for rank, sep in enumerate(SEPARATORS):
        agree, width = _agreement(text, sep, quotechar)
        if agree < 0.9:
            continue
        key = (agree, width, -rank)
        if best is None or key > best:
            best, chosen = key, sep
    return chosen


def _agreement(text: str, sep: str, quotechar: str) -> tuple[float, int]:
    """The share of rows ``sep`` splits into as many fields as the header (two or more), and
    that number; (0, 0) when it does not split the header."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, quotechar=quotechar)
    try:
        rows = [r for r in itertools.islice(reader, SEPARATOR_ROWS) if any(c.strip() for c in r)]
    except csv.Error:
        return 0.0, 0
    if not rows or len(rows[0]) < 2:
        return 0.0, 0
    width = len(rows[0])
    return sum(len(r) == width for r in rows) / len(rows), width


# --------------------------------------------------------------------------------------------
# sniffing the number format


@dataclass
class _Column:
    """What a column's sampled values say about the number format."""

    name: str
    votes: Counter[str] = field(default_factory=Counter)  # decimal mark -> rows deciding it
    thousands: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[str] = field(default_factory=Counter)  # mark -> rows reading two ways
    examples: dict[str, list[str]] = field(default_factory=dict)  # evidence -> values

    @property
    def decimal(self) -> str | None:
        return self.votes.most_common(1)[0][0] if self.votes else None

    def note(self, key: str, value: str) -> None:
        shown = self.examples.setdefault(key, [])
        if len(shown) < 3 and value not in shown:
            shown.append(value)


def _sample_columns(path: Path, sep: str, options: Mapping[str, Any]) -> list[_Column]:
    """The columns of the file's first rows that hold numbers written as text."""
    safe = {
        k: v
        for k, v in options.items()
        if k not in ("dtype", "converters", "nrows", "chunksize", "iterator", "parse_dates")
    }
    try:
        sample = pd.read_csv(path, sep=sep, dtype=object, nrows=SAMPLE_ROWS, **safe)
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        return []  # the real read reports what is wrong with the file
    columns = []
    for i, name in enumerate(sample.columns):
        # plain Python strings: a few thousand values are counted faster than pandas does
        text = (str(v).strip() for v in sample.iloc[:, i].tolist() if isinstance(v, str))
        counts = Counter(v for v in text if v).most_common(MAX_VALUES)
        if not counts:
            continue
        col = _Column(str(name))
        numbers = 0
        for value, n in counts:
            kind = classify(value)
            if kind is None:
                continue
            numbers += n
            what, mark, thousands = kind
            if what == "decimal":
                col.votes[mark] += n
                col.note(f"decimal{mark}", value)
            elif what == "ambiguous":
                col.ambiguous[mark] += n
                col.note(f"ambiguous{mark}", value)
            if thousands:
                col.thousands[thousands] += n
        if numbers >= NUMERIC_SHARE * sum(n for _, n in counts):
            columns.append(col)
    return columns


def _decide_decimal(
    columns: list[_Column],
    declared: str | None,
    sep: str,
    fallback: CsvDialect | None,
    path: Path,
    where: str,
) -> tuple[str, bool]:
    """The file's decimal mark, and whether the file's values decided it."""
    if declared is not None:
        return declared, False
    by_mark: dict[str, list[_Column]] = {}
    for col in columns:
        if col.decimal is not None:
            by_mark.setdefault(col.decimal, []).append(col)
    if len(by_mark) == 2:
        raise DataError(_disagreement(by_mark, path, where))
    if by_mark:
        return next(iter(by_mark)), True
    unsure = [c for c in columns if c.ambiguous]
    if not unsure:
        return (fallback.numbers.decimal if fallback is not None else "."), False
    if fallback is not None:
        return fallback.numbers.decimal, False
    if sep == ",":  # a decimal comma would clash with the separator
        return ".", False
    raise DataError(_ambiguity(unsure, path, where))


def _ambiguity(columns: list[_Column], path: Path, where: str) -> str:
    parts = []
    marks = set()
    for col in columns[:3]:
        mark = col.ambiguous.most_common(1)[0][0]
        marks.add(mark)
        shown = ", ".join(repr(v) for v in col.examples.get(f"ambiguous{mark}", []))
        parts.append(f"{col.name!r} ({shown})")
    more = f" and {len(columns) - 3} more" if len(columns) > 3 else ""
    mark = sorted(marks)[0]
    other = "." if mark == "," else ","
    return (
        f"{path}: column{'s' if len(columns) > 1 else ''} {', '.join(parts)}{more} hold"
        f"{'' if len(columns) > 1 else 's'} numbers written as text that read two ways: with "
        f"{mark!r} as the decimal mark (1{mark}234 is 1.234) or as a thousands separator "
        f"(1{mark}234 is 1234), and nothing else in the file decides. "
        + _either(
            where,
            "decimal",
            (mark, f" if {mark!r} is the decimal mark"),
            (other, f" if {mark!r} separates thousands"),
        )
    )


def _disagreement(by_mark: dict[str, list[_Column]], path: Path, where: str) -> str:
    sides = []
    for mark in (",", "."):
        cols = by_mark[mark]
        shown = "; ".join(
            f"{c.name!r} (e.g. {', '.join(repr(v) for v in c.examples.get('decimal' + mark, []))})"
            for c in cols[:3]
        )
        sides.append(f"{shown} use{'s' if len(cols) == 1 else ''} {mark!r}")
    return (
        f"{path}: columns disagree on the decimal mark: {sides[0]}, but {sides[1]}. "
        + _either(where, "decimal", (",", ""), (".", ""))
        + " Numbers written the other way are then read as text."
    )


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
