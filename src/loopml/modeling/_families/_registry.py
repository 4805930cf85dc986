"""The record of one model family and the registry the search takes them from."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from loopml.types import TaskKind

if TYPE_CHECKING:
    import optuna

Params = dict[str, Any]

#: How the optional packages of the built-in families are installed.
BOOST_EXTRA = "pip install 'loopml[boost]'"
NEURAL_EXTRA = "pip install 'loopml[neural]'"


def unwrap(model: Any) -> Any:
    """The fitted library model inside a candidate's wrappers (for SHAP, importances).

    Takes a candidate's fitted model (or the whole pipeline) and follows
    :class:`SmoothedClassifier`, the early-stopping wrappers and ``TransformedTargetRegressor``
    down to, e.g., the ``LGBMClassifier``. Any other model is returned as it is.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from loopml.modeling._smoothing import SmoothedClassifier
    >>> unwrap(Ridge())
    Ridge()
    >>> import numpy as np
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> smoothed = SmoothedClassifier(DecisionTreeClassifier()).fit([[0], [1]], ["a", "b"])
    >>> type(unwrap(smoothed)).__name__
    'DecisionTreeClassifier'
    """
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    from loopml.modeling._boosting import EarlyStoppingClassifier, EarlyStoppingRegressor
    from loopml.modeling._smoothing import SmoothedClassifier

    if isinstance(model, Pipeline):
        model = model.steps[-1][1]
    while True:
        if isinstance(model, SmoothedClassifier | EarlyStoppingClassifier | EarlyStoppingRegressor):
            model = model.estimator_
        elif isinstance(model, TransformedTargetRegressor):
            model = model.regressor_
        else:
            return model


def all_params(task: TaskKind, params: Params) -> Params:
    """Every parameter matters on every task (the default of :attr:`ModelFamily.task_params`)."""
    return dict(params)


@dataclass(frozen=True)
class ModelFamily:
    """Everything loopml knows about one model family, in one record.

    ``build(task, params, seed, n_jobs)`` returns an unfitted estimator; it reads
    ``params["class_weight"]`` (``"balanced"`` or None) for classification. ``defaults`` is the
    portfolio configuration and ``space`` proposes a configuration for an Optuna trial (each
    parameter name prefixed with the family's short name). ``cost_prior`` is the fit time of
    the defaults relative to LightGBM's on the same rows, to estimate a family not tried yet;
    ``needs_scaling`` families (linear models, k-nearest neighbours, the MLP) get imputed,
    scaled, one-hot inputs, and their time grows with that width rather than with the rows;
    every other family gets raw numbers and ordinal category codes. The portfolio tries the
    families by increasing ``portfolio_rank``. ``interpretable: true`` allows only the
    ``interpretable`` families. A family whose ``requires`` modules do not import is
    unavailable (``install_hint`` says how to get them); with ``check_by_import`` false they
    are only looked for, not imported (importing torch and pytabkit takes seconds every search
    would pay, networks or not); ``load_seconds`` is what that import costs the first fold, which
    the budget adds to the family's first estimate. ``task_params`` keeps the parameters
    that matter on a task, with task-dependent defaults spelled out. ``unwrap`` finds the
    fitted library model inside the family's wrappers. ``native_categoricals``: the model
    splits on the category codes as categories (it is told which columns they are).
    """

    name: str
    build: Callable[[TaskKind, Params, int, int], Any]
    defaults: Params
    space: Callable[[optuna.Trial, TaskKind], Params]
    cost_prior: float
    needs_scaling: bool
    portfolio_rank: int
    interpretable: bool = False
    requires: tuple[str, ...] = ()
    install_hint: str = BOOST_EXTRA
    classification_only_params: tuple[str, ...] = ("class_weight",)
    task_params: Callable[[TaskKind, Params], Params] = all_params
    unwrap: Callable[[Any], Any] = unwrap
    native_categoricals: bool = False
    check_by_import: bool = True
    load_seconds: float = 0.0

    @property
    def encoding(self) -> Literal["onehot", "ordinal"]:
        """``"onehot"`` (imputed, scaled, one-hot) or ``"ordinal"`` (raw numbers, int codes)."""
        return "onehot" if self.needs_scaling else "ordinal"

    def make(self, task: TaskKind, params: Params | None, seed: int, n_jobs: int) -> Any:
        """The unfitted estimator of ``params`` on top of the defaults."""
        return self.build(task, {**self.defaults, **(params or {})}, seed, n_jobs)

    def why_unavailable(self) -> str | None:
        """Why this family cannot be trained here (a required module does not import), or None."""
        for module in self.requires:
            try:
                if not self.check_by_import:
                    if importlib.util.find_spec(module) is None:
                        raise ModuleNotFoundError(f"No module named {module!r}")
                    continue
                importlib.import_module(module)
            except Exception as exc:  # ImportError, or a broken install failing to load its library
                return (
                    f"{self.name} needs the {module} package, which could not be imported "
                    f"({type(exc).__name__}: {exc}); install it with `{self.install_hint}`."
                )
        return None


class UnknownFamilyError(KeyError, ValueError):
    """A model family name the registry does not hold (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class FamilyRegistry:
    """The model families a search may use, in portfolio order; immutable.

    Examples
    --------
    >>> from loopml.modeling import default_registry
    >>> families = default_registry()
    >>> families.names[:2]
    ('lightgbm', 'linear')
    >>> families.only(["knn", "linear"]).names
    ('linear', 'knn')
    >>> families.cost_prior("catboost")
    8.0
    """

    __slots__ = ("_families",)

    def __init__(self, families: Iterable[ModelFamily]) -> None:
        table: dict[str, ModelFamily] = {}
        for family in families:
            if family.name in table:
                raise ValueError(
                    f"model family {family.name!r} is given twice; use with_families() to "
                    "replace a family."
                )
            table[family.name] = family
        ordered = sorted(table.values(), key=lambda f: (f.portfolio_rank, f.name))
        self._families = {f.name: f for f in ordered}

    def __getitem__(self, name: str) -> ModelFamily:
        family = self._families.get(name)
        if family is None:
            raise self._unknown(name)
        return family

    def _unknown(self, name: str) -> UnknownFamilyError:
        return UnknownFamilyError(
            f"unknown model family {name!r}; known: {', '.join(self._families)}."
        )

    def __contains__(self, name: object) -> bool:
        return name in self._families

    def __iter__(self) -> Iterator[ModelFamily]:
        return iter(self._families.values())

    def __len__(self) -> int:
        return len(self._families)

    def __repr__(self) -> str:
        return f"FamilyRegistry({', '.join(self._families)})"

    @property
    def names(self) -> tuple[str, ...]:
        """Every family's name, in portfolio order."""
        return tuple(self._families)

    @property
    def interpretable(self) -> tuple[str, ...]:
        """The families ``interpretable: true`` allows, in portfolio order."""
        return tuple(f.name for f in self if f.interpretable)

    def _known(self, families: Iterable[str] | None) -> tuple[str, ...]:
        """``families`` (default: all, in portfolio order), each checked to be known."""
        if families is None:
            return self.names
        names = tuple(families)
        for name in names:
            if name not in self._families:
                raise self._unknown(name)
        return names

    def portfolio(self, families: Iterable[str] | None = None) -> tuple[str, ...]:
        """The given families (default: all) in portfolio order, each once."""
        wanted = set(self._known(families))
        return tuple(name for name in self._families if name in wanted)

    def available(self, families: Iterable[str] | None = None) -> tuple[str, ...]:
        """The given families (default: all, in portfolio order) that can be trained here, in
        the order given."""
        return tuple(name for name in self._known(families) if self[name].why_unavailable() is None)

    def unavailable(self, families: Iterable[str] | None = None) -> dict[str, str]:
        """The given families (default: all) that cannot be trained here, each with the reason."""
        reasons = {name: self[name].why_unavailable() for name in self._known(families)}
        return {name: reason for name, reason in reasons.items() if reason is not None}

    def relevant_params(self, family: str, task: TaskKind, params: Params) -> Params:
        """The parameters that matter for ``family`` on ``task`` (drops C for regression etc.).

        Task-dependent defaults are spelled out (extra trees' ``max_features``), and the
        classification-only parameters (``class_weight``) are kept only when they are set on a
        classification task.
        """
        record = self[family]
        only_classes = record.classification_only_params
        kept = record.task_params(task, params)
        kept.update({k: params[k] for k in only_classes if k in params})
        for key in only_classes:
            if key in kept and (task == "regression" or kept[key] is None):
                del kept[key]
        return kept

    def cost_prior(self, family: str) -> float:
        """The cost prior of ``family``; of an unknown family, the largest one (or 1.0)."""
        if family in self._families:
            return self._families[family].cost_prior
        return max((f.cost_prior for f in self), default=1.0)

    def load_seconds(self, family: str) -> float:
        """Seconds ``family``'s library takes to load before its first fold (0 if unknown)."""
        return self._families[family].load_seconds if family in self._families else 0.0

    def with_families(self, *extra: ModelFamily) -> FamilyRegistry:
        """A registry with ``extra`` added, replacing the families of the same name."""
        replaced = {f.name for f in extra}
        return FamilyRegistry([*(f for f in self if f.name not in replaced), *extra])

    def only(self, names: Iterable[str]) -> FamilyRegistry:
        """A registry of the named families only."""
        return FamilyRegistry(self[name] for name in dict.fromkeys(self._known(names)))


def require(module: str, family: str, install_hint: str = BOOST_EXTRA) -> Any:
    """Import the optional ``module`` that ``family`` needs, or say how to get it.

    Raises
    ------
    TrainingError
        When ``module`` does not import.
    """
    from loopml.errors import TrainingError

    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install failing to load its library
        raise TrainingError(
            f"model family {family!r} needs the {module} package, which could not be imported "
            f"({type(exc).__name__}: {exc}). Install it with `{install_hint}`, "
            f"or leave {family} out of training.models."
        ) from exc
