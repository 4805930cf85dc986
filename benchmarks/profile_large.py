"""How long loopml's profile takes at scale: 1M rows x 50 columns (the issue's limit: 60 s).

Run: ``.venv/bin/python benchmarks/profile_large.py [--rows N] [--columns N]``. Prints the
time of each step and writes ``benchmarks/results/profile_large.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tables import mixed_table

from loopml.data import profile
from loopml.reports import render_profile_report

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    started = time.perf_counter()
    frame = mixed_table(args.rows, args.columns, seed=args.seed)
    generated = time.perf_counter() - started

    started = time.perf_counter()
    result = profile(frame, target="churned", seed=args.seed)
    profiled = time.perf_counter() - started

    started = time.perf_counter()
    html = render_profile_report(result, title=f"{args.rows:,} x {args.columns}")
    rendered = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "profile.html").write_text(html, encoding="utf-8")

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "rows": args.rows,
        "columns": args.columns,
        "seed": args.seed,
        "generate_seconds": round(generated, 2),
        "profile_seconds": round(profiled, 2),
        "render_seconds": round(rendered, 2),
        "total_seconds": round(profiled + rendered, 2),
        "limit_seconds": 60,
        "peak_rss_mib": round(peak_mib),
        "html_mib": round(len(html.encode()) / 2**20, 2),
        "sampled": result.sampled,
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
    }
    print(json.dumps(summary, indent=2))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "profile_large.json").write_text(json.dumps(summary, indent=2) + "\n")


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
