"""Building, fitting and checking one candidate pipeline: what every trial and refit runs."""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from loopml.config import CleaningConfig, Constraints, FeaturesConfig
from loopml.features import build_preprocessor
from loopml.modeling._families import ModelFamily, default_registry
from loopml.modeling._threshold import decide
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.data import NumberFormat


def make_pipeline(
    roles: dict[str, str],
    family: str | ModelFamily,
    task: TaskKind,
    params: dict[str, Any] | None,
    seed: int,
    n_jobs: int,
    cleaning: CleaningConfig | None = None,
    features: FeaturesConfig | None = None,
    numbers: NumberFormat | None = None,
) -> Pipeline:
    """The one fitted object: coercion, cleaning, features, preprocessing and the model.

    ``params`` may carry two pipeline-level choices besides the model's own parameters:
    ``absolute_time`` (keep year/elapsed-time features) and ``selection`` (a feature
    selection method), which the search tries when ``features`` leaves them open.
    ``family`` is a family's record, or the name of one of :func:`default_registry`.
    """
    candidate = family if isinstance(family, ModelFamily) else default_registry()[family]
    params = dict(params or {})
    absolute_time = params.pop("absolute_time", None)
    selection = params.pop("selection", None)
    pre = build_preprocessor(
        roles,
        candidate.encoding,
        cleaning,
        features,
        task=task,
        seed=seed,
        absolute_time=absolute_time,
        selection=selection,
        numbers=numbers,
    )
    model = candidate.make(task, params, seed, n_jobs)
    if candidate.native_categoricals:
        return NativeCategoricalPipeline([*pre.steps, ("model", model)])
    return Pipeline([*pre.steps, ("model", model)])


class NativeCategoricalPipeline(Pipeline):
    """A pipeline that tells its model which features are category codes.

    Which columns the preprocessing turns into ordinal codes is only known once it is fitted
    (high-cardinality ones are target-encoded instead, selection may drop some), so ``fit``
    fits the preprocessing, finds the code columns' positions, sets them as the model's
    ``categorical_features`` and then fits the model: LightGBM and CatBoost split on them as
    categories instead of as ordered numbers.
    """

    def fit(self, X: Any, y: Any = None, **params: Any) -> NativeCategoricalPipeline:
        name, model = self.steps[-1]
        prefix = f"{name}__"
        model_params = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        head_params = {k: v for k, v in params.items() if not k.startswith(prefix)}
        head = Pipeline(self.steps[:-1])
        Xt = head.fit_transform(X, y, **head_params)
        keys = [k for k in model.get_params() if k.split("__")[-1] == "categorical_features"]
        if keys:  # learnt from the data, so set at every fit (a clone keeps the last ones)
            model.set_params(**{keys[0]: category_positions(head)})
        model.fit(Xt, y, **model_params)
        return self


def category_positions(preprocessor: Pipeline) -> tuple[int, ...]:
    """Positions of the ordinal category codes in a fitted preprocessor's output."""
    columns = preprocessor.named_steps.get("columns")
    block = getattr(columns, "output_indices_", {}).get("cat")
    if block is None:
        return ()
    width = int(max((s.stop for s in columns.output_indices_.values()), default=0))
    is_code = np.zeros(width, dtype=bool)
    is_code[block] = True
    selector = preprocessor.named_steps.get("select")
    if selector is not None:
        is_code = is_code[selector.get_support()]
    return tuple(int(j) for j in np.flatnonzero(is_code))


def predict_scores(
    pipeline: Pipeline, X: pd.DataFrame, task: TaskKind, classes: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions and, for classification, probabilities aligned to ``classes``."""
    if task == "regression":
        return np.asarray(pipeline.predict(X), dtype=float), None
    raw = pipeline.predict_proba(X)
    fitted = list(pipeline.classes_)
    proba = np.zeros((len(X), len(classes)))
    for j, c in enumerate(fitted):
        proba[:, list(classes).index(c)] = raw[:, j]
    return decide(pipeline, proba, classes), proba


@contextmanager
def quietly(threads: int) -> Iterator[None]:
    """Fit or predict with at most ``threads`` OpenMP threads and library warnings silenced
    (a candidate's convergence or dtype warnings are not the user's to act on)."""
    with warnings.catch_warnings(), threadpool_limits(threads, user_api="openmp"):
        warnings.simplefilter("ignore")
        yield


def constraint_broken(pipeline: Any, row: pd.DataFrame, limits: Constraints) -> str:
    """Why a fitted pipeline breaks ``limits`` ('' when it does not)."""
    if limits.max_model_mb is not None:
        size_mb = len(pickle.dumps(pipeline)) / 2**20
        if size_mb > limits.max_model_mb:
            return (
                f"model is {size_mb:.1f} MB, over problem.constraints.max_model_mb "
                f"{limits.max_model_mb:g}"
            )
    if limits.max_latency_ms is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline.predict(row)  # warm-up
            timings = []
            for _ in range(15):
                t0 = time.perf_counter()
                pipeline.predict(row)
                timings.append((time.perf_counter() - t0) * 1000)
        latency = float(np.median(timings))
        if latency > limits.max_latency_ms:
            return (
                f"single-row latency {latency:.1f} ms is over problem.constraints."
                f"max_latency_ms {limits.max_latency_ms:g}"
            )
    return ""
