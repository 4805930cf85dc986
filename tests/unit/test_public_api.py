"""The public API: every subpackage's ``__all__`` is exactly what it exports."""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from types import ModuleType

import pytest

import loopml

SUBPACKAGES = sorted(info.name for info in pkgutil.iter_modules(loopml.__path__) if info.ispkg)

#: Subpackages whose namespace leaks names that are not in ``__all__`` (a known bug each).
LEAKING: dict[str, str] = {}  # subpackage -> reason, for a known leak being fixed


def public_names(module: ModuleType) -> set[str]:
    """Names without a leading underscore, minus submodules and `annotations`.

    ``dir()``, not ``vars()``: a subpackage's names load on first use (PEP 562).
    """
    names = set()
    for name in dir(module):
        if name.startswith("_") or name == "annotations":
            continue
        value = getattr(module, name)
        if isinstance(value, ModuleType) and value.__name__.startswith(module.__name__ + "."):
            continue
        names.add(name)
    return names


def test_the_layout_has_the_stage_subpackages() -> None:
    assert {"data", "features", "modeling", "evaluation", "registry", "serving"} <= set(SUBPACKAGES)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(strict=True, reason=LEAKING[name], raises=AssertionError),
        )
        if name in LEAKING
        else name
        for name in SUBPACKAGES
    ],
)
def test_subpackage_all_equals_its_public_names(name: str) -> None:
    module = importlib.import_module(f"loopml.{name}")
    declared = list(module.__all__)
    assert len(declared) == len(set(declared)), f"duplicates in loopml.{name}.__all__"
    exported = public_names(module)
    assert {
        "not in __all__": exported - set(declared),
        "not defined": set(declared) - exported,
    } == {
        "not in __all__": set(),
        "not defined": set(),
    }


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_all_names_resolve(name: str) -> None:
    module = importlib.import_module(f"loopml.{name}")
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_top_level_all_names_resolve() -> None:
    assert len(loopml.__all__) == len(set(loopml.__all__))
    missing = [n for n in loopml.__all__ if not hasattr(loopml, n)]
    assert missing == []


def test_top_level_exposes_the_documented_entry_points() -> None:
    documented = {"Project", "AutoClassifier", "AutoRegressor", "load_config", "LoopmlError"}
    assert documented <= set(loopml.__all__)
    assert loopml.__version__ == importlib.metadata.version("loopml")


def test_top_level_all_names_have_no_private_spellings() -> None:
    assert [n for n in loopml.__all__ if n.startswith("_") and n != "__version__"] == []
