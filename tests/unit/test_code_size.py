"""Size limits on loopml's own code (issue 9): short functions, modules under ~600 lines.

Ruff checks complexity, parameters and statements (`C901`, `PLR0913`, `PLR0915`); this test adds
the two limits ruff has no rule for: the length of a function body and of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import loopml

SOURCE = Path(loopml.__file__).parent
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600


def _body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = function.body
    first = body[0]
    has_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if has_docstring and len(body) > 1:
        first = body[1]
    end = function.end_lineno or function.lineno
    return end - first.lineno + 1


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.AST]]:
    """Every function and method, with its dotted name (`Class.method`, `outer.inner`)."""
    found: list[tuple[str, ast.AST]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                found.append((name, node))
            found.extend(_functions(node, f"{name}."))
        else:
            found.extend(_functions(node, prefix))
    return found


def long_functions(root: Path, limit: int) -> dict[str, int]:
    """`module::function` -> body lines, for every function under `root` longer than `limit`."""
    offenders: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, node in _functions(tree):
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            lines = _body_lines(node)
            if lines > limit:
                offenders[f"{module}::{name}"] = lines
    return offenders


def long_modules(root: Path, limit: int) -> dict[str, int]:
    """Module path -> line count, for every module under `root` longer than `limit`."""
    offenders: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            offenders[path.relative_to(root).as_posix()] = lines
    return offenders


def test_no_function_body_is_longer_than_the_limit() -> None:
    offenders = long_functions(SOURCE, MAX_FUNCTION_LINES)
    listing = ", ".join(f"{name} ({lines} lines)" for name, lines in offenders.items())
    assert not offenders, f"function bodies over {MAX_FUNCTION_LINES} lines: {listing}"


def test_no_module_is_longer_than_the_limit() -> None:
    offenders = long_modules(SOURCE, MAX_MODULE_LINES)
    listing = ", ".join(f"{name} ({lines} lines)" for name, lines in offenders.items())
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines: {listing}"


def test_the_checks_find_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    source = [
        "class Shape:",
        "    def area(self):",
        '        """The docstring does not count."""',
        *(f"        x{i} = {i}" for i in range(5)),
        "def short():",
        "    return 1",
    ]
    (tmp_path / "big.py").write_text("\n".join(source) + "\n", encoding="utf-8")
    assert long_functions(tmp_path, 4) == {"big.py::Shape.area": 5}
    assert long_functions(tmp_path, 5) == {}
    assert long_modules(tmp_path, 9) == {"big.py": 10}
    assert long_modules(tmp_path, 10) == {}
