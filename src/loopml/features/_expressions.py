"""Features declared as expressions in ``loopml.yaml``, e.g. ``total_rooms: bedrooms + bathrooms``.

An expression is evaluated by ``DataFrame.eval`` (python engine) on the typed columns that
:class:`~loopml.features.FrameCoercer` produces. Only arithmetic and comparisons of existing
columns and constants are allowed; anything else (calls, attributes, indexing, ``@`` locals,
assignments) is a :class:`~loopml.errors.ConfigError` naming ``features.expressions.<name>``,
raised by :func:`check_expressions` before training and again when the step is fitted.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from loopml.errors import ConfigError

_ALLOWED = (
    "arithmetic (+ - * / // % **), comparisons (== != < <= > >=, in, not in), "
    "& | ~ and/or/not, on column names (`quoted` when they are not identifiers) and "
    "number or text constants"
)
_OPERATORS: tuple[type[ast.AST], ...] = (
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.BitAnd,
    ast.BitOr,
    ast.UAdd,
    ast.USub,
    ast.Invert,
    ast.Not,
    ast.And,
    ast.Or,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
)
_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    *_OPERATORS,
)
_BACKTICKS = re.compile(r"`([^`]+)`")
_DESCRIBE = {
    ast.Call: "a function call",
    ast.Attribute: "an attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "a lambda",
    ast.IfExp: "an if-else",
    ast.NamedExpr: "an assignment",
}


def check_expressions(expressions: Mapping[str, str], columns: Iterable[str]) -> None:
    """Check declared expressions against the feature columns, before any data is read.

    Each expression may use the columns and the names of the expressions declared before it.

    Parameters
    ----------
    expressions
        New column name -> pandas expression (``features.expressions``).
    columns
        The feature columns the pipeline receives.

    Raises
    ------
    ConfigError
        Listing every invalid expression by its key ``features.expressions.<name>``.

    Examples
    --------
    >>> check_expressions({"total": "a + b"}, ["a", "b"])
    >>> check_expressions({"total": "sqrt(a)"}, ["a"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    loopml.errors.ConfigError: features.expressions.total: 'sqrt(a)' uses a function call; ...
    """
    problems = _problems(expressions, list(columns))
    if problems:
        raise ConfigError("\n".join(problems))


def _problems(expressions: Mapping[str, str], columns: list[str]) -> list[str]:
    known = [str(c) for c in columns]
    problems = []
    for name, expression in expressions.items():
        key = f"features.expressions.{name}"
        if name in known:
            problems.append(
                f"{key}: the name {name!r} is already a column; choose a new name for the "
                "derived feature."
            )
        else:
            try:
                referenced_columns(name, expression, known)
            except ConfigError as exc:
                problems.append(str(exc))
        known.append(name)
    return problems


def referenced_columns(name: str, expression: str, columns: Iterable[str]) -> list[str]:
    """The columns ``expression`` uses, in order of first use.

    Raises
    ------
    ConfigError
        When it is not valid Python syntax, uses anything but arithmetic and comparisons, names
        a column not in ``columns``, or uses no column at all.

    Examples
    --------
    >>> referenced_columns("per_m2", "price / `floor area`", ["price", "floor area", "x"])
    ['price', 'floor area']
    """
    key = f"features.expressions.{name}"
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(f"{key}: expected an expression such as 'a + b', got {expression!r}.")
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        label = f"_loopml_quoted_{len(quoted)}"
        quoted[label] = match.group(1)
        return label

    try:
        tree = ast.parse(_BACKTICKS.sub(placeholder, expression.strip()), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(
            f"{key}: {expression!r} is not a valid expression ({exc.msg}). Allowed: {_ALLOWED}."
        ) from exc
    available = set(columns)
    used: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            what = _DESCRIBE.get(type(node), type(node).__name__)
            raise ConfigError(f"{key}: {expression!r} uses {what}; allowed: {_ALLOWED}.")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ConfigError(
                f"{key}: {expression!r} uses the constant {node.value!r}; allowed: {_ALLOWED}."
            )
        if isinstance(node, ast.Name):
            column = quoted.get(node.id, node.id)
            if column not in available:
                raise ConfigError(
                    f"{key}: {expression!r} uses {column!r}, which is not a feature column "
                    "(the target, id, dropped and personal-data columns are not available). "
                    f"Feature columns: {', '.join(sorted(available)) or '(none)'}."
                )
            if column not in used:
                used.append(column)
    if not used:
        raise ConfigError(
            f"{key}: {expression!r} uses no column; an expression derives a feature from columns, "
            "e.g. 'bedrooms + bathrooms'."
        )
    return used


class ExpressionFeatures(TransformerMixin, BaseEstimator):
    """Add one numeric column per declared expression.

    Evaluated in order, so an expression may use the ones before it. Booleans become 1.0/0.0,
    time differences become days, division by zero gives a missing value, and a row missing
    any column an expression uses gets a missing result (imputed like any number later).
    Category labels arrive normalised (trimmed, lower case, see ``cleaning.categories``), so
    compare them in that form: ``plan == 'gold'``.

    Parameters
    ----------
    expressions
        New column name -> pandas expression, e.g. ``{"total_rooms": "bedrooms + bathrooms"}``.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": [1.0, 2.0], "b": [4.0, 0.0]})
    >>> ExpressionFeatures({"ratio": "a / b"}).fit_transform(frame)["ratio"].tolist()
    [0.25, nan]
    """

    def __init__(self, expressions: Mapping[str, str] | None = None):
        self.expressions = expressions

    def fit(self, X: pd.DataFrame, y: Any = None) -> ExpressionFeatures:
        expressions = dict(self.expressions or {})
        check_expressions(expressions, [str(c) for c in X.columns])
        known = [str(c) for c in X.columns]
        self.columns_used_ = {}
        for name, expression in expressions.items():
            self.columns_used_[name] = tuple(referenced_columns(name, expression, known))
            known.append(name)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.transform(X)  # evaluate once: a type error surfaces at fit, naming its key
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "columns_used_")
        out = X.copy()
        for name, expression in dict(self.expressions or {}).items():
            out[name] = self._evaluate(out, name, expression)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "columns_used_")
        return np.asarray([*self.feature_names_in_, *self.columns_used_], dtype=object)

    def _evaluate(self, frame: pd.DataFrame, name: str, expression: str) -> pd.Series:
        key = f"features.expressions.{name}"
        used = list(self.columns_used_[name])
        types = ", ".join(f"{c} ({frame[c].dtype})" for c in used)
        try:
            result = frame[used].eval(expression, engine="python", parser="pandas")
        except Exception as exc:  # pandas raises many kinds; all mean the same to the user
            raise ConfigError(
                f"{key}: evaluating {expression!r} failed: {type(exc).__name__}: {exc}. "
                f"Column types: {types}."
            ) from exc
        if not isinstance(result, pd.Series):
            result = pd.Series(result, index=frame.index)
        if pd.api.types.is_timedelta64_dtype(result):
            result = result.dt.total_seconds() / 86400.0
        elif pd.api.types.is_bool_dtype(result) or pd.api.types.is_numeric_dtype(result):
            result = result.astype(float)
        else:
            raise ConfigError(
                f"{key}: {expression!r} gives {result.dtype} values, not numbers. Column types: "
                f"{types}. Use arithmetic on numeric columns or a comparison "
                "(e.g. plan == 'gold')."
            )
        result = result.replace([np.inf, -np.inf], np.nan)
        complete = frame[used].notna().all(axis=1)
        return result.where(complete).rename(name)
