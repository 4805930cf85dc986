"""Schema inference: a role per column, with ranges and category sets.

The schema is saved with every model and checks scoring input: missing columns are an error,
unseen categories and out-of-range values are counted.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopml.data._numbers import NumberFormat
from loopml.errors import SchemaError

Role = Literal["numeric", "categorical", "boolean", "datetime", "text", "id"]
FEATURE_ROLES: tuple[Role, ...] = ("numeric", "categorical", "boolean", "datetime", "text")

MAX_CATEGORIES_KEPT = 500
_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
# "customer_id", "id_no", "uuid", "key"; and camel case "PassengerId", "CustomerID" (not "paid")
_ID_NAME = re.compile(
    r"(^id$|_id$|^id_|uuid|guid|identifier|(?<![a-z])key$|(?<=[a-z])(?-i:Id|ID)$)", re.IGNORECASE
)
_TRUE = {"true", "yes", "y", "t", "1"}
_FALSE = {"false", "no", "n", "f", "0"}


@dataclass(frozen=True)
class ColumnSchema:
    """What was learned about one column."""

    name: str
    role: Role
    dtype: str
    missing_fraction: float
    n_unique: int
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    pii: str | None = None  # the kind of personal data detected, e.g. "email"
    reason: str = ""

    @property
    def is_feature(self) -> bool:
        return self.role in FEATURE_ROLES and self.pii is None


@dataclass(frozen=True)
class Schema:
    """Columns of the training data except the target, in their original order."""

    columns: tuple[ColumnSchema, ...]
    target: str
    ignored: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def feature_columns(self) -> list[ColumnSchema]:
        return [c for c in self.columns if c.is_feature]

    def roles(self) -> dict[str, str]:
        """Feature name -> role (a :data:`Role`), for building the pipeline."""
        return {c.name: c.role for c in self.feature_columns}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ignored": list(self.ignored),
            "columns": [{**asdict(c), "categories": list(c.categories)} for c in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        cols = tuple(
            ColumnSchema(**{**c, "categories": tuple(c.get("categories", ()))})
            for c in data["columns"]
        )
        return cls(columns=cols, target=data["target"], ignored=tuple(data.get("ignored", ())))

    def check(self, columns: Iterable[str], where: str) -> None:
        """Raise :class:`SchemaError` if a feature column is missing from ``columns``."""
        present = set(columns)
        missing = [c.name for c in self.feature_columns if c.name not in present]
        if missing:
            raise SchemaError(
                f"{where} is missing {len(missing)} column(s) the model needs: "
                f"{', '.join(missing)}. Add them (empty values are allowed) and retry."
            )

    def inspect(self, frame: pd.DataFrame) -> dict[str, dict[str, int]]:
        """Count unseen categories, out-of-range and unparseable values per feature column."""
        counts: dict[str, dict[str, int]] = {}
        for col in self.feature_columns:
            if col.name not in frame.columns:
                continue
            values = frame[col.name]
            present = values.notna()
            if not pd.api.types.is_numeric_dtype(values):
                present &= values.astype("string").str.strip().fillna("") != ""
            entry: dict[str, int] = {}
            if col.role == "numeric":
                numbers = to_numeric(values)
                entry["invalid"] = int((numbers.isna() & present).sum())
                if col.minimum is not None and col.maximum is not None:
                    entry["out_of_range"] = int(
                        ((numbers < col.minimum) | (numbers > col.maximum)).sum()
                    )
            elif col.role == "boolean":
                flags = to_boolean(values)
                entry["invalid"] = int((flags.isna() & present).sum())
            elif col.role == "categorical" and col.categories:
                normal = normalize_category(values)
                known = set(col.categories)
                entry["unseen_category"] = int((normal.notna() & ~normal.isin(known)).sum())
            elif col.role == "datetime":
                stamps = to_datetime(values)
                entry["invalid"] = int((stamps.isna() & present).sum())
            counts[col.name] = {k: v for k, v in entry.items() if v}
        return {k: v for k, v in counts.items() if v}


# --------------------------------------------------------------------------------------------
# value conversions shared with the pipeline's coercion step


def to_numeric(values: pd.Series, numbers: NumberFormat | None = None) -> pd.Series:
    """Numbers, with text like ' 12.5 ', '1,234.5' or '$20,000' parsed and anything else missing.

    ``numbers`` is the format of numbers written as text (default: decimal dot, thousands
    comma); a value that is not a number in it, such as '4,0288' by default, is missing
    rather than misread.
    """
    return (numbers or NumberFormat()).to_numbers(values)


def to_boolean(values: pd.Series) -> pd.Series:
    """1.0 / 0.0 / NaN from booleans, 0/1 and yes/no-like text."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(np.nan, index=values.index, dtype=float)
    out[text.isin(_TRUE).fillna(False).astype(bool)] = 1.0
    out[text.isin(_FALSE).fillna(False).astype(bool)] = 0.0
    return out


def to_datetime(values: pd.Series) -> pd.Series:
    """Timestamps (timezone-naive UTC); unparseable values become NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def is_text(values: pd.Series) -> bool:
    return (
        pd.api.types.is_string_dtype(values)
        or pd.api.types.is_object_dtype(values)
        or isinstance(values.dtype, pd.CategoricalDtype)
    )


def missing_mask(values: pd.Series) -> pd.Series:
    """Missing cells: None, NaN, NaT, and text that is empty or only spaces.

    The one definition of "missing" the quality findings, the profile and the target share;
    :func:`normalize_category` turns the same blank labels into missing values in the pipeline.
    """
    missing = values.isna()
    if is_text(values):
        blank = values.astype("string").str.strip() == ""
        missing |= blank.fillna(False).astype(bool)
    return missing


def normalize_category(values: pd.Series) -> pd.Series:
    """Category labels as trimmed, lower-case text; missing stays missing."""
    if pd.api.types.is_bool_dtype(values):
        values = values.map({True: "true", False: "false"})
    elif pd.api.types.is_float_dtype(values):
        # 1.0 and 1 are the same category; keep the shortest form
        values = values.map(lambda v: v if pd.isna(v) else (f"{v:g}"))
    text = values.astype("string").str.strip().str.casefold()
    text = text.mask(text == "")
    return text.astype(object).where(text.notna(), np.nan)


# --------------------------------------------------------------------------------------------
# inference


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    id_columns: Iterable[str] = (),
    time_column: str | None = None,
    drop_columns: Iterable[str] = (),
) -> Schema:
    """Infer a role for every column but the target."""
    ids = set(id_columns)
    drops = set(drop_columns)
    columns = []
    for name in frame.columns:
        if name == target or name in drops:
            continue
        declared: Role | None = "id" if name in ids else "datetime" if name == time_column else None
        columns.append(infer_column(frame[name], declared=declared))
    return Schema(columns=tuple(columns), target=target, ignored=tuple(sorted(drops)))


def infer_column(values: pd.Series, declared: Role | None = None) -> ColumnSchema:
    name = str(values.name)
    n = len(values)
    non_null = values.dropna()
    missing = float(1 - len(non_null) / n) if n else 0.0
    n_unique = int(non_null.nunique())
    base: dict[str, Any] = {
        "name": name,
        "dtype": str(values.dtype),
        "missing_fraction": round(missing, 6),
        "n_unique": n_unique,
    }
    role, reason, pii = _guess_role(values, non_null, n_unique, declared)
    if role == "numeric":
        numbers = to_numeric(non_null).dropna()
        lo = float(numbers.min()) if len(numbers) else None
        hi = float(numbers.max()) if len(numbers) else None
        return ColumnSchema(**base, role=role, minimum=lo, maximum=hi, reason=reason, pii=pii)
    if role == "datetime":
        stamps = to_datetime(non_null).dropna()
        lo = float(stamps.min().timestamp()) if len(stamps) else None
        hi = float(stamps.max().timestamp()) if len(stamps) else None
        return ColumnSchema(**base, role=role, minimum=lo, maximum=hi, reason=reason, pii=pii)
    if role == "categorical":
        cats = normalize_category(non_null).dropna().value_counts()
        kept = tuple(sorted(str(c) for c in cats.index[:MAX_CATEGORIES_KEPT]))
        return ColumnSchema(**base, role=role, categories=kept, reason=reason, pii=pii)
    if role == "boolean":
        return ColumnSchema(**base, role=role, minimum=0.0, maximum=1.0, reason=reason, pii=pii)
    return ColumnSchema(**base, role=role, reason=reason, pii=pii)


def _guess_role(
    values: pd.Series, non_null: pd.Series, n_unique: int, declared: Role | None
) -> tuple[Role, str, str | None]:
    if declared is not None:
        return declared, "declared in loopml.yaml", None
    if len(non_null) == 0:
        return "categorical", "all values missing", None
    if pd.api.types.is_bool_dtype(values):
        return "boolean", "boolean values", None
    if pd.api.types.is_datetime64_any_dtype(values):
        return "datetime", "timestamp values", None
    if pd.api.types.is_numeric_dtype(values):
        return _guess_numeric_role(values, non_null, n_unique)
    return _guess_text_role(non_null, n_unique)


def _guess_numeric_role(
    values: pd.Series, non_null: pd.Series, n_unique: int
) -> tuple[Role, str, str | None]:
    n = len(non_null)
    integral = pd.api.types.is_integer_dtype(values) or bool(
        np.all(np.mod(non_null.to_numpy(dtype=float), 1) == 0)
    )
    if integral and n_unique / n > 0.98 and n > 50 and _ID_NAME.search(str(values.name)):
        return "id", "unique integers with an id-like name", None
    if n_unique == 2 and set(non_null.unique().tolist()) <= {0, 1}:
        return "boolean", "only 0 and 1", None
    return "numeric", "numbers", None


def _guess_text_role(non_null: pd.Series, n_unique: int) -> tuple[Role, str, str | None]:
    n = len(non_null)
    unique_ratio = n_unique / n
    sample = non_null.astype(str).str.strip()
    if len(sample) > 2000:
        sample = sample.sample(2000, random_state=0)
    if sample.str.match(_EMAIL).mean() > 0.8:
        return "id", "e-mail addresses (personal data)", "email"
    numeric = to_numeric(sample)
    if numeric.notna().mean() > 0.95:
        return "numeric", "numbers stored as text", None
    stamps = to_datetime(sample)
    looks_dated = sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).mean()
    if stamps.notna().mean() > 0.95 and looks_dated > 0.95:
        return "datetime", "date or time strings", None
    mean_words = sample.str.split().str.len().mean()
    if unique_ratio > 0.5 and mean_words >= 4:
        return "text", f"free text ({mean_words:.1f} words on average)", None
    if unique_ratio > 0.95 and n > 50:
        return "id", f"{unique_ratio:.0%} of values are unique", None
    return "categorical", f"{n_unique} distinct values", None


def reference_statistics(frame: pd.DataFrame, schema: Schema, bins: int = 10) -> dict[str, Any]:
    """Per-feature distribution summaries of the training data, kept for drift checks later.

    Numeric columns: quantile edges and the share of rows between them, mean, std and the
    missing share. Categorical columns: the share of each of the most common labels.
    """
    stats: dict[str, Any] = {}
    for col in schema.feature_columns:
        if col.name not in frame.columns:
            continue
        values = frame[col.name]
        entry: dict[str, Any] = {"role": col.role, "missing": float(values.isna().mean())}
        if col.role in ("numeric", "boolean"):
            numbers = (to_numeric(values) if col.role == "numeric" else to_boolean(values)).dropna()
            if len(numbers):
                edges = np.unique(np.quantile(numbers, np.linspace(0, 1, bins + 1)))
                counts, _ = (
                    np.histogram(numbers, bins=edges) if len(edges) > 1 else ([len(numbers)], None)
                )
                entry.update(
                    mean=float(numbers.mean()),
                    std=float(numbers.std(ddof=0)),
                    edges=[float(e) for e in edges],
                    shares=[float(c) / len(numbers) for c in counts],
                )
        elif col.role == "categorical":
            shares = normalize_category(values).value_counts(normalize=True).head(50)
            entry["shares"] = {str(k): float(v) for k, v in shares.items()}
        stats[col.name] = entry
    return stats
