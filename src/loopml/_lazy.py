"""Lazy public names for a package (PEP 562), so importing it costs nothing until used.

A subpackage lists where each public name lives; the module that defines a name is imported
the first time the name is looked up (``from loopml.data import collect`` imports only
``loopml.data._sources``). ``loopml --help`` and ``loopml models list`` then never load
scikit-learn, LightGBM, Optuna or Plotly.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, loading each name on first use.

    Parameters
    ----------
    package
        The package's ``__name__``.
    exports
        Module (absolute name) -> the public names it defines that the package re-exports.

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` to assign in the package's ``__init__``. A loaded name is
        stored in the package's namespace, so the next lookup does not go through here.

    Examples
    --------
    >>> import types
    >>> package = sys.modules.setdefault("lazy_demo", types.ModuleType("lazy_demo"))
    >>> package.__getattr__, package.__dir__ = lazy_exports("lazy_demo", {"json": ["dumps"]})
    >>> "dumps" in vars(package), package.dumps([1]), "dumps" in vars(package)
    (False, '[1]', True)
    >>> del sys.modules["lazy_demo"]
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
