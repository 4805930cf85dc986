"""The mypy set-up in pyproject.toml: what is strict, and a relaxed list that only shrinks.

``make lint`` runs mypy itself; these tests keep its configuration honest: the core packages
stay strict with every flag ``--strict`` turns on, and nobody quietly relaxes a module.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MYPY: dict[str, Any] = PYPROJECT["tool"]["mypy"]

#: STYLE.md, Typing and issue 9: these are checked with `mypy --strict`.
STRICT_MODULES = {
    "loopml.config",
    "loopml._config_errors",
    "loopml._config_sources",
    "loopml._config_deploy",
    "loopml._config_problem",
    "loopml._metric_names",
    "loopml.errors",
    "loopml.types",
    "loopml.metrics",
    "loopml.registry",
    "loopml.registry.*",
    "loopml.modeling._training",
}

#: How many loopml modules may have checks turned off (`ignore_errors`, `disable_error_code`).
#: Lower it when a module leaves the relaxed list; it must never grow.
RELAXED_CEILING = 0


def overrides() -> list[dict[str, Any]]:
    return list(MYPY.get("overrides", []))


def modules_of(section: dict[str, Any]) -> set[str]:
    module = section["module"]
    return {module} if isinstance(module, str) else set(module)


def strict_section() -> dict[str, Any]:
    found = [s for s in overrides() if modules_of(s) & STRICT_MODULES]
    assert len(found) == 1, "the strict modules belong in one override section"
    return found[0]


def per_module_strict_flags(tmp_path: Path) -> dict[str, Any]:
    """The per-module options ``mypy --strict`` changes, with the values it sets, asked of mypy."""
    from mypy.main import process_options
    from mypy.options import PER_MODULE_OPTIONS

    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n", encoding="utf-8")

    def options(*flags: str) -> Any:
        return process_options([*flags, "--config-file", str(config), "-c", "pass"])[1]

    plain, strict = options(), options("--strict")
    return {
        name: getattr(strict, name)
        for name in PER_MODULE_OPTIONS
        if getattr(strict, name, None) != getattr(plain, name, None)
    }


def test_every_module_of_the_package_is_checked() -> None:
    assert MYPY["files"] == ["src/loopml"]
    assert "exclude" not in MYPY
    assert MYPY["check_untyped_defs"] is True


def test_the_core_registry_and_training_entry_point_are_strict() -> None:
    assert modules_of(strict_section()) == STRICT_MODULES


def test_the_strict_section_sets_every_flag_of_strict(tmp_path: Path) -> None:
    wanted = per_module_strict_flags(tmp_path)
    assert {"disallow_untyped_defs", "warn_return_any", "disallow_any_generics"} <= set(wanted)
    section = strict_section()
    # a flag set for the whole package covers the strict modules too
    missing = {
        name: value for name, value in wanted.items() if section.get(name, MYPY.get(name)) != value
    }
    assert missing == {}, "set these in the strict override section"


def test_strict_is_not_set_in_an_override() -> None:
    # mypy applies `strict = true` from an override section to every module, not just its own
    assert all("strict" not in section for section in overrides())
    assert "strict" not in MYPY


def test_the_relaxed_list_only_shrinks() -> None:
    relaxed = sorted(
        module
        for section in overrides()
        if section.get("ignore_errors") or section.get("disable_error_code")
        for module in modules_of(section)
    )
    assert all(m.startswith("loopml") for m in relaxed), "third-party modules go elsewhere"
    assert len(relaxed) <= RELAXED_CEILING, f"the relaxed list grew: {relaxed}"
    assert not MYPY.get("disable_error_code"), "no error code is turned off for the package"


def test_third_party_overrides_only_allow_missing_stubs() -> None:
    for section in overrides():
        if any(m.startswith("loopml") for m in modules_of(section)):
            continue
        assert set(section) == {"module", "ignore_missing_imports"}, modules_of(section)


def test_make_lint_runs_mypy() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:")[1].split("\n\n")[0]
    assert [line.strip() for line in lint.splitlines()[1:]] == [
        "$(BIN)/ruff check src tests",
        "$(BIN)/ruff format --check src tests",
        "$(BIN)/mypy",
        "$(BIN)/lint-imports",
    ]


# -- lazy exports: mypy reads the names' real types from a type-checking block ----------------

LAZY_PACKAGES = sorted(
    p
    for p in (ROOT / "src" / "loopml").rglob("__init__.py")
    if "_lazy_exports(" in p.read_text(encoding="utf-8")
)


def lazy_map(tree: ast.Module) -> dict[str, set[str]]:
    """The module -> names mapping handed to ``lazy_exports`` in a package's ``__init__``."""
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_lazy_exports"
    )
    mapping = ast.literal_eval(call.args[1])
    return {module: set(names) for module, names in mapping.items()}


def type_checking_imports(tree: ast.Module) -> dict[str, set[str]]:
    """The ``from M import a, b`` statements under ``if TYPE_CHECKING:`` at module level."""
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                found.setdefault(statement.module, set()).update(
                    alias.name for alias in statement.names if alias.asname is None
                )
    return found


def test_every_package_with_lazy_exports_is_found() -> None:
    names = {p.parent.name for p in LAZY_PACKAGES}
    assert {"loopml", "data", "features", "modeling", "evaluation", "registry"} <= names


@pytest.mark.parametrize(
    "init", LAZY_PACKAGES, ids=lambda p: str(p.parent.relative_to(ROOT / "src"))
)
def test_the_type_checking_block_mirrors_the_lazy_exports(init: Path) -> None:
    # without it every `from loopml.data import X` is `Any` to mypy: __getattr__ returns Any
    tree = ast.parse(init.read_text(encoding="utf-8"))
    assert type_checking_imports(tree) == lazy_map(tree)
