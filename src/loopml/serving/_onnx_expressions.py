"""ONNX converter for ExpressionFeatures: declared arithmetic and comparisons as graph nodes."""

from __future__ import annotations

from typing import Any

from loopml.serving._onnx_base import cannot_convert
from loopml.serving._onnx_ops import step_name


def parse_expressions(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    raise cannot_convert(step_name(model, "expressions"), "is not converted yet")


def convert_expressions(scope: Any, operator: Any, container: Any) -> None:
    raise cannot_convert(step_name(operator.raw_operator, "expressions"), "is not converted yet")
