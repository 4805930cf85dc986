"""Small helpers the ONNX converters share: constants, nodes and the typed variables.

Every converter of :mod:`loopml.serving._onnx_steps` and :mod:`loopml.serving._onnx_models`
writes its nodes through :func:`node` and :func:`const`, so names stay unique in the graph and
each constant is one initializer. Imported only by ``loopml export onnx`` and the ONNX
runtime: onnx and skl2onnx load with this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)

from loopml.serving._onnx_base import TARGET_OPSET


def step_name(model: Any, name: str = "") -> str:
    """How errors call a step: its name in the pipeline and its class."""
    kind = type(model).__name__
    return f"{name} ({kind})" if name else kind


def double(n_columns: int | None = 1) -> DoubleTensorType:
    return DoubleTensorType([None, n_columns])


def float32(n_columns: int | None = None) -> FloatTensorType:
    return FloatTensorType([None, n_columns])


def strings() -> StringTensorType:
    return StringTensorType([None, 1])


def stamps() -> Int64TensorType:
    return Int64TensorType([None, 1])


def is_double(variable: Any) -> bool:
    return isinstance(variable.type, DoubleTensorType)


def is_string(variable: Any) -> bool:
    return isinstance(variable.type, StringTensorType)


def is_stamp(variable: Any) -> bool:
    return isinstance(variable.type, Int64TensorType)


def const(scope: Any, container: Any, value: Any, name: str = "const") -> str:
    """An initializer holding ``value`` (numbers keep their dtype; text becomes strings)."""
    array = np.asarray(value)
    unique = scope.get_unique_variable_name(name)
    if array.dtype.kind in "OUS":
        # as a list: skl2onnx copies a TensorProto's raw data, which strings do not use
        text = [str(v).encode("utf-8") for v in array.ravel()]
        container.add_initializer(unique, TensorProto.STRING, list(array.shape), text)
        return unique
    else:
        tensor = numpy_helper.from_array(array, unique)
    container.add_initializer(unique, tensor.data_type, list(array.shape), tensor)
    return unique


def node(
    scope: Any,
    container: Any,
    op_type: str,
    inputs: list[str],
    output: str | None = None,
    *,
    domain: str = "",
    **attrs: Any,
) -> str:
    """Add one node; return its output's name (``output``, or a new unique one)."""
    out = output or scope.get_unique_variable_name(op_type.lower())
    version = TARGET_OPSET.get(domain, TARGET_OPSET[""])
    container.add_node(
        op_type,
        inputs,
        [out],
        op_domain=domain,
        op_version=version,
        name=scope.get_unique_operator_name(op_type),
        **attrs,
    )
    return out


def where_missing(
    scope: Any, container: Any, x: str, value: str, fallback: str, output: str | None = None
) -> str:
    """``value`` where ``x`` is NaN, else ``fallback``."""
    missing = node(scope, container, "IsNaN", [x])
    return node(scope, container, "Where", [missing, value, fallback], output)


def columns(
    scope: Any, container: Any, x: str, indices: list[int], output: str | None = None
) -> str:
    """The columns ``indices`` of the matrix ``x``."""
    at = const(scope, container, np.asarray(indices, dtype=np.int64), "columns")
    return node(scope, container, "Gather", [x, at], output, axis=1)


def concat(scope: Any, container: Any, parts: list[str], output: str | None = None) -> str:
    if len(parts) == 1 and output is None:
        return parts[0]
    return node(scope, container, "Concat", parts, output, axis=1)


def matmul(scope: Any, container: Any, x: str, matrix: np.ndarray) -> str:
    """``x @ matrix`` with a constant matrix (column moves, weighted sums)."""
    return node(scope, container, "MatMul", [x, const(scope, container, matrix, "matrix")])


def to_double(scope: Any, container: Any, x: str, output: str | None = None) -> str:
    return node(scope, container, "Cast", [x], output, to=TensorProto.DOUBLE)
