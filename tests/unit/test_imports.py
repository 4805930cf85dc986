"""What imports what: start-up cost, and the import contracts between packages.

Start-up (issue 8: a CLI that starts at once): each command imports only what it needs. These
check which libraries are loaded, not how long it takes, so they pass on any machine.

Contracts (issue 9): a stage imports only earlier stages, every package is placed in the
layers, and no package imports another one's private module; shown to break on violations.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: What the data, modelling and registry stages need; none of it is needed to parse a command.
DATA_AND_MODELLING = [
    "pandas",
    "numpy",
    "pyarrow",
    "sklearn",
    "scipy",
    "lightgbm",
    "optuna",
    "mlflow",
    "sqlalchemy",
    "plotly",
    "jinja2",
    "torch",  # the [neural] extra: pytabkit's networks and the TensorBoard writer
    "pytabkit",
    "tensorboard",
]


def loaded_after(code: str, modules: list[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in done.stdout.strip().split(",") if m]


def test_data_and_reports_do_not_import_the_modelling_stack() -> None:
    heavy = ["sklearn", "lightgbm", "optuna", "mlflow", "scipy.stats", "plotly.graph_objects"]
    assert loaded_after("import loopml, loopml.data, loopml.reports", heavy) == []


def test_the_command_line_loads_no_data_or_modelling_library() -> None:
    assert loaded_after("import loopml.cli", DATA_AND_MODELLING) == []


def test_help_loads_no_data_or_modelling_library() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from loopml.cli import app\n"
        "for args in (['--help'], ['models', '--help'], ['score', '--help'],\n"
        "             ['train', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
    )
    assert loaded_after(code, DATA_AND_MODELLING) == []


def test_import_loopml_loads_neither_pandas_nor_the_config_models() -> None:
    assert loaded_after("import loopml", ["pandas", "numpy", "pydantic", "yaml"]) == []


def test_the_search_finds_the_networks_without_importing_them() -> None:
    # importing torch and pytabkit takes seconds; a search that never fits a network must not
    code = (
        "from loopml.modeling import default_registry\n"
        "families = default_registry()\n"
        "families.available(), families.unavailable()\n"
    )
    assert loaded_after(code, ["torch", "pytabkit", "tensorboard"]) == []


def test_stage_packages_load_only_the_module_of_a_name_used() -> None:
    # the registry's read side must not drag in scikit-learn through the bundle module
    code = "from loopml.registry import Registry, ModelVersionInfo"
    assert loaded_after(code, ["sklearn", "joblib", "optuna", "mlflow"]) == []


def test_the_console_script_spares_the_collector_at_start_and_exit() -> None:
    # raised threshold while the imports run; frozen heap so the final collections skip it
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('gc:', gc.get_freeze_count() > 0, gc.get_threshold()))\n"
        "sys.argv = ['loopml', '--help']\n"
        "from loopml.cli import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "gc: True (10000, 10, 10)"


def test_lazy_public_names_resolve() -> None:
    import loopml

    assert loopml.Project.__name__ == "Project"
    assert loopml.AutoClassifier.__module__ == "loopml.modeling._auto"
    assert "Project" in dir(loopml) and "load_config" in dir(loopml)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import loopml.data

    with pytest.raises(AttributeError, match="has no attribute 'colect'"):
        loopml.data.colect  # noqa: B018


# --doctest-modules imports every module under src/loopml: one that printed, wrote a file,
# configured logging or needed an optional extra would break or slow every test run.
_EVERY_MODULE = """
import importlib, json, logging, os, pkgutil, sys
import loopml

before = (sorted(os.listdir(".")), list(logging.getLogger().handlers))
failed = {}
for info in pkgutil.walk_packages(loopml.__path__, "loopml."):
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
after = (sorted(os.listdir(".")), list(logging.getLogger().handlers))
print(json.dumps({"failed": failed, "unchanged": before == after}))
"""


def test_every_module_imports_without_side_effects(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _EVERY_MODULE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout) == {"failed": {}, "unchanged": True}
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


# -- the import contracts (pyproject.toml, [tool.importlinter]) --------------------------------

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

#: Modules added to a copy of the source, each breaking one rule of the contracts.
VIOLATIONS = {
    # another package's private module
    "reports/_leak.py": "from loopml.data._profile_types import Matrix\n",
    # an earlier stage importing a later one
    "data/_ahead.py": "import loopml.modeling\n",
    # a package the layers do not list
    "newstage/__init__.py": '"""A stage nobody placed in the layers."""\n',
    # a package a coming issue adds: optional in the layers, checked once it exists
    "monitoring/__init__.py": "from loopml.loop import promote\n",
}


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``root``'s pyproject.toml on the loopml under ``root/src``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def broken_copy(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """The contracts run on a copy of the source with :data:`VIOLATIONS` added."""
    root = tmp_path_factory.mktemp("contracts")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    package = root / "src" / "loopml"
    shutil.copytree(ROOT / "src" / "loopml", package, ignore=shutil.ignore_patterns("__pycache__"))
    for name, code in VIOLATIONS.items():
        (package / name).parent.mkdir(exist_ok=True)
        (package / name).write_text(code, encoding="utf-8")
    return lint_imports(root)


def test_the_source_keeps_the_import_contracts() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_the_contracts_break_on_a_copy_with_violations(
    broken_copy: subprocess.CompletedProcess[str],
) -> None:
    assert broken_copy.returncode == 1
    assert "Contracts: 0 kept, 2 broken." in broken_copy.stdout


def test_importing_another_packages_private_module_is_caught(
    broken_copy: subprocess.CompletedProcess[str],
) -> None:
    assert "- loopml.reports._leak -> loopml.data._profile_types (l.1)" in broken_copy.stdout


def test_an_earlier_stage_importing_a_later_one_is_caught(
    broken_copy: subprocess.CompletedProcess[str],
) -> None:
    assert "loopml.data is not allowed to import loopml.modeling" in broken_copy.stdout
    assert "- loopml.data._ahead -> loopml.modeling (l.1)" in broken_copy.stdout


def test_a_package_missing_from_the_layers_is_caught(
    broken_copy: subprocess.CompletedProcess[str],
) -> None:
    unlisted = broken_copy.stdout.split("not listed as layers:")[1].split("(Since")[0]
    assert unlisted.split() == ["-", "loopml.newstage"]


def test_a_coming_package_is_checked_once_it_exists(
    broken_copy: subprocess.CompletedProcess[str],
) -> None:
    assert "loopml.monitoring is not allowed to import loopml.loop" in broken_copy.stdout
