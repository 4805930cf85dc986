"""ONNX Runtime (``OnnxPredictor``) against ``ModelBundle.predict_frame``: one row and 10,000 rows.

    python benchmarks/onnx_runtime.py -c demo-project/loopml.yaml [--out results/onnx_runtime.md]

Two models of the project: its champion, and a LightGBM pipeline (loopml's defaults) trained
here on the same training rows. Each runtime predicts the same holdout rows, read once into a
RowBatch (the service's reader does that per request; it is not timed here): the ONNX time
is the in-process cost of a prediction, ``predict_frame`` gets the DataFrame it needs. Single
rows cycle through the holdout in a closed loop (p50 and p99 of 300 calls after warm-up);
10,000 rows are the holdout repeated, timed 5 times (median). Everything runs on one thread:
ONNX Runtime is pinned to one intra-op thread and OpenMP/BLAS to one for the pipeline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _times(call: Callable[[int], Any], n: int, warm: int = 20) -> list[float]:
    for i in range(warm):
        call(i)
    out = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _row(rows: Any, i: int) -> dict[str, np.ndarray]:
    return {c: v[i : i + 1] for c, v in rows.items()}


def measure(name: str, bundle: Any, holdout: pd.DataFrame) -> list[str]:
    from loopml.serving._onnx import OnnxPredictor, row_batch

    predictor = OnnxPredictor(bundle)
    batch = row_batch(bundle, holdout)
    n = len(holdout)
    single_frame = _times(lambda i: bundle.predict_frame(holdout.iloc[[i % n]]), 300)
    single_onnx = _times(lambda i: predictor.predict(_row(batch, i % n), 1), 300)
    big = pd.concat([holdout] * (10_000 // n + 1), ignore_index=True).iloc[:10_000]
    big_batch = row_batch(bundle, big)
    many_frame = _times(lambda i: bundle.predict_frame(big), 5, warm=1)
    many_onnx = _times(lambda i: predictor.predict(big_batch, len(big)), 5, warm=1)

    def quantiles(values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        return f"{statistics.median(values):.3f} / {p99:.3f}"

    frame_10k, onnx_10k = statistics.median(many_frame), statistics.median(many_onnx)
    return [
        f"| {name} | predict_frame | {quantiles(single_frame)} | {frame_10k:.1f} | "
        f"{10_000 / frame_10k * 1000:,.0f} |",
        f"| {name} | OnnxPredictor | {quantiles(single_onnx)} | {onnx_10k:.1f} | "
        f"{10_000 / onnx_10k * 1000:,.0f} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, default=Path("loopml.yaml"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from loopml.modeling import make_pipeline
    from loopml.project import Project

    project = Project(args.config)
    bundle, info = project.registry.load("champion")
    prepared = project.prepare()
    holdout = prepared.holdout_rows().X
    train_x = prepared.X.iloc[prepared.split.train]
    train_y = prepared.y.iloc[prepared.split.train]
    family = (
        type(bundle.pipeline.steps[-1][1]).__name__
        if hasattr(bundle.pipeline, "steps")
        else (type(bundle.pipeline).__name__)
    )
    lines = [
        f"# ONNX Runtime vs predict_frame ({args.config}, champion v{info.version}: {family})",
        "",
        f"{len(holdout)} holdout rows; python {sys.version.split()[0]}; one thread everywhere.",
        "",
        "| model | runtime | 1 row p50 / p99 (ms) | 10k rows (ms) | rows/s at 10k |",
        "|---|---|---|---|---|",
    ]
    with threadpool_limits(1):
        lines += measure(f"champion v{info.version}", bundle, holdout)
        roles, task = bundle.schema.roles(), bundle.problem.task
        pipeline = make_pipeline(roles, "lightgbm", task, None, 0, 1).fit(train_x, train_y)
        lines += measure("LightGBM (defaults)", replace(bundle, pipeline=pipeline), holdout)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
