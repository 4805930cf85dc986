"""Batch scoring at scale: `loopml score` against the pipeline run in-process (issue 10, item 8).

On a file of the demo schema (``--rows``, default 1,000,000; generated here, in a temporary
directory, never committed), the same registered model scores:

* in-process, each runtime for the same pipeline on one in-memory frame (the file read
  beforehand, not timed): ``ModelBundle.predict_frame``, and the compiled row path
  (``CompiledPredictor.predict_frame``, what ``score`` uses when the pipeline compiles);
  the faster of the two is the baseline;
* ``loopml score`` as a user runs it, CSV to CSV and Parquet to Parquet, each in a fresh
  process: rows/s over its scoring time (``--json``'s ``seconds``: reading, privacy policy,
  pipeline, input checks, writing), the wall time of the whole command (start-up and model
  load included) and the process's peak RSS (memory must stay flat: chunks);
* where the time of ``score`` goes: each stage of its chunk loop timed in-process on the
  CSV file, next to what the stage cost before issue 10 (``Schema.inspect`` on every row,
  ``DataFrame.to_csv``).

Goal: ``score`` at least 80 % of the in-process rows/s. The model is the demo's champion
(``loopml demo``, 5,000 customers, 4 trials), trained here unless ``--project`` names one.
Writes ``benchmarks/results/batch-scoring.json`` and ``.md``::

    python benchmarks/batch_scoring.py            # 1M rows, about 3 minutes on 2 cores
    python benchmarks/batch_scoring.py --rows 100000 --project demo-project
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
GOAL = 0.80


def demo_project(directory: Path) -> Path:
    """The demo project with its champion trained (5,000 customers, 4 trials)."""
    from loopml import Project
    from loopml.demo import write_demo_project

    config = write_demo_project(
        directory, rows=5_000, budget_seconds=60, max_trials=4, overwrite=True
    )
    Project(config).train()
    return config


def scoring_file(rows: int, directory: Path) -> tuple[Path, Path]:
    """``rows`` customers of the demo schema as CSV and Parquet: 100,000 generated ones
    repeated with new ids (generating a million one by one takes minutes)."""
    from loopml.demo import generate_customers

    base = generate_customers(
        min(rows, 100_000), seed=11, drift=0.3, start="2026-01-01", end="2026-06-30",
        with_target=False,
    )  # fmt: skip
    parts = []
    for i in range(-(-rows // len(base))):
        part = base.copy()
        part["customer_id"] = [f"B{i:02d}{j:07d}" for j in range(len(base))]
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True).iloc[:rows]
    csv, parquet = directory / "customers.csv", directory / "customers.parquet"
    frame.to_csv(csv, index=False)
    frame.to_parquet(parquet, index=False)
    return csv, parquet


class InProcess:
    """Each runtime on one in-memory frame (read and put through the privacy policy
    beforehand, warmed up on 1,000 rows): ``once(name)`` times one call of runtime ``name``
    (``predict_frame``, and ``compiled`` when the pipeline compiles)."""

    def __init__(self, config: Path, parquet: Path) -> None:
        from loopml import Project
        from loopml.errors import ConfigError
        from loopml.serving._batch import frame_scorer

        project = Project(config)
        self.bundle, _ = project.registry.load("champion")
        frame = pd.read_parquet(parquet)
        replay = project._privacy_replay(self.bundle)
        self.frame = replay(frame) if replay is not None else frame
        self.runtimes = {"predict_frame": self.bundle.predict_frame}
        self.note = ""
        try:
            self.runtimes["compiled"] = frame_scorer(self.bundle, "python")
        except ConfigError as exc:
            self.note = f"the compiled row path does not apply: {exc}"
        for predict in self.runtimes.values():
            predict(self.frame.iloc[:1000])

    def once(self, name: str) -> float:
        gc.collect()
        started = time.perf_counter()
        self.runtimes[name](self.frame)
        return time.perf_counter() - started


def _speeds(rows: int, times: list[float]) -> dict[str, Any]:
    return {
        "seconds": sorted(times),
        "rows_per_s": rows / min(times),
        "median_rows_per_s": rows / statistics.median(times),
    }


def score_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Best and median rows/s of runs of `loopml score`, the largest peak RSS."""
    out = _speeds(runs[0]["rows"], [r["scoring_seconds"] for r in runs])
    out["wall_seconds"] = min(r["wall_seconds"] for r in runs)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    out["chunks"] = runs[0]["chunks"]
    return out


def measure(config: Path, files: dict[str, tuple[Path, Path]], repeats: int) -> dict[str, Any]:
    """In-process and every `loopml score` variant, interleaved, ``repeats`` rounds."""
    baseline = InProcess(config, files["Parquet → Parquet"][0])
    times: dict[str, list[float]] = {name: [] for name in baseline.runtimes}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    for round_ in range(repeats):
        for name in baseline.runtimes:
            times[name].append(baseline.once(name))
        for name, (source, target) in files.items():
            if round_ == 0 or "memory" not in name:
                runs[name].append(run_score(config, source, target))
        print(f"round {round_ + 1}/{repeats} done", flush=True)
    rows, note = len(baseline.frame), baseline.note
    del baseline
    return {
        "in_process": {name: _speeds(rows, found) for name, found in times.items()},
        "in_process_note": note,
        "score": {name: score_summary(found) for name, found in runs.items()},
    }


#: Runs a command and prints its peak RSS (KiB): measured from a small process, since a child
#: forked from this one (which holds the in-process frame) would count those pages too.
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(done.returncode, peak, done.stdout, sep='\\n')\n"
)


def run_score(config: Path, source: Path, target: Path) -> dict[str, Any]:
    """`loopml score SOURCE TARGET --json` in a fresh process: its report, wall time, peak RSS."""
    exe = Path(sys.executable).with_name("loopml")
    cmd = [str(exe), "score", str(source), str(target), "-c", str(config), "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *cmd], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    code, peak, stdout = done.stdout.split("\n", 2)
    if done.returncode != 0 or code != "0":
        raise SystemExit(f"loopml score failed: {done.stderr[-2000:]}")
    report = json.loads(stdout)
    return {
        "rows": report["rows"],
        "chunks": report["chunks"],
        "scoring_seconds": report["seconds"],
        "rows_per_s": report["rows"] / report["seconds"],
        "wall_seconds": wall,
        "peak_rss_mb": int(peak) / 1024,
    }


def stages(config: Path, csv: Path, out_dir: Path) -> dict[str, float]:
    """Seconds per stage of score's chunk loop on the CSV file, and the old ways of two."""
    from loopml import Project
    from loopml.serving import _batch

    project = Project(config)
    bundle, _ = project.registry.load("champion")
    predict = _batch.ChunkScorer(bundle, project.config.scoring.runtime)
    replay = project._privacy_replay(bundle)
    dialect = project._input_dialect(bundle, csv)
    keep = [c for c in bundle.id_columns]
    chunk_rows = project.config.scoring.chunk_rows
    spent = dict.fromkeys(
        ["read", "privacy", "pipeline", "inspect", "inspect, every row (before)", "assemble",
         "write", "write with to_csv (before)"], 0.0,
    )  # fmt: skip
    writer = _batch._ChunkWriter(out_dir / "stages.csv", "csv")
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        spent[name] += now - clock
        clock = now

    for chunk in _batch._chunks(csv, "csv", chunk_rows, dialect):
        lap("read")
        chunk = replay(chunk) if replay is not None else chunk
        lap("privacy")
        scored, typed = predict(chunk)
        lap("pipeline")
        _batch.inspect_chunk(bundle, chunk, typed)
        lap("inspect")
        bundle.schema.inspect(chunk)
        lap("inspect, every row (before)")
        out = pd.concat([chunk[keep].reset_index(drop=True), scored.reset_index(drop=True)], axis=1)
        lap("assemble")
        writer.write(out)
        lap("write")
        out.to_csv(out_dir / "old.csv", mode="a", header=False, index=False)
        lap("write with to_csv (before)")
    return spent


def markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    fastest = max(result["in_process"], key=lambda k: result["in_process"][k]["rows_per_s"])
    base = result["in_process"][fastest]["rows_per_s"]
    lines = [
        f"# Batch scoring, {rows:,} rows of the demo schema",
        "",
        f"{result['machine']}. Model: the demo champion ({result['model']}). "
        f"Produced by `{result.get('command', 'python benchmarks/batch_scoring.py')}`"
        f"{result.get('project_note', '')}.",
        "",
        f"Best of {result['repeats']} runs each (median in brackets); the machine is shared, "
        "so the runs are interleaved.",
        "",
        "| runtime | rows/s | vs in-process | seconds | wall s (whole command) | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, run in result["in_process"].items():
        lines.append(
            f"| in-process `{name}`, one frame | {run['rows_per_s']:,.0f} "
            f"({run['median_rows_per_s']:,.0f}) | {run['rows_per_s'] / base:.0%} | "
            f"{min(run['seconds']):.1f} | | |"
        )
    for name, run in result["score"].items():
        lines.append(
            f"| `loopml score` {name} | {run['rows_per_s']:,.0f} ({run['median_rows_per_s']:,.0f}) "
            f"| {run['rows_per_s'] / base:.0%} | {min(run['seconds']):.1f} "
            f"| {run['wall_seconds']:.1f} | {run['peak_rss_mb']:,.0f} |"
        )
    note = result.get("in_process_note")
    lines += [
        "",
        *([f"Note: {note}.", ""] if note else []),
        f"Goal: `loopml score` at least {GOAL:.0%} of the fastest in-process runtime's rows/s "
        f"(`{fastest}`) "
        f"(scoring time; start-up and model load are in the wall column): "
        + ", ".join(
            f"{name} {'met' if run['rows_per_s'] >= GOAL * base else 'NOT met'}"
            for name, run in result["score"].items()
            if "memory" not in name
        )
        + ".",
        "",
        "## Where the time of `score` goes (CSV, in-process, seconds)",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["stages"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--project", type=Path, help="a trained project (default: the demo)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--out", default="batch-scoring", help="results file name (no suffix)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loopml-bench-") as tmp:
        work = Path(tmp)
        config = (
            args.project.resolve() / "loopml.yaml" if args.project else demo_project(work / "demo")
        )
        print(f"project {config}; writing {args.rows:,} rows …", flush=True)
        csv, parquet = scoring_file(args.rows, work)
        from loopml import Project

        info = Project(config).model("champion")
        small = work / "small.csv"
        pd.read_csv(csv, nrows=max(args.rows // 10, 1), dtype=str).to_csv(small, index=False)
        files = {
            "CSV → CSV": (csv, work / "scored.csv"),
            "Parquet → Parquet": (parquet, work / "scored.parquet"),
            f"CSV → CSV, {args.rows // 10:,} rows (memory)": (small, work / "small-scored.csv"),
        }
        machine = f"{platform.machine()}, {os.cpu_count()} cores"
        result: dict[str, Any] = {
            "rows": args.rows,
            "machine": f"{machine}, Python {platform.python_version()}",
            "model": f"version {info.version}, {info.family}",
            "repeats": args.repeats,
            "command": "python benchmarks/batch_scoring.py " + " ".join(sys.argv[1:]),
            **measure(config, files, args.repeats),
        }
        result["stages"] = stages(config, csv, work)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
