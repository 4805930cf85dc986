"""Single-row latency of the row path: ``predict_frame`` vs the frame runtime vs the compiled one.

    python benchmarks/rowpath.py [--demo DIR] [--rows 3000] [--repeat 2000] [--out FILE]

Three models: the demo champion (``loopml demo`` into DIR, a temporary directory by default,
when DIR has no project yet), and a LightGBM and a linear pipeline on the same demo data
(``make_pipeline`` + ``fit``, default cleaning, no ``features``). For each, one demo
customer as a JSON-like dict is predicted again and again in one thread, timed per call with
``perf_counter``:

* ``predict_frame``: ``ModelBundle.predict_frame(pd.DataFrame([record]))``, as batch scoring;
* ``read``: ``RecordReader.read([record])`` alone;
* ``frame``: read + ``FramePredictor.predict`` (the pipeline after its coercion step);
* ``compiled``: read + the compiled predictor (``compile_predictor(bundle, "python")``);
* ``model only``: the compiled model function on the already transformed matrix.

Then the throughput of 1,000 demo customers per call (``predict_frame`` on their DataFrame;
the reader and the compiled path on their records). Prints Markdown (and writes ``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _timings(call: Callable[[], Any], repeat: int) -> list[float]:
    for _ in range(min(50, repeat)):
        call()  # warm
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _row(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"| {name} | {p50:.3f} | {p99:.3f} |"


def _demo_bundle(directory: Path, rows: int) -> Any:
    import loopml

    if not (directory / "loopml.yaml").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "loopml",
                "demo",
                str(directory),
                "--rows",
                str(rows),
                "--budget",
                "30",
                "--folds",
                "3",
                "--max-trials",
                "6",
            ],
            check=True,
            capture_output=True,
        )
    project = loopml.Project(directory)
    bundle, info = project.registry.load("champion")
    return bundle, f"demo champion v{info.version}"


def _family_bundle(directory: Path, family: str) -> Any:
    import pandas as pd

    from loopml.config import ProblemConfig
    from loopml.data import infer_schema, prepare_target, resolve_problem
    from loopml.modeling import make_pipeline
    from loopml.registry import ModelBundle

    frame = pd.read_csv(directory / "data" / "customers.csv")
    target = "churned"
    ids = [c for c in frame.columns if c.endswith("_id")]
    problem = resolve_problem(frame, ProblemConfig(target=target))
    schema = infer_schema(frame, target, id_columns=ids)
    X = frame.drop(columns=[target])
    y = prepare_target(frame[target], problem.task)
    pipeline = make_pipeline(schema.roles(), family, problem.task, None, 0, 1).fit(X, y)
    bundle = ModelBundle(pipeline=pipeline, schema=schema, problem=problem, id_columns=tuple(ids))
    return bundle, f"{family} pipeline (demo data)"


def _measure(bundle: Any, label: str, records: list[dict[str, Any]], repeat: int) -> list[str]:
    import pandas as pd

    from loopml.serving._compile import compile_predictor
    from loopml.serving._frame import FramePredictor
    from loopml.serving._reader import RecordReader

    record = records[0]
    reader = RecordReader(bundle)
    frame = FramePredictor(bundle)
    compiled = compile_predictor(bundle, "python")
    batch = reader.read([record])
    table = {k: batch.rows[k] for k in compiled.columns}  # type: ignore[attr-defined]
    lines = [
        f"\n**{label}** ({_describe(bundle.pipeline)})\n",
        "| path | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    few = max(repeat // 10, 20)
    lines.append(
        _row("predict_frame", _timings(lambda: bundle.predict_frame(pd.DataFrame([record])), few))
    )
    lines.append(_row("read", _timings(lambda: reader.read([record]), repeat)))
    lines.append(_row("read + frame", _timings(lambda: frame.predict(*_rows(reader, record)), few)))
    lines.append(
        _row("read + compiled", _timings(lambda: compiled.predict(*_rows(reader, record)), repeat))
    )
    lines.append(_row("compiled (no read)", _timings(lambda: compiled._scores(table), repeat)))  # type: ignore[attr-defined]
    many = pd.DataFrame(records)
    frame_s = statistics.median(_timings(lambda: bundle.predict_frame(many), 5)) / 1000
    fast_s = statistics.median(_timings(lambda: compiled.predict(*_batch(reader, records)), 20))
    lines.append(
        f"\n{len(records)} rows per call: predict_frame {len(records) / frame_s:,.0f} rows/s, "
        f"read + compiled {len(records) / (fast_s / 1000):,.0f} rows/s"
    )
    return lines


def _batch(reader: Any, records: list[dict[str, Any]]) -> tuple[Any, int]:
    batch = reader.read(records)
    return batch.rows, batch.n


def _describe(model: Any) -> str:
    """The fitted steps, e.g. 'coerce, categories, datetime, columns -> XGBClassifier'."""
    for attr in ("estimators_", "estimator_"):
        inner = getattr(model, attr, None)
        if inner is not None and not hasattr(model, "steps"):
            members = inner if isinstance(inner, list) else [inner]
            return f"{type(model).__name__} of " + "; ".join(_describe(m) for m in members)
    names = [n for n, _ in model.steps[:-1]]
    last = model.steps[-1][1]
    last = getattr(last, "estimator_", last)
    return f"{', '.join(names)} -> {type(last).__name__}"


def _rows(reader: Any, record: dict[str, Any]) -> tuple[Any, int]:
    batch = reader.read([record])
    return batch.rows, batch.n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(tempfile.gettempdir()) / "loopml-rowpath-demo"
    parser.add_argument("--demo", type=Path, default=default)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import pandas as pd

    bundles = [
        _demo_bundle(args.demo, args.rows),
        _family_bundle(args.demo, "lightgbm"),
        _family_bundle(args.demo, "linear"),
    ]
    new = pd.read_csv(args.demo / "data" / "new_customers.csv")
    records = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in raw.items()}
        for raw in new.iloc[:1000].to_dict("records")
    ]
    lines = [
        "# Row path: single-row latency",
        "",
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"one thread, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (a shared "
        "machine: p99 is noise); times per call, one demo customer.",
    ]
    for bundle, label in bundles:
        lines += _measure(bundle, label, records, args.repeat)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
