"""ONNX converters for loopml's own preprocessing steps, registered with skl2onnx.

Between the steps the graph keeps one variable per column (named like the column), typed as
:class:`~loopml.features.FrameCoercer` types it: numbers and booleans ``double [N, 1]``,
category labels ``string [N, 1]`` (missing is ``""``), timestamps ``int64 [N, 1]`` in epoch
nanoseconds (missing is the smallest int64, as numpy stores NaT). The ColumnTransformer turns
them into the one ``double [N, F]`` matrix the model reads.

Each step has a parser (which variables it reads and writes), a shape calculator (types are
set by the parser, so it has nothing left to do) and a converter (the nodes).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from loopml.serving._onnx_base import MISSING_LABEL, cannot_convert
from loopml.serving._onnx_ops import (
    columns,
    concat,
    const,
    double,
    is_double,
    is_stamp,
    is_string,
    node,
    step_name,
    to_double,
    where_missing,
)
from loopml.serving._onnx_time import datetime_parts


def no_shape(operator: Any) -> None:
    """Output types are declared by the parsers; nothing is left to infer."""


def _by_name(inputs: list[Any], wanted: list[str], step: str) -> list[Any]:
    named = {v.raw_name: v for v in inputs}
    missing = [c for c in wanted if c not in named]
    if missing:
        raise cannot_convert(
            step, f"reads column(s) {', '.join(missing)} that no step before it makes"
        )
    return [named[c] for c in wanted]


def _declare(scope: Any, alias: str, model: Any, inputs: list[Any], outputs: list[Any]) -> Any:
    operator = scope.declare_local_operator(alias, model)
    operator.inputs = list(inputs)
    operator.outputs.extend(outputs)
    return operator


# ---------------------------------------------------------------- FrameCoercer

_ROLE_CHECKS = {
    "numeric": (is_double, "double"),
    "boolean": (is_double, "double"),
    "categorical": (is_string, "string"),
    "datetime": (is_stamp, "int64 (epoch nanoseconds)"),
    "text": (is_string, "string"),
}


def parse_coercer(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """The model's inputs already hold the coerced columns: pass them on in role order."""
    step = step_name(model, "coerce")
    chosen = _by_name(inputs, list(model.roles_), step)
    for variable, role in zip(chosen, model.roles_.values(), strict=True):
        check, kind = _ROLE_CHECKS.get(role, (None, role))
        if check is None or not check(variable):
            raise cannot_convert(
                step,
                f"gets column {variable.raw_name!r} of role {role!r}, "
                f"which needs an input of type {kind}",
            )
    return chosen


# ---------------------------------------------------------------- DatetimeExpander


def parse_expander(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    step = step_name(model, "datetime")
    stamps = _by_name(inputs, list(model.columns), step)
    kept = [v for v in inputs if v.raw_name not in model.columns]
    derived = [
        scope.declare_local_variable(f"{c}__{p}", double())
        for c in model.columns
        for p in _parts_of(model, c)
    ]
    if stamps:
        _declare(scope, "LoopmlDatetimeExpander", model, stamps, derived)
    return kept + derived


def _parts_of(model: Any, name: str) -> tuple[str, ...]:
    # expanders pickled before ``parts_`` existed derived DATETIME_PARTS for every column
    from loopml.features import DATETIME_PARTS

    return tuple(getattr(model, "parts_", {}).get(name, DATETIME_PARTS))


def convert_expander(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    outputs = iter(operator.outputs)
    for name, variable in zip(model.columns, operator.inputs, strict=True):
        parts = _parts_of(model, name)
        values = datetime_parts(scope, container, variable.full_name, parts, model.reference_[name])
        for value in values:
            node(scope, container, "Identity", [value], next(outputs).full_name)


# ---------------------------------------------------------------- CategoryMerger


def parse_mapped(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Steps that rewrite some columns in place (CategoryMerger, OutlierClipper)."""
    changed = _changed_columns(model)
    step = step_name(model)
    _by_name(inputs, changed, step)
    out, read, written = [], [], []
    for variable in inputs:
        if variable.raw_name in changed:
            new = scope.declare_local_variable(
                variable.raw_name, variable.type.__class__([None, 1])
            )
            read.append(variable)
            written.append(new)
            out.append(new)
        else:
            out.append(variable)
    if read:
        _declare(scope, f"Loopml{type(model).__name__}", model, read, written)
    return out


def _changed_columns(model: Any) -> list[str]:
    if hasattr(model, "mappings_"):
        return [c for c, mapping in model.mappings_.items() if mapping]
    return list(model.bounds_)


def convert_merger(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    for source, target in zip(operator.inputs, operator.outputs, strict=True):
        mapping = model.mappings_[source.raw_name]
        keys = [str(k) for k in mapping]
        index = node(
            scope,
            container,
            "LabelEncoder",
            [source.full_name],
            domain="ai.onnx.ml",
            keys_strings=keys,
            values_int64s=list(range(len(keys))),
            default_int64=-1,
        )
        known = node(
            scope, container, "GreaterOrEqual", [index, const(scope, container, np.int64(0))]
        )
        at = node(scope, container, "Max", [index, const(scope, container, np.int64(0))])
        merged = node(
            scope,
            container,
            "Gather",
            [const(scope, container, [str(mapping[k]) for k in mapping]), at],
        )
        node(scope, container, "Where", [known, merged, source.full_name], target.full_name)


def convert_clipper(scope: Any, operator: Any, container: Any) -> None:
    model = operator.raw_operator
    for source, target in zip(operator.inputs, operator.outputs, strict=True):
        low, high = model.bounds_[source.raw_name]
        clipped = node(
            scope,
            container,
            "Clip",
            [
                source.full_name,
                const(scope, container, np.float64(low)),
                const(scope, container, np.float64(high)),
            ],
        )
        # pandas' clip keeps missing values missing
        x = source.full_name
        where_missing(scope, container, x, x, clipped, target.full_name)


# ---------------------------------------------------------------- feature selectors


def parse_selector(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    step = step_name(model, "select")
    if len(inputs) != 1 or not is_double(inputs[0]):
        raise cannot_convert(step, "does not follow the ColumnTransformer's feature matrix")
    kept = int(np.sum(model.get_support()))
    out = scope.declare_local_variable("selected", double(kept))
    _declare(scope, "LoopmlSelector", model, inputs, [out])
    return [out]


def convert_selector(scope: Any, operator: Any, container: Any) -> None:
    kept = [int(j) for j in np.flatnonzero(operator.raw_operator.get_support())]
    x, out = operator.inputs[0].full_name, operator.outputs[0].full_name
    columns(scope, container, x, kept, out)


# ---------------------------------------------------------------- ColumnTransformer


class Branch:
    """One fitted transformer of a ColumnTransformer and the columns it reads."""

    def __init__(self, name: str, transformer: Any, names: list[str]):
        self.name = name
        self.transformer = transformer
        self.names = names


def parse_columns(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Each branch of the fitted ColumnTransformer gives a double block; they are joined in
    the order of ``output_indices_``, as scikit-learn joins them."""
    blocks = []
    for name, transformer, selected in model.transformers_:
        width = _width(model, name)
        if transformer == "drop" or width == 0:
            continue
        step = f"columns/{name}"
        names = [str(c) for c in _column_names(model, selected)]
        read = _by_name(inputs, names, step)
        block = scope.declare_local_variable(f"block_{name}", double(width))
        _declare(scope, "LoopmlColumnBranch", Branch(name, transformer, names), read, [block])
        blocks.append(block)
    features = scope.declare_local_variable("features", double(_total(model)))
    _declare(scope, "LoopmlConcat", Join(), blocks, [features])
    return [features]


def _width(model: Any, name: str) -> int:
    span = model.output_indices_.get(name)
    return 0 if span is None else int(span.stop - span.start)


def _total(model: Any) -> int:
    return int(max((s.stop for s in model.output_indices_.values()), default=0))


def _column_names(model: Any, selected: Any) -> list[Any]:
    if isinstance(selected, slice) or (
        len(selected)
        and isinstance(np.asarray(selected).ravel()[0], (bool, np.bool_, int, np.integer))
    ):
        return list(np.asarray(model.feature_names_in_)[selected])
    return list(selected)


class Join:
    """The ColumnTransformer's joining of its branches' blocks."""


def convert_concat(scope: Any, operator: Any, container: Any) -> None:
    concat(scope, container, [v.full_name for v in operator.inputs], operator.outputs[0].full_name)


def convert_branch(scope: Any, operator: Any, container: Any) -> None:
    branch: Branch = operator.raw_operator
    step = f"columns/{branch.name} ({type(branch.transformer).__name__})"
    inputs = operator.inputs
    out = operator.outputs[0].full_name
    if all(is_string(v) for v in inputs):
        tables = category_tables(branch, step)
        block = _gather_tables(scope, container, [v.full_name for v in inputs], tables)
    elif all(is_double(v) for v in inputs):
        x = concat(scope, container, [v.full_name for v in inputs])
        block = _numeric_chain(scope, container, x, branch.transformer, step)
    else:
        raise cannot_convert(step, "mixes text and numeric columns in one branch")
    node(scope, container, "Identity", [block], out)


def _numeric_steps(transformer: Any) -> list[Any]:
    if transformer == "passthrough":
        return []
    steps = getattr(transformer, "steps", None)
    return [s for _, s in steps] if steps is not None else [transformer]


def _numeric_chain(scope: Any, container: Any, x: str, transformer: Any, step: str) -> str:
    for part in _numeric_steps(transformer):
        kind = type(part).__name__
        if part == "passthrough" or _is_identity(part):
            continue
        if kind == "SimpleImputer":
            x = _imputer(scope, container, x, part, step)
        elif kind == "StandardScaler":
            if getattr(part, "with_mean", True) and part.mean_ is not None:
                x = node(
                    scope,
                    container,
                    "Sub",
                    [x, const(scope, container, part.mean_.astype(np.float64))],
                )
            if getattr(part, "with_std", True) and part.scale_ is not None:
                x = node(
                    scope,
                    container,
                    "Div",
                    [x, const(scope, container, part.scale_.astype(np.float64))],
                )
        elif kind == "MissingIndicator":
            x = _indicators(scope, container, x, part)
        else:
            raise cannot_convert(
                step, f"uses {kind} on numbers, which has no ONNX converter in loopml"
            )
    return x


def _is_identity(part: Any) -> bool:
    """scikit-learn's stand-in for "passthrough" in a fitted ColumnTransformer."""
    return type(part).__name__ == "FunctionTransformer" and part.func is None


def _imputer(scope: Any, container: Any, x: str, imputer: Any, step: str) -> str:
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        raise cannot_convert(step, "imputes a marker other than NaN")
    filled = where_missing(
        scope,
        container,
        x,
        const(scope, container, np.asarray(imputer.statistics_, dtype=np.float64)),
        x,
    )
    indicator = getattr(imputer, "indicator_", None)
    if indicator is None:
        return filled
    return concat(scope, container, [filled, _indicators(scope, container, x, indicator)])


def _indicators(scope: Any, container: Any, x: str, indicator: Any) -> str:
    flags = to_double(scope, container, node(scope, container, "IsNaN", [x]))
    return columns(scope, container, flags, [int(j) for j in indicator.features_])


# ---------------------------------------------------------------- category tables

#: A label no column holds: what an unseen category turns into, read off the fitted branch.
_UNSEEN = "\x00loopml-unseen\x00"


def category_tables(branch: Branch, step: str) -> list[tuple[list[str], np.ndarray, list[int]]]:
    """Per column: its known labels, the branch's output rows for each label (then missing,
    then unseen), and which output columns that column decides.

    Every branch over category labels (imputation, one-hot, ordinal codes, target encoding,
    scaling of those) maps each column on its own, so running the fitted branch on every
    label of one column while the others stay fixed reads off exactly what it computes.
    """
    transformer = branch.transformer
    labels = [_labels_of(transformer, j, step) for j in range(len(branch.names))]
    if any(MISSING_LABEL in known for known in labels):
        raise cannot_convert(
            step, "has the empty label as a category, which ONNX inputs use for missing"
        )
    base = {
        n: [known[0] if known else np.nan] for n, known in zip(branch.names, labels, strict=True)
    }
    raw = []
    for name, known in zip(branch.names, labels, strict=True):
        probe = pd.DataFrame({n: v * (len(known) + 2) for n, v in base.items()}, dtype=object)
        probe[name] = [*known, np.nan, _UNSEEN]
        with warnings.catch_warnings():  # "unknown categories": the unseen row, on purpose
            warnings.simplefilter("ignore")
            raw.append(_dense(transformer.transform(probe)))
    owners = _owners(raw)
    return [
        (
            known,
            table[:, [k for k, o in enumerate(owners) if o == j]],
            [k for k, o in enumerate(owners) if o == j],
        )
        for j, (known, table) in enumerate(zip(labels, raw, strict=True))
    ]


def _labels_of(transformer: Any, j: int, step: str) -> list[str]:
    steps = getattr(transformer, "steps", None)
    parts = [s for _, s in steps] if steps is not None else [transformer]
    for part in parts:
        categories = getattr(part, "categories_", None)
        if categories is not None:
            return [str(v) for v in categories[j] if not (isinstance(v, float) and np.isnan(v))]
    raise cannot_convert(
        step, "encodes categories with a transformer loopml cannot read the categories of"
    )


def _dense(values: Any) -> np.ndarray:
    values = values.toarray() if hasattr(values, "toarray") else values
    return np.asarray(values, dtype=np.float64)


def _owners(tables: list[np.ndarray]) -> list[int]:
    """For each output column, the input column whose labels change it (0 when none does)."""
    width = tables[0].shape[1]
    owners = []
    for k in range(width):
        varies = [j for j, t in enumerate(tables) if not np.all(t[:, k] == t[0, k])]
        owners.append(varies[0] if varies else 0)
    return owners


def _gather_tables(
    scope: Any,
    container: Any,
    inputs: list[str],
    tables: list[tuple[list[str], np.ndarray, list[int]]],
) -> str:
    parts, order = [], []
    for x, (known, table, owned) in zip(inputs, tables, strict=True):
        if not owned:
            continue
        index = node(
            scope,
            container,
            "LabelEncoder",
            [x],
            domain="ai.onnx.ml",
            keys_strings=[*known, MISSING_LABEL],
            values_int64s=list(range(len(known) + 1)),
            default_int64=len(known) + 1,
        )
        rows = node(
            scope, container, "Gather", [const(scope, container, table, "table"), index], axis=0
        )
        width = const(scope, container, np.asarray([-1, table.shape[1]], dtype=np.int64))
        parts.append(node(scope, container, "Reshape", [rows, width]))
        order.extend(owned)
    joined = concat(scope, container, parts)
    back = [int(p) for p in np.argsort(np.asarray(order), kind="stable")]
    return joined if back == list(range(len(back))) else columns(scope, container, joined, back)
