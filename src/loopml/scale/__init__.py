"""The Dask engine (``execution: {engine: dask}``): a cluster to run on, and the search's
folds as Dask tasks over training data scattered to the workers once (issue 12)."""

from __future__ import annotations

import typing as _typing

from loopml._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:  # the names' types for mypy; at run time they load on first use
    from loopml.scale._engine import dask_client, search_executor, with_dask
    from loopml.scale._executor import DaskExecutor
    from loopml.scale._score import score_dataset_dask
    from loopml.scale._spark import spark_scorer

# each name is imported from its module on first use (PEP 562): importing the package is free
__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "loopml.scale._engine": ["dask_client", "search_executor", "with_dask"],
        "loopml.scale._executor": ["DaskExecutor"],
        "loopml.scale._score": ["score_dataset_dask"],
        "loopml.scale._spark": ["spark_scorer"],
    },
)

__all__ = [
    "DaskExecutor",
    "dask_client",
    "score_dataset_dask",
    "search_executor",
    "spark_scorer",
    "with_dask",
]
