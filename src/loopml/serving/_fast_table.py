"""Compiled forms of the pipeline steps that work on named columns, before the encoders.

Each ``compile_*`` function takes a fitted step and returns a function from a table (column
name -> 1-D numpy array, typed as :data:`~loopml.serving._contract.RowBatch` types them) to
the table the next step receives, computing the same numbers as the step's ``transform`` on a
DataFrame: category merging, outlier clipping, declared expressions and datetime expansion.
"""

from __future__ import annotations

import ast
import io
import operator
import re
import tokenize
from collections.abc import Callable
from typing import Any

import numpy as np

#: A table of named columns, and a compiled step working on one.
Table = dict[str, np.ndarray]
TableFn = Callable[[Table], Table]


class NoFastForm(Exception):
    """A fitted step the row path cannot compile; the message names the step and why."""


# ------------------------------------------------------------------------------------------
# cleaning


def compile_category_merger(step: Any) -> TableFn:
    """``CategoryMerger``: spelling variants mapped onto the label they were merged into."""
    mappings = {name: dict(m) for name, m in step.mappings_.items() if m}

    def merge(table: Table) -> Table:
        out = dict(table)
        for name, mapping in mappings.items():
            values = table[name]
            merged = np.empty(len(values), dtype=object)
            for i, v in enumerate(values):
                merged[i] = mapping.get(v, v) if isinstance(v, str) else v
            out[name] = merged
        return out

    return merge


def compile_outlier_clipper(step: Any) -> TableFn:
    """``OutlierClipper``: numbers clipped to the learned quantile bounds (missing stays)."""
    bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in step.bounds_.items()}

    def clip(table: Table) -> Table:
        out = dict(table)
        for name, (lo, hi) in bounds.items():
            out[name] = np.clip(table[name], lo, hi)
        return out

    return clip


# ------------------------------------------------------------------------------------------
# datetime expansion

_NS_PER_HOUR = 3_600_000_000_000
_NS_PER_MINUTE = 60_000_000_000
#: cyclical part -> (the part it encodes, its period), as the expander defines them
_CYCLES = {
    "month_sin": ("month", 12),
    "month_cos": ("month", 12),
    "dayofweek_sin": ("dayofweek", 7),
    "dayofweek_cos": ("dayofweek", 7),
    "hour_sin": ("hour", 24),
    "hour_cos": ("hour", 24),
}


def compile_datetime_expander(step: Any) -> TableFn:
    """``DatetimeExpander``: calendar parts and elapsed days from ``datetime64[ns]`` arrays."""
    columns = tuple(step.columns)
    parts = {name: step._parts_of(name) for name in columns}
    reference = {name: float(step.reference_[name]) for name in columns}

    def expand(table: Table) -> Table:
        out = {k: v for k, v in table.items() if k not in columns}
        for name in columns:
            stamps = table[name].astype("datetime64[ns]", copy=False)
            missing = np.isnat(stamps)
            cache: dict[str, np.ndarray] = {"_missing": missing} if missing.any() else {}
            for part in parts[name]:
                out[f"{name}__{part}"] = _part(stamps, part, reference[name], cache)
        return out

    return expand


def _part(stamps: np.ndarray, part: str, reference: float, cache: dict[str, np.ndarray]) -> Any:
    """One derived column as floats; missing stamps give NaN (as ``_datetime_part``)."""
    if part in _CYCLES:
        base, period = _CYCLES[part]
        key = f"_angle_{base}"
        if key not in cache:
            cache[key] = 2 * np.pi * _part(stamps, base, reference, cache) / period
        return np.sin(cache[key]) if part.endswith("_sin") else np.cos(cache[key])
    if part in cache:
        return cache[part]
    if part == "elapsed_days":
        seconds = stamps.astype("datetime64[s]").astype(np.int64).astype(float)
        value = (seconds - reference) / 86400.0
    else:
        value = _calendar(stamps, part, cache).astype(float)
    if "_missing" in cache:
        value[cache["_missing"]] = np.nan
    cache[part] = value
    return value


def _calendar(stamps: np.ndarray, part: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    """One calendar part as integers; the day, month and year stamps are computed once."""
    if "_days" not in cache:
        cache["_days"] = stamps.astype("datetime64[D]")
        cache["_months"] = stamps.astype("datetime64[M]")
        cache["_years"] = stamps.astype("datetime64[Y]")
    days, months, years = cache["_days"], cache["_months"], cache["_years"]
    if part == "year":
        return years.astype(np.int64) + 1970
    if part in ("month", "quarter"):
        month = months.astype(np.int64) % 12 + 1
        return month if part == "month" else (month - 1) // 3 + 1
    if part == "dayofyear":
        return (days - years.astype("datetime64[D]")).astype(np.int64) + 1
    if part == "day":
        return (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    if part in ("dayofweek", "is_weekend"):
        weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
        return weekday if part == "dayofweek" else weekday >= 5
    since_midnight = (stamps - days).astype(np.int64)
    if part == "hour":
        return since_midnight // _NS_PER_HOUR
    if part == "minute":
        return (since_midnight // _NS_PER_MINUTE) % 60
    raise NoFastForm(f"the datetime part {part!r} has no compiled form")


# ------------------------------------------------------------------------------------------
# declared expressions

_BACKTICKS = re.compile(r"`([^`]+)`")
_BINARY: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def compile_expressions(step: Any) -> TableFn:
    """``ExpressionFeatures``: each declared expression evaluated on numpy arrays, in order,
    with ``DataFrame.eval``'s reading (``&``/``|`` as and/or) and the step's result rules
    (booleans as 1.0/0.0, time differences in days, infinities and incomplete rows missing)."""
    compiled = []
    for name, expression in dict(step.expressions or {}).items():
        tree, quoted = _parse(expression)
        compiled.append((name, tree, quoted, tuple(step.columns_used_[name])))

    def evaluate(table: Table) -> Table:
        out = dict(table)
        n = len(next(iter(table.values()))) if table else 0
        for name, tree, quoted, used in compiled:
            with np.errstate(all="ignore"):
                value = _eval(tree.body, out, quoted)
                result = _as_float(value, n)
                result[np.isinf(result)] = np.nan
                for column in used:
                    result[_missing(out[column])] = np.nan
            out[name] = result
        return out

    return evaluate


def _parse(expression: str) -> tuple[ast.Expression, dict[str, str]]:
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        label = f"_loopml_quoted_{len(quoted)}"
        quoted[label] = match.group(1)
        return label

    source = _BACKTICKS.sub(placeholder, expression.strip())
    # pandas' parser gives & and | the precedence of and / or
    tokens = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.OP and tok.string in ("&", "|"):
            tokens.append((tokenize.NAME, "and" if tok.string == "&" else "or"))
        else:
            tokens.append((tok.type, tok.string))
    return ast.parse(tokenize.untokenize(tokens).strip(), mode="eval"), quoted


def _eval(node: ast.AST, table: Table, quoted: dict[str, str]) -> Any:
    if isinstance(node, ast.Name):
        return table[quoted.get(node.id, node.id)]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, table, quoted) for e in node.elts]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, table, quoted), _eval(node.right, table, quoted)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, table, quoted)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        return np.logical_not(value)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, table, quoted) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return combine.reduce(values)
    if isinstance(node, ast.Compare):
        return _compare(node, table, quoted)
    raise NoFastForm(f"the expression element {type(node).__name__} has no compiled form")


def _compare(node: ast.Compare, table: Table, quoted: dict[str, str]) -> Any:
    left = _eval(node.left, table, quoted)
    result: Any = None
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _eval(right_node, table, quoted)
        if isinstance(op, (ast.In, ast.NotIn)):
            options = right if isinstance(right, list) else [right]
            value = np.isin(left, np.asarray(options, dtype=object))
            value = ~value if isinstance(op, ast.NotIn) else value
        elif type(op) in _COMPARE:
            value = _COMPARE[type(op)](left, right)
        else:
            raise NoFastForm(f"the comparison {type(op).__name__} has no compiled form")
        result = value if result is None else np.logical_and(result, value)
        left = right
    return result


def _as_float(value: Any, n: int) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind == "m":  # a time difference: days, as the step gives it
        seconds = array.astype("timedelta64[ns]").astype(np.int64) / 1e9
        out = seconds / 86400.0
        out[np.isnat(array)] = np.nan
        return np.asarray(out, dtype=float)
    if array.dtype.kind not in "biuf":
        raise NoFastForm(f"an expression gives {array.dtype} values, not numbers")
    out = array.astype(float)
    return np.full(n, out) if out.ndim == 0 else out


def _missing(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "M":
        return np.isnat(values)
    return np.asarray([v is None or (isinstance(v, float) and v != v) for v in values], bool)
