"""Building, fitting and checking one candidate pipeline: what every trial and refit runs."""

from __future__ import annotations

import pickle
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from loopml.config import CleaningConfig, Constraints, FeaturesConfig
from loopml.features import FeatureChoices, build_preprocessor
from loopml.modeling._families import ModelFamily, default_registry
from loopml.modeling._threshold import decide
from loopml.types import TaskKind

if TYPE_CHECKING:
    from loopml.data import NumberFormat
    from loopml.modeling._spec import LatencyFn


@dataclass(frozen=True)
class PipelineRecipe:
    """How a project shapes the rows before any model: its cleaning policy, its feature
    engineering, and how its numbers written as text are read (decimal mark, thousands)."""

    cleaning: CleaningConfig | None = None
    features: FeaturesConfig | None = None
    numbers: NumberFormat | None = None


def make_pipeline(
    roles: dict[str, str],
    family: str | ModelFamily,
    task: TaskKind,
    params: dict[str, Any] | None,
    seed: int,
    n_jobs: int,
    recipe: PipelineRecipe | None = None,
) -> Pipeline:
    """The one fitted object: coercion, cleaning, features, preprocessing and the model.

    ``params`` may carry two pipeline-level choices besides the model's own parameters:
    ``absolute_time`` (keep year/elapsed-time features) and ``selection`` (a feature
    selection method), which the search tries when ``recipe.features`` leaves them open.
    ``family`` is a family's record, or the name of one of :func:`default_registry`.
    """
    recipe = recipe or PipelineRecipe()
    candidate = family if isinstance(family, ModelFamily) else default_registry()[family]
    params = dict(params or {})
    absolute_time = params.pop("absolute_time", None)
    selection = params.pop("selection", None)
    pre = build_preprocessor(
        roles,
        candidate.encoding,
        recipe.cleaning,
        recipe.features,
        task=task,
        seed=seed,
        choices=FeatureChoices(absolute_time=absolute_time, selection=selection),
        numbers=recipe.numbers,
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


#: Timed single-row predictions whose median is a candidate's latency.
LATENCY_REPEATS = 15


def frame_latency_ms(
    pipeline: Any, row: pd.DataFrame, task: TaskKind, classes: tuple[Any, ...]
) -> float:
    """Median milliseconds of ``pipeline.predict`` on the one-row frame ``row``, after a
    warm-up, on one thread: the scikit-learn DataFrame path (see :data:`LatencyFn`)."""
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        pipeline.predict(row)  # warm-up
        timings = []
        for _ in range(LATENCY_REPEATS):
            t0 = time.perf_counter()
            pipeline.predict(row)
            timings.append((time.perf_counter() - t0) * 1000)
    return float(np.median(timings))


def latency_excess(latency_ms: float, limits: Constraints) -> str:
    """Why ``latency_ms`` breaks ``limits.max_latency_ms`` ('' when it does not)."""
    if limits.max_latency_ms is None or latency_ms <= limits.max_latency_ms:
        return ""
    return (
        f"single-row latency {latency_ms:.2f} ms is over problem.constraints."
        f"max_latency_ms {limits.max_latency_ms:g}"
    )


def check_constraints(
    pipeline: Any,
    row: pd.DataFrame,
    limits: Constraints,
    task: TaskKind,
    classes: tuple[Any, ...] = (),
    latency: LatencyFn | None = None,
) -> tuple[str, float | None]:
    """Why a fitted pipeline breaks ``limits`` ('' when it does not), and its single-row
    latency in milliseconds when ``limits`` bound it (``None`` otherwise), measured by
    ``latency`` (default: :func:`frame_latency_ms`)."""
    if limits.max_model_mb is not None:
        size_mb = len(pickle.dumps(pipeline)) / 2**20
        if size_mb > limits.max_model_mb:
            return (
                f"model is {size_mb:.1f} MB, over problem.constraints.max_model_mb "
                f"{limits.max_model_mb:g}"
            ), None
    if limits.max_latency_ms is None:
        return "", None
    measured = float((latency or frame_latency_ms)(pipeline, row, task, classes))
    return latency_excess(measured, limits), measured
