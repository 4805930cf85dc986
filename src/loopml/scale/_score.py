"""Scoring a Parquet dataset on a Dask cluster: ``dask.dataframe`` reads the parts, each part
is one task that scores it with the model's compiled row path and writes its own
``part-NNNNN.parquet`` (:func:`loopml.serving.score_part`).

The model is put in the graph once and fetched by each worker once; each worker compiles it
once. A task retried after its worker died writes the same part again under the same name,
so the output has every row exactly once; the output directory appears only when every part
is written (:func:`loopml.serving.staged_output`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.data import dataset_files
from loopml.registry import ModelBundle
from loopml.serving import (
    PART,
    PartSummary,
    ScoringSummary,
    check_columns,
    dataset_summary,
    score_part,
    staged_output,
)


def _score(
    frame: pd.DataFrame,
    bundle: ModelBundle,
    path: str,
    runtime: str,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None,
) -> PartSummary:
    return score_part(bundle, frame, Path(path), runtime=runtime, transform=transform)


def score_dataset_dask(
    client: Any,
    bundle: ModelBundle,
    input: str | Path,
    output: Path,
    *,
    model_version: str = "",
    runtime: str = "auto",
    progress: Callable[[int], None] | None = None,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> ScoringSummary:
    """Score the Parquet dataset ``input`` into the directory ``output`` on ``client``'s
    cluster: one ``part-NNNNN.parquet`` per partition ``dask.dataframe`` reads (a file, or a
    group of row groups of a large file).

    Raises
    ------
    DataError
        No Parquet file matches, a file lacks a model column, or ``output`` is in the way.
    """
    import dask
    import dask.dataframe as dd
    from distributed import as_completed

    started = time.monotonic()
    files = dataset_files(input)
    check_columns(bundle, files)
    frame = dd.read_parquet([str(p) for p in files])
    total = PartSummary()
    with staged_output(output) as staging:
        model = dask.delayed(bundle, pure=True)  # one key: shipped to each worker once
        score = dask.delayed(_score, pure=False)
        tasks = [
            score(part, model, str(staging / PART.format(i)), runtime, transform)
            for i, part in enumerate(frame.to_delayed())
        ]
        futures = client.compute(tasks)
        try:
            for future in as_completed(futures):
                total.add(future.result())
                if progress is not None:
                    progress(total.rows)
        except BaseException:
            client.cancel(futures)
            raise
    return dataset_summary(
        total,
        input=str(input),
        output=output,
        parts=len(futures),
        started=started,
        version=model_version,
    )
