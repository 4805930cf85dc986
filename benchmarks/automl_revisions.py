"""Two loopml revisions side by side on the AutoML benchmark, over several seeds.

    python benchmarks/automl_revisions.py [--base 0257892] [--new HEAD] [--seeds 0,1,2]
                                          [--datasets a,b] [--budget 60]
                                          [--out benchmarks/results/automl-60s-revisions.jsonl]

A 60 s search is decided by how many trials fit in the budget, so one run per dataset cannot
tell a change in the search from the machine being a little busier: the same revision scored
titanic 0.8387 and 0.8486 on two runs. This runs each (dataset, seed) for both revisions at
once, each worker pinned to its own core (the protocol of ``automl.py``: one thread, the same
splits and scorer), so both see the same machine, and reports the mean and spread per revision
and the normalised score and rank against the peers of the committed table of its budget and
suite (``automl-60s.jsonl``, ``automl-300s-dev.jsonl``, ...).

Each revision is checked out into a temporary git worktree and imported from its ``src`` with
the project's ``.venv`` (so both use the same library versions). One JSON line per run is
appended to ``--out`` as it ends; ``--resume`` skips runs already there.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_bench_automl", HERE / "automl.py")
bench = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules[_spec.name] = bench  # type: ignore[union-attr]
_spec.loader.exec_module(bench)  # type: ignore[union-attr]
sc = bench.sc

DEFAULT_OUT = HERE / "results" / "automl-60s-revisions.jsonl"
PEERS = ("flaml", "autogluon", "autogluon-best", "hgb")


def resolve(rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", rev],
        cwd=bench.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached checkout of ``rev``, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"loopml-{rev}-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(path), rev],
        cwd=bench.ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=bench.ROOT,
            capture_output=True,
        )


def run_one(src: Path, rev: str, dataset: str, seed: int, core: int, args: Any) -> dict:
    """One loopml fit of revision ``rev`` on ``dataset``, scored as ``automl.py`` scores it."""
    import numpy as np

    data_dir = args.data_dir / dataset
    info = bench.dataset_info(data_dir)
    python = bench.project_python()
    env = bench.worker_env(python)
    env["LOOPML_SRC"] = str(src)  # this revision's loopml, the project's libraries
    record: dict[str, Any] = {
        "dataset": dataset,
        "revision": rev,
        "seed": seed,
        "budget": args.budget,
        "metric": info["metric"],
        "core": core,
        "started_at": bench.now(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="bench-rev-") as scratch:
        out = Path(scratch) / "result.json"
        cmd = [
            str(python),
            str(bench.WORKER),
            "--system",
            "loopml",
            "--data",
            str(data_dir),
            "--budget",
            str(args.budget),
            "--out",
            str(out),
            "--seed",
            str(seed),
            "--core",
            str(core),
        ]
        log_path = Path(scratch) / "worker.log"
        _, timed_out, usage, wall = bench.run_worker(
            cmd, env, 3 * args.budget + 180, log_path, Path(scratch)
        )
        record["wall_seconds"] = round(wall, 2)
        record["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
        result = json.loads(out.read_text()) if out.exists() else {}
        record["fit_seconds"] = result.get("fit_seconds")
        record["model"] = result.get("model")
        if result.get("status") != "ok":
            record["status"] = "timeout" if timed_out else "error"
            record["error"] = result.get("error") or bench._tail(log_path)
            return record
        bench._score_into(record, data_dir, info, result, np.load(out.with_suffix(".npy")))
    return record


def run(args: Any) -> None:
    revs = (resolve(args.base), resolve(args.new))
    done = (
        {
            (r["dataset"], r["revision"], r["seed"])
            for r in bench.read_records(args.out)
            if float(r["budget"]) == args.budget
        }
        if args.resume
        else set()
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with worktree(revs[0]) as base_src, worktree(revs[1]) as new_src, ThreadPoolExecutor(2) as pool:
        sources = {revs[0]: base_src / "src", revs[1]: new_src / "src"}
        for dataset in args.datasets:
            for seed in args.seeds:
                todo = [
                    (core, rev) for core, rev in enumerate(revs) if (dataset, rev, seed) not in done
                ]
                futures = [
                    pool.submit(run_one, sources[rev], rev, dataset, seed, core, args)
                    for core, rev in todo
                ]
                for future in futures:
                    record = future.result()
                    with args.out.open("a") as fh:
                        fh.write(json.dumps(bench._finite(record)) + "\n")
                    bench.log(
                        f"{dataset} seed {seed} {record['revision']}: "
                        f"{record['status']} {record.get('score')}"
                    )
    args.md.write_text(render(bench.read_records(args.out), revs, args))
    bench.log(f"wrote {args.md}")


def _peer_scores(
    budget: float, path: Path = bench.DEFAULT_OUT
) -> dict[str, dict[str, float | None]]:
    """The committed table's peer scores per dataset (``path``: its JSON lines)."""
    latest = bench.latest(bench.read_records(path), budget)
    out: dict[str, dict[str, float | None]] = {}
    for (dataset, system), r in latest.items():
        if system in PEERS:
            out.setdefault(dataset, {})[system] = r.get("score") if r["status"] == "ok" else None
    return out


def _stats(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def committed_table(budget: float, dev: bool = False) -> Path:
    """The committed benchmark table (JSON lines) of ``budget`` seconds, public or dev suite."""
    return HERE / "results" / f"automl-{budget:g}s{'-dev' if dev else ''}.jsonl"


def render(records: list[dict], revs: tuple[str, str], args: Any) -> str:
    peers = _peer_scores(args.budget, args.peers)
    runs: dict[tuple[str, str, int], dict] = {}
    for r in records:
        if float(r["budget"]) == args.budget and r["revision"] in revs:
            runs[(r["dataset"], r["revision"], r["seed"])] = r
    datasets = sorted({d for d, _, _ in runs})
    seeds = sorted({s for _, _, s in runs})
    lines = [
        f"# loopml {revs[0]} against {revs[1]}, {args.budget:.0f} s, seeds {seeds}",
        "",
        "Written by `benchmarks/automl_revisions.py`: each (dataset, seed) ran for both "
        "revisions at once, each pinned to its own core, with the protocol and scorer of "
        "`automl.py`. Normalised score and rank are against the peers of the committed table "
        f"(`{args.peers.name}`: FLAML, AutoGluon and the HGB baseline), per seed, "
        "then averaged.",
        "",
        f"| dataset | metric | {revs[0]} (mean ± sd) | {revs[1]} (mean ± sd) | "
        f"{revs[1]} better / equal / worse |",
        "|---|---|---:|---:|---:|",
    ]
    norm: dict[str, list[float]] = {rev: [] for rev in revs}
    rank: dict[str, list[float]] = {rev: [] for rev in revs}
    for dataset in datasets:
        metric = next(r["metric"] for (d, _, _), r in runs.items() if d == dataset)
        higher = metric == "roc_auc"
        per_rev = {rev: {} for rev in revs}
        for rev in revs:
            for seed in seeds:
                r = runs.get((dataset, rev, seed))
                if r is not None:
                    score = r.get("score") if r["status"] == "ok" else None
                    per_rev[rev][seed] = score
                    table = {"loopml": score, **peers.get(dataset, {})}
                    if "hgb" in table:
                        norm[rev].append(sc.normalised_scores(table, "hgb", higher)["loopml"])
                        rank[rev].append(sc.ranks(table, higher)["loopml"])
        sign = 1 if higher else -1
        both = [
            s
            for s in seeds
            if per_rev[revs[0]].get(s) is not None and per_rev[revs[1]].get(s) is not None
        ]
        diff = [sign * (per_rev[revs[1]][s] - per_rev[revs[0]][s]) for s in both]
        tally = (
            sum(d > 1e-9 for d in diff),
            sum(abs(d) <= 1e-9 for d in diff),
            sum(d < -1e-9 for d in diff),
        )
        cells = [_stats([v for v in per_rev[rev].values() if v is not None]) for rev in revs]
        lines.append(
            f"| {dataset} | {metric} | {cells[0]} | {cells[1]} | "
            f"{tally[0]} / {tally[1]} / {tally[2]} |"
        )
    lines += [
        "",
        f"| revision | mean normalised score | mean rank (of {len(PEERS) + 1}) | runs |",
        "|---|---:|---:|---:|",
    ]
    for rev in revs:
        lines.append(
            f"| {rev} | {sc.mean(norm[rev]):.3f} | {sc.mean(rank[rev]):.2f} | {len(norm[rev])} |"
            if norm[rev]
            else f"| {rev} | – | – | 0 |"
        )
    loads = [r["load_avg_1m"] for r in runs.values()]
    fits = [r["fit_seconds"] for r in runs.values() if r.get("fit_seconds")]
    shares = [r["cpu_seconds"] / r["wall_seconds"] for r in runs.values() if r.get("wall_seconds")]
    lines += [
        "",
        f"- runs: {min(r['started_at'] for r in runs.values())} to "
        f"{max(r['started_at'] for r in runs.values())} (UTC); machine: {bench.cpu_model()}",
        f"- 1-min load average at run start: {min(loads):.2f}–{max(loads):.2f}; "
        f"fit seconds {min(fits):.1f}–{max(fits):.1f} for a {args.budget:.0f} s budget",
        f"- CPU / wall of each worker: {min(shares):.0%}–{max(shares):.0%} (far below 100% means "
        "its core was shared with other work)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="0257892", help="the committed table's revision")
    parser.add_argument("--new", default="HEAD")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--data-dir", type=Path, default=bench.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--peers",
        type=Path,
        help="the peers' table (JSON lines; default: the committed one of --budget and the suite"
        " of --data-dir, automl-<budget>s[-dev].jsonl)",
    )
    parser.add_argument("--md", type=Path, help="the Markdown table (default: --out as .md)")
    parser.add_argument("--resume", action="store_true", help="skip runs already in --out")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    available = bench.available_datasets(args.data_dir)
    args.datasets = bench.parse_list(args.datasets, available, "dataset") or available
    args.md = args.md or args.out.with_suffix(".md")
    args.peers = args.peers or committed_table(args.budget, dev=args.data_dir.name == "dev")
    if args.report_only:
        revs = (resolve(args.base), resolve(args.new))
        args.md.write_text(render(bench.read_records(args.out), revs, args))
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
