"""A registry view of :mod:`loopml.modeling._candidates`, until ``_families`` replaces both."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from loopml.modeling import _candidates as legacy
from loopml.types import TaskKind

#: Rough fit time of each family's defaults relative to LightGBM's on the same rows, to
#: estimate a family not tried yet from the ones that were. Deliberately on the slow side.
COST_PRIOR = {
    "linear": 1.0,
    "lightgbm": 1.0,
    "hist_gradient_boosting": 1.0,
    "xgboost": 2.0,
    "extra_trees": 2.0,
    "random_forest": 3.0,
    "catboost": 8.0,  # native categoricals: its category statistics cost the most
    "decision_tree": 0.3,
    "knn": 1.5,
    "mlp": 2.5,
}
#: Families whose time grows with the encoded width (one-hot) rather than the rows.
_SCALED = frozenset({"linear", "knn", "mlp"})


@dataclass(frozen=True)
class _Family:
    name: str
    candidate: Any

    @property
    def defaults(self) -> dict[str, Any]:
        return self.candidate.defaults

    @property
    def space(self) -> Any:
        return self.candidate.space

    @property
    def needs_scaling(self) -> bool:
        return self.name in _SCALED


class FamilyRegistry:
    def __iter__(self) -> Iterator[_Family]:
        return iter(_Family(n, legacy.CANDIDATES[n]) for n in legacy.PORTFOLIO_ORDER)

    def __getitem__(self, name: str) -> _Family:
        return _Family(name, legacy.CANDIDATES[name])

    @property
    def names(self) -> tuple[str, ...]:
        return legacy.PORTFOLIO_ORDER

    @property
    def interpretable(self) -> tuple[str, ...]:
        return legacy.INTERPRETABLE_FAMILIES

    def portfolio(self, families: Iterable[str] | None = None) -> tuple[str, ...]:
        chosen = set(legacy.PORTFOLIO_ORDER if families is None else families)
        return tuple(f for f in legacy.PORTFOLIO_ORDER if f in chosen)

    def available(self, families: Iterable[str] | None = None) -> tuple[str, ...]:
        return legacy.available_families(legacy.PORTFOLIO_ORDER if families is None else families)

    def unavailable(self, families: Iterable[str] | None = None) -> dict[str, str]:
        return legacy.unavailable_families(legacy.PORTFOLIO_ORDER if families is None else families)

    def relevant_params(
        self, family: str, task: TaskKind, params: dict[str, Any]
    ) -> dict[str, Any]:
        return legacy.relevant_params(family, task, params)

    def cost_prior(self, family: str) -> float:
        return COST_PRIOR.get(family, max(COST_PRIOR.values()))


def default_registry() -> FamilyRegistry:
    return FamilyRegistry()
