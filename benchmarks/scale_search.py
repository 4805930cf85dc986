"""Scale-out of the search: the same datasets, CPUs and budget on the local engine and on a
Dask LocalCluster, scored on the fixed test splits (issue 12, item 2).

    .venv/bin/python benchmarks/scale_search.py                  # the committed run
    .venv/bin/python benchmarks/scale_search.py --budget 10 --seeds 0 --datasets telco_churn

For each dataset of ``shared/bench/data`` (read from there, never copied), seed and engine,
one subprocess reads ``train.csv.gz``, runs the search (``loopml.modeling.train_model``, the
entry point of ``Project.train`` and of ``AutoClassifier``) under the budget, predicts
``test.csv.gz`` and scores it with the protocol's metric (``benchmarks/_scoring.py``):

* ``local-2``: the local engine on 2 CPUs (``n_jobs=2``: the default process executor);
* ``dask-2``: ``execution: {engine: dask, workers: 2}`` through ``loopml.scale.search_executor``,
  as ``Project.train`` and ``--dask local`` run it: a LocalCluster of 2 worker processes of
  1 thread each, also on 2 CPUs;
* ``local-1``: the local engine on 1 CPU, a reference for what the second CPU buys.

The process (and so the cluster it starts) is pinned to that many CPUs with
``sched_setaffinity`` and the usual thread variables set to 1, as in the AutoML protocol.
Starting the cluster is timed apart: ``Project.train`` starts it before the search's clock.
Every run appends one JSON line to ``results/scale-search.jsonl``; the table goes beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
ROOT = HERE.parent
RESULTS = HERE / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "data"  # as in automl.py

#: Two binary, one multiclass, one regression; 5k to 17k training rows.
DATASETS = ("telco_churn", "mammography", "wine_quality", "california_housing")
#: engine -> (CPUs, Dask workers or None for the local engine)
ENGINES: dict[str, tuple[int, int | None]] = {
    "local-2": (2, None),
    "dask-2": (2, 2),
    "local-1": (1, None),
}


def _load(name: str) -> ModuleType:
    """A sibling benchmark script as a module (``benchmarks/`` is not on the path: its
    ``profile.py`` would shadow the standard library's)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return sys.modules[name]


# --------------------------------------------------------------------------------------------
# One run, in its own process
# --------------------------------------------------------------------------------------------


def pin(cpus: int) -> list[int]:
    """Pin this process and what it starts to ``cpus`` CPUs; before numpy is imported."""
    for var in _load("automl").THREAD_VARS:
        os.environ[var] = "1"
    chosen = sorted(os.sched_getaffinity(0))[:cpus]
    if len(chosen) < cpus:
        raise SystemExit(f"{cpus} CPUs asked for, this process may use only {len(chosen)}")
    os.sched_setaffinity(0, chosen)
    return chosen


def _inputs(train: Any, meta: dict[str, Any], budget: float, seed: int, cpus: int) -> Any:
    """The search's data and settings, as ``AutoClassifier``/``AutoRegressor`` make them."""
    import numpy as np

    from loopml.config import FeaturesConfig
    from loopml.data import infer_schema
    from loopml.modeling import TrainingData, TrainingSpec

    sc = _load("_scoring")
    target, task = meta["target"], meta["task"]
    X = train.drop(columns=[target])
    y = train[target].rename("__target__")
    classes = () if task == "regression" else tuple(np.unique(y.to_numpy()))
    data = TrainingData(X=X, y=y, roles=infer_schema(X, target="__target__").roles())
    spec = TrainingSpec(
        task=task,
        metric=sc.PRIMARY_METRIC[task],
        budget_seconds=budget,
        classes=classes,
        positive_class=classes[-1] if task == "binary" else None,
        features=FeaturesConfig(),
        seed=seed,
        n_jobs=cpus,
    )
    return data, spec


def run_one(data_dir: Path, engine: str, seed: int, budget: float) -> dict[str, Any]:
    """Search ``data_dir``'s training rows on ``engine`` and score the test rows."""
    cpus, workers = ENGINES[engine]
    core_ids = pin(cpus)
    import pandas as pd

    from loopml.config import ExecutionConfig
    from loopml.modeling import train_model
    from loopml.scale import search_executor

    automl = _load("automl")
    meta = json.loads((data_dir / "meta.json").read_text())
    data, spec = _inputs(pd.read_csv(data_dir / "train.csv.gz"), meta, budget, seed, cpus)
    execution = ExecutionConfig(engine="local" if workers is None else "dask", workers=workers)
    started = time.perf_counter()
    with search_executor(execution) as executor:
        cluster_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = train_model(data, spec, executor=executor)
        fit_seconds = time.perf_counter() - started
        threads = getattr(executor, "threads", None)
    board = result.leaderboard
    test = pd.read_csv(data_dir / "test.csv.gz").drop(columns=[meta["target"]])
    if meta["task"] == "regression":
        prediction, classes = result.pipeline.predict(test), None
    else:
        prediction, classes = result.pipeline.predict_proba(test), list(result.pipeline.classes_)
    info = automl.dataset_info(data_dir)
    metrics = automl.score_pair(data_dir, info, {"classes": classes}, prediction)
    statuses = [t.status for t in board.trials]
    return {
        "cpus": core_ids,
        "score": metrics[info["metric"]],
        "metrics": metrics,
        "cluster_seconds": round(cluster_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "search_seconds": round(board.elapsed_seconds, 2),
        "trials_ok": statuses.count("ok"),
        "trials_other": len(statuses) - statuses.count("ok"),
        # the work done: folds fitted by the trials (pruned and cut trials fit fewer)
        "folds_fitted": sum(
            len(t.fold_scores) for t in board.trials if t.source in ("portfolio", "optuna")
        ),
        "statuses": dict(Counter(statuses)),
        "n_folds": board.n_folds,
        "workers": board.workers,
        "threads_per_fold": threads if threads is not None else max(1, cpus // board.workers),
        "stopped_by": board.stopped_by,
        "best": board.best.family,
    }


# --------------------------------------------------------------------------------------------
# The harness
# --------------------------------------------------------------------------------------------


def run_pair(data_dir: Path, engine: str, seed: int, budget: float) -> dict[str, Any]:
    """One run in a subprocess, killed at three times the budget plus three minutes."""
    automl = _load("automl")
    record: dict[str, Any] = {
        "dataset": data_dir.name,
        "engine": engine,
        "seed": seed,
        "budget": budget,
        "metric": _load("_scoring").PRIMARY_METRIC[automl.dataset_info(data_dir)["task"]],
        "started_at": automl.now(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    python = Path(sys.executable)
    with tempfile.TemporaryDirectory(prefix="scale-search-") as scratch:
        out = Path(scratch) / "result.json"
        cmd = [str(python), __file__, "--one", str(data_dir), "--engine", engine]
        cmd += ["--seed", str(seed), "--budget", str(budget), "--out", str(out)]
        env = automl.worker_env(python)
        env["PYTHONPATH"] = str(ROOT / "src")  # this checkout's loopml
        log_path = Path(scratch) / "log.txt"
        code, timed_out, usage, wall = automl.run_worker(
            cmd, env, 3 * budget + 180, log_path, Path(scratch)
        )
        record["wall_seconds"] = round(wall, 2)
        record["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
        if out.exists():
            record.update(json.loads(out.read_text()), status="ok")
        else:
            record["status"] = "timeout" if timed_out else f"exit {code}"
            record["error"] = log_path.read_text(errors="replace")[-2000:]
    return record


def _score(value: float, sign: str = "") -> str:
    return f"{value:{sign}.4f}" if abs(value) < 100 else f"{value:{sign},.0f}"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _summary_rows(records: list[dict[str, Any]], engines: list[str]) -> list[str]:
    """Per dataset and engine: the mean over seeds, and the gap to local-2 in its spread."""
    lines = [
        "| dataset | metric | engine | runs | mean score | spread over seeds | vs local-2 "
        "| mean trials | trials/s | folds/s | max fit s (budget) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        ok = [r for r in records if r["dataset"] == dataset and r["status"] == "ok"]
        base = _mean([r["score"] for r in ok if r["engine"] == "local-2"])
        for engine in engines:
            runs = [r for r in ok if r["engine"] == engine]
            if not runs:
                continue
            scores = [r["score"] for r in runs]
            spread = _score(max(scores) - min(scores)) if len(scores) > 1 else "–"
            trials = _mean([r["trials_ok"] for r in runs])
            rate = _mean([r["trials_ok"] / r["search_seconds"] for r in runs])
            fitted = [r["folds_fitted"] / r["search_seconds"] for r in runs if "folds_fitted" in r]
            folds = f"{_mean(fitted):.2f}" if fitted else "–"
            lines.append(
                f"| {dataset} | {runs[0]['metric']} | {engine} | {len(runs)} "
                f"| {_score(_mean(scores))} | {spread} | {_score(_mean(scores) - base, '+')} "
                f"| {trials:.1f} | {rate:.2f} | {folds} "
                f"| {max(r['fit_seconds'] for r in runs):.1f} "
                f"({runs[0]['budget']:g}) |"
            )
    return lines


def _run_rows(records: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| dataset | engine | seed | score | trials ok (other) | trials/s | folds | threads "
        "per fold | cluster start s | fit s | CPU use | best | load 1m |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        if r["status"] != "ok":
            lines.append(f"| {r['dataset']} | {r['engine']} | {r['seed']} | {r['status']} |")
            continue
        use = r["cpu_seconds"] / (r["wall_seconds"] * len(r["cpus"]))
        lines.append(
            f"| {r['dataset']} | {r['engine']} | {r['seed']} | {_score(r['score'])} "
            f"| {r['trials_ok']} ({r['trials_other']}) "
            f"| {r['trials_ok'] / r['search_seconds']:.2f} | {r['n_folds']} "
            f"| {r['threads_per_fold']} | {r['cluster_seconds']:.1f} | {r['fit_seconds']:.1f} "
            f"| {100 * use:.0f}% | {r['best']} | {r['load_avg_1m']} |"
        )
    return lines


def write_report(path: Path, header: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """The tables; a hand-written section from ``## Reading`` on in the old file is kept."""
    reading = path.read_text().partition("\n## Reading")[1:] if path.exists() else ()
    engines = list(dict.fromkeys(r["engine"] for r in records))
    lines = [
        "# Scale-out of the search: local engine against a Dask LocalCluster (issue 12)",
        "",
        "Produced by `benchmarks/scale_search.py`: per dataset, seed and engine one process "
        "runs the search under the budget on the training split of `shared/bench/data`, "
        "predicts the test split and scores it with the protocol's metric (ROC AUC: higher "
        "is better; log loss, RMSE: lower is better).",
        "",
        f"- machine before: {header['before']}",
        f"- machine after: {header['after']}",
        f"- budget {header['budget']:g} s per search; engines: local-2 = local engine, 2 CPUs "
        "(`n_jobs=2`, process executor); dask-2 = `execution: {engine: dask, workers: 2}`, a "
        "LocalCluster of 2 processes x 1 thread, same 2 CPUs; local-1 = local engine, 1 CPU",
        "",
        "## Mean over seeds",
        "",
        *_summary_rows(records, engines),
        "",
        "## Every run",
        "",
        *_run_rows(records),
        "",
        "trials: finished trials (other: pruned, failed or cut by the budget); trials/s: "
        "finished trials over the search's own clock; folds/s: folds fitted by any trial, the "
        "work done (more pruning means fewer finished trials for the same work); "
        "fit s: `train_model` wall time, refit included, against the "
        "budget; cluster start: outside the budget, as in `Project.train`; CPU use: CPU "
        "seconds of the run's process tree over wall seconds times its CPUs; load 1m: the "
        "machine's load average when the run started.",
        "",
    ]
    path.write_text("\n".join(lines) + "".join(reading).removeprefix("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--first-seed-only", default="local-1", help="engines run on one seed")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--name", default="scale-search", help="results/<name>.jsonl and .md")
    parser.add_argument("--report-only", action="store_true", help="the table from the .jsonl")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        found = run_one(args.one, args.engine, args.seed, args.budget)
        args.out.write_text(json.dumps(_load("automl")._finite(found)))
        return
    scale = _load("scale")
    header: dict[str, Any] = {"before": scale.machine(), "budget": args.budget}
    out = RESULTS / f"{args.name}.jsonl"
    if args.report_only:
        lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
        header = {k: v for x in lines if "engine" not in x for k, v in x.items()}
        write_report(out.with_suffix(".md"), header, [x for x in lines if "engine" in x])
        return
    out.write_text(json.dumps(header) + "\n")
    records = []
    seeds = [int(s) for s in args.seeds.split(",")]
    once = set(args.first_seed_only.split(","))
    for seed in seeds:
        for dataset in args.datasets.split(","):
            for engine in args.engines.split(","):
                if engine in once and seed != seeds[0]:
                    continue
                record = run_pair(args.data / dataset, engine, seed, args.budget)
                records.append(record)
                with out.open("a") as f:
                    f.write(json.dumps(_load("automl")._finite(record)) + "\n")
                scale.log(json.dumps({k: v for k, v in record.items() if k != "metrics"}))
    header["after"] = scale.machine()
    with out.open("a") as f:
        f.write(json.dumps({"after": header["after"]}) + "\n")
    write_report(out.with_suffix(".md"), header, records)


if __name__ == "__main__":
    main()
