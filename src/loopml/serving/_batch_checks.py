"""The input checks of batch scoring: ``Schema.inspect``'s counts, at a fraction of its cost.

``Schema.inspect`` judges each value on its own, parsing the text again. Batch scoring gets
the same counts two cheaper ways: from the feature columns the pipeline's coercion step has
already typed (on the compiled path), and from the distinct values of a column with few of
them (categories, flags, small counts), where a value without a problem has none in any row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from loopml.data import Schema
    from loopml.registry import ModelBundle

#: Roles whose problems are read off the typed column: a value present in the input that the
#: coercion step could not read (missing after it) is invalid; numbers also have a range.
_TYPED_ROLES = frozenset({"numeric", "boolean", "datetime"})


def inspect_chunk(
    bundle: ModelBundle, chunk: pd.DataFrame, typed: pd.DataFrame | None = None
) -> dict[str, dict[str, int]]:
    """``bundle.schema.inspect(chunk)``: the same counts; ``typed`` is what the pipeline's
    coercion step made of ``chunk``, when the caller has it."""
    schema = bundle.schema
    roles = _coerced_roles(bundle) if typed is not None else {}
    counts: dict[str, dict[str, int]] = {}
    by_values: list[str] = []
    for col in schema.feature_columns:
        if col.name not in chunk.columns:
            continue
        if typed is not None and col.role in _TYPED_ROLES and roles.get(col.name) == col.role:
            found = _typed_problems(col, chunk[col.name], typed[col.name])
            if found:
                counts[col.name] = found
        else:
            by_values.append(col.name)
    counts.update(_inspect(schema, chunk[by_values]) if by_values else {})
    return {c.name: counts[c.name] for c in schema.feature_columns if c.name in counts}


def _coerced_roles(bundle: ModelBundle) -> dict[str, str]:
    from loopml.serving._reader import find_coercer

    coercer = find_coercer(bundle.pipeline)
    return dict(getattr(coercer, "roles_", {}) or {})


def _typed_problems(col: Any, raw: pd.Series, typed: pd.Series) -> dict[str, int]:
    """Invalid values (present in ``raw``, missing once typed) and, for numbers, values
    outside the training range, as ``Schema.inspect`` counts them."""
    entry: dict[str, int] = {}
    missing = typed.isna().to_numpy()
    if missing.any():
        entry["invalid"] = int(_present(raw[missing]).sum())
    if col.role == "numeric" and col.minimum is not None and col.maximum is not None:
        numbers = typed.to_numpy(dtype=float, na_value=np.nan)
        entry["out_of_range"] = int(((numbers < col.minimum) | (numbers > col.maximum)).sum())
    return {k: v for k, v in entry.items() if v}


def _present(values: pd.Series) -> pd.Series:
    """Which values were given: not missing, and for text not blank."""
    present = values.notna()
    if not pd.api.types.is_numeric_dtype(values):
        present &= values.astype("string").str.strip().fillna("") != ""
    return present


def _inspect(schema: Schema, chunk: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``schema.inspect(chunk)`` on the distinct values of the columns with few of them.

    A column where some distinct value is flagged, or with mostly distinct values, is
    counted row by row. Categories are the expensive part (normalising labels took 1.3 of
    7.8 s on 200,000 rows of the demo).
    """
    by_rows: list[str] = []
    for col in schema.feature_columns:
        if col.name not in chunk.columns:
            continue
        if _on_every_row(schema, chunk[col.name]):
            by_rows.append(col.name)
    return schema.inspect(chunk[by_rows]) if by_rows else {}


def _on_every_row(schema: Schema, values: pd.Series) -> bool:
    """Whether ``values`` must be checked row by row: mostly distinct (dates, amounts), or
    some distinct value has a problem, or the values cannot be told apart (unhashable)."""
    try:
        if values.iloc[:1000].nunique() > 500:
            return True
        distinct = values.drop_duplicates()
    except TypeError:
        return True
    return 2 * len(distinct) > len(values) or bool(schema.inspect(distinct.to_frame()))
