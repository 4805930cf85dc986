"""Reading a request's instances into typed columns, by the roles of the model's schema.

:class:`RecordReader` is prepared once per loaded model (column order, roles, the training
number format, the known categories and ranges); :meth:`RecordReader.read` then turns JSON
instances into the :data:`~loopml.serving._contract.RowBatch` every runtime predicts from,
with a plain loop over instances and columns into numpy arrays (no pandas on this path).

Values are read exactly as the pipeline's ``FrameCoercer`` reads them (see
:func:`loopml.data.to_numeric`, :func:`~loopml.data.to_boolean`,
:func:`~loopml.data.to_datetime`, :func:`~loopml.data.normalize_category`), with one
difference: a value the coercer would silently turn into a missing one (``"abc"`` for a
number) is a :class:`~loopml.serving._contract.FieldProblem` here, since a caller who wants a
missing value sends ``null``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopml.data import NumberFormat
from loopml.errors import ConfigError
from loopml.serving._contract import FieldProblem, ReadBatch, Records, RequestError

if TYPE_CHECKING:
    from loopml.registry import ModelBundle

#: What to do with instance fields the model does not use (id and unknown columns).
ExtraColumns = Literal["ignore", "reject"]

#: Text read as a boolean, as :func:`loopml.data.to_boolean` reads it.
_TRUE = frozenset({"true", "yes", "y", "t", "1"})
_FALSE = frozenset({"false", "no", "n", "f", "0"})
#: Beyond this many kept labels the schema's category list is cut, so it cannot tell unseen.
_MAX_CATEGORIES_KEPT = 500
_NAT = np.iinfo(np.int64).min
_MISSING_HINT = "send null for a missing value"


class _Unreadable(Exception):
    """A value that cannot be read as its column's type; the message says what was expected."""


@dataclass(frozen=True)
class _Column:
    """One feature column: how to read its values, and what to flag about them."""

    name: str
    role: str
    read: Callable[[Any], Any]  # JSON value (not None) -> typed value; raises _Unreadable
    missing: Any  # the typed missing value
    dtype: Any  # the array's dtype
    low: float | None = None  # training range, for numeric columns
    high: float | None = None
    known: frozenset[str] | None = None  # known categories, for categorical columns


class RecordReader:
    """Reads JSON instances into the typed columns a model's pipeline takes.

    Typical use, once per loaded model and then once per request::

        reader = RecordReader(bundle, extra_columns="ignore")
        batch = reader.read([{"age": 41, "plan": "Gold", "customer_id": 7}])
        batch.rows["plan"], batch.warnings, batch.ignored
        # (array(['gold'], dtype=object), [["plan: unseen category 'gold'"]], ('customer_id',))

    Parameters
    ----------
    bundle
        The loaded model: its schema gives the feature columns and the id columns, its
        pipeline's fitted ``FrameCoercer`` the roles, the category normalisation and the
        training number format.
    extra_columns
        ``"ignore"``: fields the model does not use (id columns, unknown names) are dropped
        and listed in ``ReadBatch.ignored``; ``"reject"``: each is a problem (HTTP 422).
    """

    def __init__(self, bundle: ModelBundle, extra_columns: ExtraColumns = "ignore"):
        if extra_columns not in ("ignore", "reject"):
            raise ConfigError(
                f"serving.extra_columns must be 'ignore' or 'reject', got {extra_columns!r}."
            )
        self.extra_columns = extra_columns
        coercer = find_coercer(bundle.pipeline)
        roles = dict(getattr(coercer, "roles_", {}) or {})
        normalize = bool(getattr(coercer, "normalize_categories", True))
        numbers = NumberFormat(getattr(coercer, "decimal", "."), getattr(coercer, "thousands", ","))
        known_extra = merged_labels(bundle.pipeline)
        columns = []
        for col in bundle.schema.feature_columns:
            role = roles.get(col.name, col.role)
            columns.append(_column(col, role, numbers, normalize, known_extra.get(col.name)))
        self.columns: tuple[_Column, ...] = tuple(columns)
        self.names: tuple[str, ...] = tuple(c.name for c in columns)
        self._features = frozenset(self.names)
        # why a known column is not read: an id, or personal data the privacy policy kept out
        self._unused_kinds = {
            c.name: "personal data the model was trained without" if c.pii else "an id column"
            for c in bundle.schema.columns
            if not c.is_feature
        }
        self._unused_kinds.update(dict.fromkeys(bundle.id_columns, "an id column"))
        self._logged = frozenset(bundle.sensitive_columns)  # not read, but kept in the log

    @property
    def roles(self) -> dict[str, str]:
        """Feature column -> role, in schema order."""
        return {c.name: c.role for c in self.columns}

    def read(self, records: Records) -> ReadBatch:
        """Typed columns from ``records``, or one :class:`RequestError` listing every problem.

        Raises
        ------
        RequestError
            A value that cannot be read as its column's type, an absent feature column, an
            instance that is not an object, or (``extra_columns="reject"``) an unused field.
        """
        n = len(records)
        problems: list[FieldProblem] = []
        ignored = self._check_fields(records, problems)
        warnings: list[list[str]] = [[] for _ in range(n)]
        rows = {}
        for column in self.columns:
            rows[column.name] = self._read_column(column, records, problems, warnings)
        if problems:
            problems.sort(key=lambda p: p.index)
            raise RequestError(problems)
        return ReadBatch(rows=rows, n=n, warnings=warnings, ignored=ignored)

    def _check_fields(self, records: Records, problems: list[FieldProblem]) -> tuple[str, ...]:
        """Unused fields (listed, or problems when rejected) and instances that are not objects."""
        extra: dict[str, None] = {}
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                problems.append(
                    FieldProblem(
                        i,
                        "",
                        "an instance must be an object of column: value pairs, got "
                        f"{_kind(record)}",
                    )
                )
                continue
            for key in record:
                if key in self._features or key in self._logged:
                    continue
                if self.extra_columns == "reject":
                    problems.append(FieldProblem(i, str(key), self._unused(str(key))))
                extra[str(key)] = None
        return tuple(extra)

    def _unused(self, key: str) -> str:
        what = self._unused_kinds.get(key, "not a column of the model")
        return (
            f"{what}, so the model does not use it; remove it from the instance, or set "
            "serving.extra_columns: ignore to have such fields ignored"
        )

    def _read_column(
        self,
        column: _Column,
        records: Records,
        problems: list[FieldProblem],
        warnings: list[list[str]],
    ) -> np.ndarray:
        name, read, missing = column.name, column.read, column.missing
        out = np.empty(len(records), dtype=column.dtype)
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                out[i] = missing
                continue
            if name not in record:
                out[i] = missing
                problems.append(
                    FieldProblem(
                        i,
                        name,
                        f"required: the model needs this column ({column.role}); {_MISSING_HINT}",
                    )
                )
                continue
            value = record[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                out[i] = missing
                continue
            try:
                typed = read(value)
            except _Unreadable as exc:
                out[i] = missing
                problems.append(FieldProblem(i, name, f"{exc}; {_MISSING_HINT}"))
                continue
            out[i] = typed
            if column.low is not None or column.known is not None:
                note = _flag(column, typed)
                if note:
                    warnings[i].append(note)
        if column.role == "datetime":
            return out.view("datetime64[ns]")
        return out


def _flag(column: _Column, value: Any) -> str:
    """The warning for an unseen category or an out-of-range number ('' when neither)."""
    if column.known is not None:
        if isinstance(value, str) and value not in column.known:
            return f"{column.name}: unseen category {value!r}"
        return ""
    if value != value:  # NaN: missing (a blank string)
        return ""
    if (column.low is not None and value < column.low) or (
        column.high is not None and value > column.high
    ):
        return (
            f"{column.name}: {value:.12g} is outside the training range "
            f"[{column.low:.12g}, {column.high:.12g}]"
        )
    return ""


def _column(
    col: Any, role: str, numbers: NumberFormat, normalize: bool, merged: frozenset[str] | None
) -> _Column:
    """How to read one feature column of the schema."""
    if role == "numeric":
        has_range = col.minimum is not None and col.maximum is not None
        return _Column(
            col.name,
            role,
            _number_reader(numbers),
            np.nan,
            np.float64,
            low=col.minimum if has_range else None,
            high=col.maximum if has_range else None,
        )
    if role == "boolean":
        return _Column(col.name, role, _read_boolean, np.nan, np.float64)
    if role == "datetime":
        return _Column(col.name, role, _read_datetime, _NAT, np.int64)
    if role == "text":
        return _Column(col.name, role, _read_text, "", object)
    known = None
    categories = tuple(getattr(col, "categories", ()) or ())
    if categories and len(categories) < _MAX_CATEGORIES_KEPT:
        known = frozenset(categories) | (merged or frozenset())
    reader = _read_category if normalize else _read_label
    return _Column(col.name, "categorical", reader, np.nan, object, known=known)


# ------------------------------------------------------------------------------------------
# one value of each role (None is handled by the caller)


def _number_reader(numbers: NumberFormat) -> Callable[[Any], float]:
    """Numbers as :meth:`NumberFormat.to_numbers` reads them: numbers stay numbers, text is
    read strictly in the training data's format ('1,234.5', '$20', ' 12 ')."""
    pattern = numbers.pattern()
    decimal = numbers.decimal
    # what the pattern allows besides the number itself: spaces, currency, thousands marks
    noise = re.compile(rf"[^\d+\-eE{re.escape(decimal)}]")
    example = '12.5 or "1,234.5"' if decimal == "." else '12,5 or "1.234,5"'
    expected = f"expected a number (e.g. {example})"

    def read(value: Any) -> float:
        if isinstance(value, (bool, int, float)):
            number = float(value)
            if math.isinf(number):
                raise _Unreadable(f"{expected}, got {value!r}")
            return number
        if not isinstance(value, str):
            raise _Unreadable(f"{expected}, got {_kind(value)}")
        text = value.strip()
        if not text:
            return math.nan  # blank text is a missing value, as in a CSV file
        if pattern.fullmatch(text) is None:
            raise _Unreadable(f"{expected}, got {value!r}")
        plain = noise.sub("", text)
        if decimal == ",":
            plain = plain.replace(",", ".")
        try:
            return float(plain)
        except ValueError:
            raise _Unreadable(f"{expected}, got {value!r}") from None

    return read


def _read_boolean(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and value in (0, 1):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return 1.0
        if text in _FALSE:
            return 0.0
        if not text:
            return math.nan
    raise _Unreadable(f'expected true or false (or "yes"/"no", 1/0), got {_show(value)}')


def _read_datetime(value: Any) -> int:
    """Nanoseconds since the epoch (UTC, timezone dropped), as :func:`loopml.data.to_datetime`."""
    expected = 'expected an ISO 8601 timestamp such as "2024-05-17" or "2024-05-17T09:30:00Z"'
    if not isinstance(value, str):
        raise _Unreadable(f"{expected}, got {_show(value)}")
    text = value.strip()
    if not text:
        return _NAT
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return _parse_datetime_like_pandas(text, expected, value)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(stamp, "ns").astype(np.int64))


def _parse_datetime_like_pandas(text: str, expected: str, value: Any) -> int:
    """Timestamps ISO parsing does not read ('05/17/2024 9:30', nanoseconds): read as the
    pipeline reads them, with pandas' mixed-format parser. Rare, so pandas loads only here."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(pd.Series([text]), errors="coerce", format="mixed", utc=True)
    if stamps.isna().iloc[0]:
        raise _Unreadable(f"{expected}, got {value!r}")
    naive = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return int(naive.astype("datetime64[ns]").astype("int64").iloc[0])


def _read_category(value: Any) -> Any:
    """A label trimmed and case-folded, as :func:`loopml.data.normalize_category` gives it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:g}"  # 1.0 and 1 are the same category
    elif isinstance(value, (str, int)):
        text = str(value)
    else:
        raise _Unreadable(f"expected a category label (text or a number), got {_kind(value)}")
    text = text.strip().casefold()
    return text if text else np.nan


def _read_label(value: Any) -> Any:
    """A label as written (``cleaning.categories.normalize: false``)."""
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Unreadable(f"expected a category label (text or a number), got {_kind(value)}")


def _read_text(value: Any) -> str:
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _Unreadable(f"expected text, got {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return _show(value)


def _show(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return _kind(value)
    return repr(value)


# ------------------------------------------------------------------------------------------
# what the reader needs from the fitted pipeline


def fitted_pipelines(model: Any) -> Iterator[Any]:
    """The fitted member pipelines of a bundle's model: itself, the one a decision threshold
    wraps, or each member of a weighted ensemble or stack (recursively)."""
    if hasattr(model, "estimators_") and (hasattr(model, "weights_") or hasattr(model, "combine")):
        for member in model.estimators_:
            yield from fitted_pipelines(member)
    elif hasattr(model, "estimator_") and hasattr(model, "threshold"):  # FixedThreshold...
        yield from fitted_pipelines(model.estimator_)
    else:
        yield model


def find_coercer(model: Any) -> Any:
    """The fitted ``FrameCoercer`` of the first member pipeline (None when there is none)."""
    from loopml.features import FrameCoercer

    for pipeline in fitted_pipelines(model):
        for _, step in getattr(pipeline, "steps", ()):
            if isinstance(step, FrameCoercer):
                return step
    return None


def merged_labels(model: Any) -> dict[str, frozenset[str]]:
    """Column -> labels a fitted ``CategoryMerger`` maps (spelling variants it knows)."""
    from loopml.features import CategoryMerger

    known: dict[str, set[str]] = {}
    for pipeline in fitted_pipelines(model):
        for _, step in getattr(pipeline, "steps", ()):
            if isinstance(step, CategoryMerger):
                for name, mapping in getattr(step, "mappings_", {}).items():
                    known.setdefault(name, set()).update(mapping)
    return {k: frozenset(v) for k, v in known.items()}
