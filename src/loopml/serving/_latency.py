"""A candidate's single-row latency on the row path the service would answer it on.

The search checks ``problem.constraints.max_latency_ms`` on each candidate's fitted pipeline.
Timing ``pipeline.predict`` on a one-row DataFrame measures scikit-learn's DataFrame
overhead, often ten times the model's own cost; the service reads a request into numpy
columns (:class:`~loopml.serving.RecordReader`) and predicts on the compiled path
(:func:`~loopml.serving.compile_predictor`), or on the DataFrame fallback where a step has no
compiled form. :func:`row_latency_ms` times that path. ``Project.train`` hands it to the
search (``TrainingSpec.latency``): modeling sits below serving, so it is given the function
rather than importing it, and a module-level function pickles to worker processes.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from loopml.registry import ModelBundle
    from loopml.serving._reader import RecordReader
    from loopml.types import TaskKind

#: Timed single-row predictions whose median is the latency (after one warm-up).
REPEATS = 15


def row_latency_ms(
    pipeline: Any, row: pd.DataFrame, task: TaskKind, classes: tuple[Any, ...] = ()
) -> float:
    """Median milliseconds the serving row path takes to predict ``row`` with ``pipeline``.

    ``row`` is a one-row frame of training columns, sent as the JSON instance a client would
    send and read by the :class:`RecordReader`; the predictor is the one a service would load
    (compiled when every step has a compiled form and agrees with the pipeline, else the
    DataFrame path). Only ``predictor.predict`` is timed, on one thread, after a warm-up.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    from loopml.serving._compile import compile_predictor
    from loopml.serving._reader import RecordReader

    bundle = latency_bundle(pipeline, task, classes)
    with _quiet("loopml.serving._compile"):  # falling back is the answer here, not news
        predictor = compile_predictor(bundle)
    batch = _read_one(RecordReader(bundle), _instance(row))
    timings = []
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        predictor.predict(batch.rows, batch.n)  # warm-up
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            predictor.predict(batch.rows, batch.n)
            timings.append((time.perf_counter() - t0) * 1000)
    return float(np.median(timings))


def latency_bundle(pipeline: Any, task: TaskKind, classes: tuple[Any, ...]) -> ModelBundle:
    """The least :class:`~loopml.registry.ModelBundle` the row path loads: the pipeline, a
    schema of the feature columns its coercion step types, and the problem's classes."""
    from loopml.data import ColumnSchema, Problem, Schema
    from loopml.registry import ModelBundle
    from loopml.serving._reader import find_coercer

    coercer = find_coercer(pipeline)
    if coercer is None:
        raise TypeError("the pipeline has no FrameCoercer step, so it cannot be served")
    columns = tuple(
        ColumnSchema(name=name, role=role, dtype="", missing_fraction=0.0, n_unique=0)
        for name, role in coercer.roles_.items()
    )
    problem = Problem(task=task, target="", metric="", gate=None, classes=tuple(classes))
    return ModelBundle(
        pipeline=pipeline, schema=Schema(columns=columns, target=""), problem=problem
    )


def _instance(row: pd.DataFrame) -> dict[str, Any]:
    """The first row as the JSON object a client sends (dates in ISO 8601, NaN as null)."""
    records = json.loads(row.iloc[:1].to_json(orient="records", date_format="iso"))
    return dict(records[0])


def _read_one(reader: RecordReader, instance: dict[str, Any]) -> Any:
    """``instance`` read as a request; a value the service would refuse is sent as null."""
    from loopml.serving._contract import RequestError

    try:
        return reader.read([instance])
    except RequestError as exc:
        refused = {p.field for p in exc.problems if p.field}
        return reader.read([{**instance, **dict.fromkeys(refused)}])


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The logger ``name`` says only errors while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
