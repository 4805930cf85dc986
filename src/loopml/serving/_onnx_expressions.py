"""ONNX converter for ExpressionFeatures: declared arithmetic and comparisons as graph nodes.

An expression (``features.expressions``) is read with :mod:`ast` as ExpressionFeatures reads
it, and each operation becomes the ONNX operator computing it on ``double`` values (numbers)
or ``string`` values (category labels); comparisons give booleans, which become 1.0 / 0.0.
As in pandas, infinities become missing, and a row missing a column the expression uses
gets a missing result. Expressions on timestamps (time differences) are not converted.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np

from loopml.serving._onnx_base import MISSING_LABEL, cannot_convert
from loopml.serving._onnx_ops import const, double, is_double, is_string, node, step_name

_BACKTICKS = re.compile(r"`([^`]+)`")
_ARITHMETIC = {ast.Add: "Add", ast.Sub: "Sub", ast.Mult: "Mul", ast.Div: "Div", ast.Pow: "Pow"}
_COMPARE = {
    ast.Eq: ("Equal", False),
    ast.NotEq: ("Equal", True),
    ast.Lt: ("Less", False),
    ast.LtE: ("LessOrEqual", False),
    ast.Gt: ("Greater", False),
    ast.GtE: ("GreaterOrEqual", False),
}
_LOGIC = {ast.And: "And", ast.Or: "Or", ast.BitAnd: "And", ast.BitOr: "Or"}


class Expression:
    """One declared expression of a fitted ExpressionFeatures step."""

    def __init__(self, step: Any, name: str, text: str, used: tuple[str, ...]):
        self.step = step
        self.name = name
        self.text = text
        self.used = used


def parse_expressions(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Each expression adds one ``double`` column, reading the columns (and the expressions
    before it) that it uses."""
    variables = {v.raw_name: v for v in inputs}
    out = list(inputs)
    for name, text in dict(model.expressions or {}).items():
        used = tuple(model.columns_used_[name])
        read = [variables[c] for c in used]
        if not all(is_double(v) or is_string(v) for v in read):
            raise cannot_convert(
                step_name(model, "expressions"),
                f"computes {name!r} from timestamps, which loopml does not export to ONNX",
            )
        result = scope.declare_local_variable(name, double())
        operator = scope.declare_local_operator(
            "LoopmlExpressionFeatures", Expression(model, name, text, used)
        )
        operator.inputs.extend(read)
        operator.outputs.append(result)
        variables[name] = result
        out.append(result)
    return out


def convert_expressions(scope: Any, operator: Any, container: Any) -> None:
    expression: Expression = operator.raw_operator
    quoted: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        label = f"_loopml_quoted_{len(quoted)}"
        quoted[label] = match.group(1)
        return label

    tree = ast.parse(_BACKTICKS.sub(placeholder, expression.text.strip()), mode="eval")
    names = {v.raw_name: v for v in operator.inputs}
    builder = _Builder(scope, container, expression, names, quoted)
    value, kind = builder.build(tree.body)
    value = builder.as_double(value, kind)
    nan = const(scope, container, np.float64(np.nan), "nan")
    infinite = node(scope, container, "IsInf", [value])
    value = node(scope, container, "Where", [infinite, nan, value])
    for variable in operator.inputs:
        missing = _missing(scope, container, variable)
        value = node(scope, container, "Where", [missing, nan, value])
    node(scope, container, "Identity", [value], operator.outputs[0].full_name)


def _missing(scope: Any, container: Any, variable: Any) -> str:
    if is_string(variable):
        return _is_label(scope, container, variable.full_name, MISSING_LABEL)
    return node(scope, container, "IsNaN", [variable.full_name])


def _is_label(scope: Any, container: Any, x: str, label: str) -> str:
    """Where ``x`` equals ``label`` (Equal reads strings only from ONNX opset 19)."""
    hit = node(
        scope,
        container,
        "LabelEncoder",
        [x],
        domain="ai.onnx.ml",
        keys_strings=[label],
        values_int64s=[1],
        default_int64=0,
    )
    return node(scope, container, "Cast", [hit], to=9)  # BOOL


class _Builder:
    """Turns an expression's syntax tree into nodes; each value has a kind: number, text or
    flag (boolean)."""

    def __init__(
        self,
        scope: Any,
        container: Any,
        expression: Expression,
        names: dict[str, Any],
        quoted: dict[str, str],
    ):
        self.scope, self.container = scope, container
        self.expression = expression
        self.names = names
        self.quoted = quoted
        self.texts: dict[str, str] = {}  # text constant's name -> its value

    def fail(self, what: str) -> Exception:
        step = step_name(self.expression.step, "expressions")
        return cannot_convert(step, f"computes {self.expression.name!r} with {what}")

    def node(self, op_type: str, inputs: list[str]) -> str:
        return node(self.scope, self.container, op_type, inputs)

    def as_double(self, value: str, kind: str) -> str:
        if kind == "text":
            raise self.fail("a text result")
        if kind == "flag":
            return node(self.scope, self.container, "Cast", [value], to=11)  # DOUBLE
        return value

    def build(self, tree: ast.AST) -> tuple[str, str]:
        if isinstance(tree, ast.Name):
            variable = self.names[self.quoted.get(tree.id, tree.id)]
            return variable.full_name, "text" if is_string(variable) else "number"
        if isinstance(tree, ast.Constant):
            if isinstance(tree.value, str):
                text = const(self.scope, self.container, np.asarray([tree.value], dtype=object))
                self.texts[text] = tree.value
                return text, "text"
            number = tree.value if isinstance(tree.value, (int, float)) else np.nan
            return const(self.scope, self.container, np.float64(number)), "number"
        if isinstance(tree, ast.BinOp):
            return self.binary(tree)
        if isinstance(tree, ast.UnaryOp):
            value, kind = self.build(tree.operand)
            if isinstance(tree.op, ast.USub):
                return self.node("Neg", [self.as_double(value, kind)]), "number"
            if isinstance(tree.op, ast.UAdd):
                return value, kind
            return self.node("Not", [self.flag(value, kind)]), "flag"
        if isinstance(tree, ast.BoolOp):
            values = [self.flag(*self.build(v)) for v in tree.values]
            out = values[0]
            for value in values[1:]:
                out = self.node(_LOGIC[type(tree.op)], [out, value])
            return out, "flag"
        if isinstance(tree, ast.Compare):
            return self.compare(tree)
        raise self.fail(f"{type(tree).__name__}, which has no ONNX form here")

    def flag(self, value: str, kind: str) -> str:
        if kind == "flag":
            return value
        raise self.fail("a logical operation on a number or text")

    def binary(self, tree: ast.BinOp) -> tuple[str, str]:
        op = type(tree.op)
        if op in _LOGIC:
            flags = [self.flag(*self.build(tree.left)), self.flag(*self.build(tree.right))]
            return self.node(_LOGIC[op], flags), "flag"
        left = self.as_double(*self.build(tree.left))
        right = self.as_double(*self.build(tree.right))
        if op in _ARITHMETIC:
            return self.node(_ARITHMETIC[op], [left, right]), "number"
        if op is ast.FloorDiv:
            return self.node("Floor", [self.node("Div", [left, right])]), "number"
        if op is ast.Mod:  # Python's modulo on floats: a - floor(a / b) * b
            floor = self.node("Floor", [self.node("Div", [left, right])])
            return self.node("Sub", [left, self.node("Mul", [floor, right])]), "number"
        raise self.fail(f"the operator {op.__name__}")

    def compare(self, tree: ast.Compare) -> tuple[str, str]:
        result = None
        left = self.build(tree.left)
        for op, comparator in zip(tree.ops, tree.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                value = self.membership(left, comparator, isinstance(op, ast.NotIn))
                right = left
            else:
                right = self.build(comparator)
                value = self.compare_pair(op, left, right)
            result = value if result is None else self.node("And", [result, value])
            left = right
        return result or "", "flag"

    def compare_pair(self, op: ast.cmpop, left: tuple[str, str], right: tuple[str, str]) -> str:
        kinds = {left[1], right[1]}
        if len(kinds) > 1 and "text" in kinds:
            raise self.fail("a comparison of text with a number")
        a, b = left[0], right[0]
        if "flag" in kinds:
            a, b = self.as_double(*left), self.as_double(*right)
        op_type, negate = _COMPARE[type(op)]
        if "text" in kinds:
            if op_type != "Equal":
                raise self.fail("an ordering of text")
            constants = [n for n in (a, b) if n in self.texts]
            if len(constants) != 1:
                raise self.fail("a comparison of two text columns")
            column = b if a in self.texts else a
            value = _is_label(self.scope, self.container, column, self.texts[constants[0]])
        else:
            value = self.node(op_type, [a, b])
        return self.node("Not", [value]) if negate else value

    def membership(self, left: tuple[str, str], options: ast.AST, negate: bool) -> str:
        if not isinstance(options, (ast.List, ast.Tuple)) or not options.elts:
            raise self.fail("`in` on something other than a list of constants")
        value = None
        for option in options.elts:
            equal = self.compare_pair(ast.Eq(), left, self.build(option))
            value = equal if value is None else self.node("Or", [value, equal])
        return self.node("Not", [value or ""]) if negate else value or ""
