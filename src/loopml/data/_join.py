"""Joins of two loaded sources on key columns, refusing to multiply rows silently."""

from __future__ import annotations

import logging

import pandas as pd

from loopml.config import Join
from loopml.data._sources import fingerprint
from loopml.errors import DataError
from loopml.types import DataSet

log = logging.getLogger(__name__)

_EXAMPLES = 3


def join_sources(
    left: DataSet, right: DataSet, join: Join, *, key: str = "data.joins[0]"
) -> DataSet:
    """Join ``right`` onto ``left`` on ``join.on`` (``how`` left or inner).

    Keys must exist on both sides. For ``many_to_one`` each key appears at most once on the
    right, for ``one_to_one`` on both sides; this is checked before merging, so a join never
    multiplies rows. Rows of ``right`` with a missing key never match (as in SQL). Non-key
    columns present on both sides keep their name on the left and get ``join.suffix`` on the
    right.

    Raises
    ------
    DataError
        Naming the missing key columns, or the duplicated keys ("key explosion").
    """
    on = list(join.on)
    for side, data in (("left", left), ("right", right)):
        missing = [c for c in on if c not in data.frame.columns]
        if missing:
            raise DataError(
                f"{key}.on: key column(s) {missing} missing from {data.origin} ({side} side of "
                f"the join; its columns: {_columns(data.frame)}). Fix {key}.on or the source."
            )
    right_frame = right.frame
    null_keys = right_frame[on].isna().any(axis=1)
    if null_keys.any():
        log.info(
            "%s: %d rows of %s have a missing key and match nothing",
            key,
            int(null_keys.sum()),
            right.origin,
        )
        right_frame = right_frame.loc[~null_keys]
    _check_unique(right_frame, on, right.origin, join, key)
    if join.relationship == "one_to_one":
        left_keys = left.frame.loc[~left.frame[on].isna().any(axis=1)]
        _check_unique(left_keys, on, left.origin, join, key)
    _check_key_types(left.frame, right_frame, on, left.origin, right.origin, key)
    overlap = (set(left.frame.columns) & set(right_frame.columns)) - set(on)
    clashes = sorted(f"{c}{join.suffix}" for c in overlap if f"{c}{join.suffix}" in left.frame)
    if clashes:
        raise DataError(
            f"{key}: the right side's columns renamed with suffix {join.suffix!r} would clash "
            f"with {clashes} of {left.origin}. Choose another {key}.suffix."
        )
    try:
        frame = left.frame.merge(
            right_frame,
            how=join.how,
            on=on,
            suffixes=("", join.suffix),
            validate="one_to_one" if join.relationship == "one_to_one" else "many_to_one",
        )
    except (ValueError, TypeError) as exc:  # MergeError is a ValueError
        raise DataError(
            f"{key}: joining {right.origin} onto {left.origin} on {on} failed: {exc}."
        ) from exc
    origin = f"{left.origin} +join:{right.origin} on {','.join(on)}"
    log.info(
        "%s: %s join of %s on %s: %d rows -> %d rows",
        key,
        join.how,
        right.origin,
        on,
        len(left.frame),
        len(frame),
    )
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


def _check_unique(frame: pd.DataFrame, on: list[str], origin: str, join: Join, key: str) -> None:
    duplicated = frame.duplicated(subset=on, keep=False)
    if not duplicated.any():
        return
    counts = frame.loc[duplicated].groupby(on, sort=False, dropna=False).size()
    examples = ", ".join(
        f"{_key_text(value, on)} ×{n}" for value, n in list(counts.items())[:_EXAMPLES]
    )
    raise DataError(
        f"key explosion: {len(counts)} keys of {origin} appear more than once (e.g. {examples}); "
        f"{key} is {join.relationship}, so joining would multiply rows. Deduplicate or "
        f"aggregate that source (e.g. a query with GROUP BY {', '.join(on)}), or fix {key}.on."
    )


def _check_key_types(
    left: pd.DataFrame,
    right: pd.DataFrame,
    on: list[str],
    left_origin: str,
    right_origin: str,
    key: str,
) -> None:
    for column in on:
        a, b = left[column], right[column]
        numeric = pd.api.types.is_numeric_dtype
        if numeric(a) != numeric(b):
            raise DataError(
                f"{key}.on: key {column!r} is {a.dtype} in {left_origin} but {b.dtype} in "
                f"{right_origin}, so no row would match. Make both the same type (e.g. cast in "
                "the query, or read the column as text with options.dtype)."
            )


def _key_text(value: object, on: list[str]) -> str:
    if len(on) == 1:
        return repr(value)
    values = value if isinstance(value, tuple) else (value,)
    return "(" + ", ".join(f"{c}={v!r}" for c, v in zip(on, values, strict=False)) + ")"


def _columns(frame: pd.DataFrame, limit: int = 20) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")
