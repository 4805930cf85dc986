"""Compatibility names for the model families, read from :func:`default_registry`.

The families live in :mod:`loopml.modeling._families`, one record per family. This module
keeps the old names working for the code that still uses them (the search and the
estimators) and goes away once they take a :class:`FamilyRegistry`.
"""

from __future__ import annotations

from collections.abc import Iterable

from loopml.modeling._families import (
    FamilyRegistry,
    ModelFamily,
    Params,
    default_registry,
    resolve_class_weight,
    unwrap,
)
from loopml.types import TaskKind

__all__ = [
    "CANDIDATES",
    "INTERPRETABLE_FAMILIES",
    "PORTFOLIO_ORDER",
    "Candidate",
    "FamilyRegistry",
    "Params",
    "available_families",
    "relevant_params",
    "resolve_class_weight",
    "unavailable_families",
    "unwrap",
    "why_unavailable",
]

#: The old name of a family's record.
Candidate = ModelFamily

#: name -> record of every built-in family. This is the default registry's own table: the
#: tests of ``search()`` that replace a family here (until the search takes a registry) reach
#: every place that builds the family. Nothing else writes to it.
CANDIDATES: dict[str, ModelFamily] = default_registry()._families

#: Order in which the portfolio of defaults is tried.
PORTFOLIO_ORDER: tuple[str, ...] = default_registry().names

#: The families ``interpretable: true`` allows: linear models and shallow trees.
INTERPRETABLE_FAMILIES: tuple[str, ...] = default_registry().interpretable


def relevant_params(family: str, task: TaskKind, params: Params) -> Params:
    """The parameters that matter for ``family`` on ``task`` (see ``FamilyRegistry``)."""
    return default_registry().relevant_params(family, task, params)


def why_unavailable(family: str) -> str | None:
    """Why ``family`` cannot be trained here, or None.

    Raises
    ------
    ValueError
        When ``family`` is not a known family.
    """
    return default_registry()[family].why_unavailable()


def available_families(families: Iterable[str] = PORTFOLIO_ORDER) -> tuple[str, ...]:
    """The families of ``families`` that can be trained here, in the order given."""
    return default_registry().available(families)


def unavailable_families(families: Iterable[str] = PORTFOLIO_ORDER) -> dict[str, str]:
    """The families of ``families`` that cannot be trained here, each with the reason."""
    return default_registry().unavailable(families)
