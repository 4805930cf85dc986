"""The model families: one :class:`ModelFamily` record per family, one module per family.

Each module of this package that defines ``FAMILIES`` (a tuple of records) contributes them
to :func:`default_registry`; adding a family is adding one module. The built-in portfolio
runs cheap and strong first (LightGBM is the first model, which always completes; a linear
model next, cheap on small data and a different view for the ensemble). CatBoost is strong
but costs several LightGBM fits on one core, so it follows the forests; the decision tree is
cheap but weak; k-nearest neighbours and the MLP, usually weak on tabular data, come late;
the networks of the ``[neural]`` extra, RealMLP and TabM, strong but the dearest per row, come
last, where the budget's cost estimate decides whether they run at all.

Building a family imports its library (LightGBM, XGBoost, CatBoost, scikit-learn's models)
only then, so importing this package stays cheap.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from loopml.modeling._families._class_weight import resolve_class_weight
from loopml.modeling._families._registry import (
    NEURAL_EXTRA,
    FamilyRegistry,
    ModelFamily,
    Params,
    UnknownFamilyError,
    require,
    unwrap,
)

__all__ = [
    "NEURAL_EXTRA",
    "FamilyRegistry",
    "ModelFamily",
    "Params",
    "UnknownFamilyError",
    "default_registry",
    "require",
    "resolve_class_weight",
    "unwrap",
]


@functools.cache
def default_registry() -> FamilyRegistry:
    """The built-in model families: every ``FAMILIES`` record of this package's modules.

    Examples
    --------
    >>> families = default_registry()
    >>> families.names[:3]
    ('lightgbm', 'linear', 'hist_gradient_boosting')
    >>> len(families), families.interpretable
    (12, ('linear', 'decision_tree'))
    """
    families: list[ModelFamily] = []
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        families.extend(getattr(loaded, "FAMILIES", ()))
    return FamilyRegistry(families)
