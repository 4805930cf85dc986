"""What the networks cost: fit seconds per 1,000 rows of RealMLP and TabM against LightGBM.

The cost priors of the ``realmlp`` and ``tabm`` families (their fit time relative to
LightGBM's on the same rows, which the search's budget uses to decide whether they fit) come
from this run. Each family's defaults are fitted, as the search fits one fold (the whole
pipeline: encoding included), on one thread, on the training rows of three public-suite
datasets, read in place from ``/work/shared/bench/data/<name>/train.csv.gz`` (never copied);
the rows are capped by ``--rows`` (a random sample, the same for every family). pytabkit is
imported and a network warmed up before the first timing, so no fit pays the import. Each fit
is repeated ``--repeats`` times, interleaved across families; the table shows the median.

    nice -n 19 python benchmarks/neural_cost.py

Writes ``benchmarks/results/neural-cost.jsonl`` (one line per fit) and
``benchmarks/results/neural-cost.md``. ``--imports-only RUNS`` instead times ``import
pytabkit`` in fresh interpreters (the ``load_seconds`` of the network families) into
``benchmarks/results/neural-import.json``. Run on a shared machine the times are noisy; the
ratios, measured side by side, less so.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.data import infer_schema
from loopml.modeling import default_registry, make_pipeline

HERE = Path(__file__).resolve().parent
# benchmarks/profile.py would shadow the standard library's profile module, which torch imports
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

RESULTS = HERE / "results"
DATA = Path("/work/shared/bench/data")
DATASETS = ("telco_churn", "mammography", "california_housing")
FAMILIES = ("lightgbm", "realmlp", "tabm")


def load(name: str, rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series, str, dict[str, str]]:
    """The training rows of ``name`` (at most ``rows``), its target, task and roles."""
    meta = json.loads((DATA / name / "meta.json").read_text())
    with gzip.open(DATA / name / "train.csv.gz", "rt") as handle:
        frame = pd.read_csv(handle)
    if len(frame) > rows:
        frame = frame.sample(rows, random_state=seed).reset_index(drop=True)
    roles = infer_schema(frame, target=meta["target"]).roles()
    y = frame.pop(meta["target"])
    return frame, y, meta["task"], roles


def fit_seconds(
    family: str, X: pd.DataFrame, y: pd.Series, task: str, roles: dict[str, str]
) -> float:
    pipe = make_pipeline(roles, default_registry()[family], task, {}, 0, 1)  # type: ignore[arg-type]
    started = time.perf_counter()
    pipe.fit(X, y)
    return time.perf_counter() - started


def import_seconds(runs: int) -> list[float]:
    """Seconds ``import pytabkit`` takes in a fresh interpreter (what a network's first fold
    in a process pays before it trains), ``runs`` times."""
    probe = "import time; t = time.perf_counter(); import pytabkit; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return times


def run(rows: int, repeats: int, seed: int) -> list[dict[str, Any]]:
    records = []
    for name in DATASETS:
        X, y, task, roles = load(name, rows, seed)
        fit_seconds("realmlp", X.head(200), y.head(200), task, roles)  # import and warm up
        for repeat in range(repeats):
            for family in FAMILIES:
                seconds = fit_seconds(family, X, y, task, roles)
                record = {
                    "dataset": name,
                    "task": task,
                    "rows": len(X),
                    "family": family,
                    "repeat": repeat,
                    "seconds": round(seconds, 3),
                    "seconds_per_1k_rows": round(seconds * 1000 / len(X), 4),
                }
                print(json.dumps(record), flush=True)
                records.append(record)
    return records


def table(records: list[dict[str, Any]], args: argparse.Namespace) -> str:
    medians: dict[tuple[str, str], float] = {}
    for name, family in {(r["dataset"], r["family"]) for r in records}:
        times = [
            r["seconds_per_1k_rows"]
            for r in records
            if (r["dataset"], r["family"]) == (name, family)
        ]
        medians[name, family] = statistics.median(times)
    lines = [
        "# Neural candidates: fit cost against LightGBM",
        "",
        f"`nice -n 19 python benchmarks/neural_cost.py --rows {args.rows} --repeats {args.repeats}`"
        f" on {platform.machine()}, {platform.python_version()}, one thread per fit, each "
        "family's defaults (the portfolio's: RealMLP 64 epochs, TabM at most 32 with a "
        "patience of 8), the whole pipeline fitted as the search fits a fold. Median of the "
        "repeats, in seconds per 1,000 training rows. The machine was "
        "shared with other work (niced to 19): the times are noisy, the ratios less so.",
        "",
        "| dataset | task | rows | lightgbm s/1k | realmlp s/1k | tabm s/1k "
        "| realmlp ÷ lightgbm | tabm ÷ lightgbm |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    ratios: dict[str, list[float]] = {"realmlp": [], "tabm": []}
    for name in DATASETS:
        row = next(r for r in records if r["dataset"] == name)
        base = medians[name, "lightgbm"]
        for family in ratios:
            ratios[family].append(medians[name, family] / base)
        lines.append(
            f"| {name} | {row['task']} | {row['rows']} | {base:.3f} | "
            f"{medians[name, 'realmlp']:.3f} | {medians[name, 'tabm']:.3f} | "
            f"{ratios['realmlp'][-1]:.1f}× | {ratios['tabm'][-1]:.1f}× |"
        )
    geo = {f: float(np.exp(np.mean(np.log(v)))) for f, v in ratios.items()}
    lines += [
        "",
        f"Geometric mean of the ratios: realmlp {geo['realmlp']:.1f}×, tabm {geo['tabm']:.1f}× "
        "LightGBM's fit time: the families' `cost_prior` "
        "(`src/loopml/modeling/_families/_realmlp.py`, `_tabm.py`), rounded. LightGBM stops "
        "early after a few dozen rounds on these rows, so the ratio is large; the search "
        "replaces the prior by the measured time once a network's first folds ran.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4000, help="rows per dataset at most")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--imports-only",
        type=int,
        metavar="RUNS",
        help="only time `import pytabkit` RUNS times; writes results/neural-import.json",
    )
    args = parser.parse_args()
    if args.imports_only:
        times = import_seconds(args.imports_only)
        result = {"import_pytabkit_seconds": times, "median": statistics.median(times)}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "neural-import.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result))
        return
    records = run(args.rows, args.repeats, args.seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "neural-cost.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (RESULTS / "neural-cost.md").write_text(table(records, args))
    print(table(records, args))


if __name__ == "__main__":
    main()
