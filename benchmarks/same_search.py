"""Same trials before and after a change to the search: leaderboards and predictions compared.

    python benchmarks/same_search.py --before /path/to/old/checkout/src [--rows 2000]
                                     [--max-trials 12] [--datasets a,b]

Runs AutoClassifier/AutoRegressor with ``max_trials`` set, a budget that does not bind and a
serial executor (``n_jobs=1``) on a few development datasets, once with the loopml in
``--before`` and once with this checkout's, each in its own subprocess, and compares the
leaderboards (family, parameters, status, fold scores) and the predictions on the test rows.
With the cap deciding and one process fitting, both must agree exactly; any difference is
printed. Exit status 0 when every dataset matches.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
# benchmarks/ holds a ``profile.py`` that would shadow the standard library's module
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
ROOT = HERE.parent
DATA = Path(os.environ.get("LOOPML_BENCH_DEV", ROOT.parent.parent / "shared" / "bench" / "dev"))

#: One binary, one multiclass, one regression, two time-ordered (rows sorted by a date:
#: regression, and binary so that "every class in every training fold" is exercised).
DATASETS = {
    "credit_scoring": {"sort_by": None},
    "hpc_jobs": {"sort_by": None},
    "ames_housing": {"sort_by": None},
    "hotel_rates": {"sort_by": "arrival_date"},
    "mpls_stops_search": {"sort_by": "date"},
}

WORKER = """
import json, pickle, sys, time
import numpy as np, pandas as pd
import loopml
from loopml import AutoClassifier, AutoRegressor

path, out = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    job = pickle.load(f)
cls = AutoRegressor if job["task"] == "regression" else AutoClassifier
model = cls(time_budget=job["budget"], max_trials=job["max_trials"], random_state=0, n_jobs=1)
started = time.perf_counter()
model.fit(job["X"], job["y"])
seconds = time.perf_counter() - started
if job["task"] == "regression":
    predictions = model.predict(job["X_test"])
else:
    predictions = model.predict_proba(job["X_test"])
board = [
    {"number": t.number, "family": t.family, "params": repr(sorted(t.params.items())),
     "status": t.status, "source": t.source, "fold_scores": list(t.fold_scores)}
    for t in model.leaderboard_.trials
]
with open(out, "wb") as f:
    pickle.dump({"board": board, "predictions": np.asarray(predictions, dtype=float),
                 "n_folds": model.leaderboard_.n_folds, "stopped_by": model.leaderboard_.stopped_by,
                 "time_column": getattr(model, "time_column_", None), "seconds": seconds,
                 "source": loopml.__file__}, f)
"""


def _job(name: str, rows: int, max_trials: int, budget: float) -> dict[str, Any]:
    import pandas as pd

    meta = json.loads((DATA / name / "meta.json").read_text())
    train = pd.read_csv(DATA / name / "train.csv.gz")
    test = pd.read_csv(DATA / name / "test.csv.gz").head(500)
    sort_by = DATASETS[name]["sort_by"]
    if sort_by is not None:
        train = train.sort_values(sort_by, kind="stable").head(rows)  # the earliest rows
    else:
        train = train.sample(n=min(rows, len(train)), random_state=0).reset_index(drop=True)
    target = meta["target"]
    return {
        "task": meta["task"],
        "X": train.drop(columns=[target]).reset_index(drop=True),
        "y": train[target].to_numpy(),
        "X_test": test.drop(columns=[target]),
        "max_trials": max_trials,
        "budget": budget,
    }


def _run(src: Path, job_path: Path, out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(job_path), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the search with {src} failed:\n{done.stderr[-3000:]}")
    with out.open("rb") as f:
        return pickle.load(f)


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    found = []
    for key in ("n_folds", "stopped_by", "time_column"):
        if before[key] != after[key]:
            found.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    if len(before["board"]) != len(after["board"]):
        found.append(f"trials: {len(before['board'])} -> {len(after['board'])}")
    for old, new in zip(before["board"], after["board"], strict=False):
        for key in ("family", "params", "status", "source", "fold_scores"):
            if old[key] != new[key]:
                found.append(f"trial {old['number']} {key}: {old[key]!r} -> {new[key]!r}")
    old_pred, new_pred = before["predictions"], after["predictions"]
    if old_pred.shape != new_pred.shape or not np.array_equal(old_pred, new_pred):
        gap = (
            float(np.max(np.abs(old_pred - new_pred)))
            if old_pred.shape == new_pred.shape
            else float("nan")
        )
        found.append(f"test predictions differ (largest gap {gap:.3g})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="src/ of the old checkout")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--budget", type=float, default=3600.0)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--after", type=Path, default=ROOT / "src", help="src/ of the new code")
    args = parser.parse_args(argv)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            job_path = Path(tmp) / f"{name}.pkl"
            with job_path.open("wb") as f:
                pickle.dump(_job(name, args.rows, args.max_trials, args.budget), f)
            before = _run(args.before, job_path, Path(tmp) / f"{name}-before.pkl")
            after = _run(args.after, job_path, Path(tmp) / f"{name}-after.pkl")
            if before["source"] == after["source"]:
                raise SystemExit(f"both runs imported {after['source']}: check --before")
            found = _differences(before, after)
            failures += bool(found)
            families = ", ".join(dict.fromkeys(t["family"] for t in after["board"]))
            print(
                f"{name}: {len(after['board'])} trials ({families}), {after['n_folds']} folds, "
                f"time column {after['time_column']}, {before['seconds']:.0f} s before / "
                f"{after['seconds']:.0f} s after: "
                + ("SAME leaderboard and predictions" if not found else "DIFFERENT")
            )
            for line in found:
                print("   ", line)
            sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
