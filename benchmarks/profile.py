"""Profile the same table with loopml, ydata-profiling and plain pandas, in one run.

One seeded 100,000 x 20 table (numbers, categories, booleans, timestamps, date strings, free
text, an id, missing values, a binary target) is written to Parquet; then each tool reads that
file and profiles it in its own fresh Python process:

- ``loopml``: :func:`loopml.data.profile` + :func:`loopml.reports.render_profile_report`, HTML
  written to disk (``loopml + quality checks`` adds :func:`loopml.data.validate`'s findings,
  the report's alerts);
- ``ydata-profiling``, default settings and ``minimal=True``, HTML written to disk;
- the ``pandas floor``: ``describe()``, ``value_counts()`` per column and Pearson and Spearman
  ``corr()``: the least any profile computes, with no report.

ydata-profiling is installed with pip into its own environment (``benchmarks/.venvs/ydata``,
not the project's). Wall time is the whole process as a user waits for it (interpreter start,
imports, reading the file, profiling, writing the page), measured by this script; peak memory
is the child's maximum resident set size (``ru_maxrss`` from ``os.wait4``, the per-child form
of ``getrusage(RUSAGE_CHILDREN)``). Each child also reports how long its work took after its
imports ("compute"). Each tool runs ``--repeat`` times, interleaved; the median is reported.

Run: ``.venv/bin/python benchmarks/profile.py``. Writes ``benchmarks/results/profile.json``
and ``benchmarks/results/profile.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _tables import mixed_table  # noqa: E402 (the helper next to this script)

RESULTS = HERE / "results"
YDATA_ENV = HERE / ".venvs" / "ydata"
YDATA_REQUIREMENTS = ["ydata-profiling==4.18.4", "pyarrow"]
TARGET = "churned"

LOOPML = """
import json, sys, time
started = time.perf_counter()
import pandas as pd
from loopml.data import profile
from loopml.reports import render_profile_report
imported = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
result = profile(frame, target="churned")
findings = ()
if sys.argv[3] == "quality":
    from loopml.config import QualityConfig
    from loopml.data import TableSpec, validate
    findings = validate(frame, spec=TableSpec(target="churned"), quality=QualityConfig()).findings
html = render_profile_report(result, title="benchmark", findings=findings)
with open(sys.argv[2], "w", encoding="utf-8") as out:
    out.write(html)
done = time.perf_counter()
print(json.dumps({"import": imported - started, "compute": done - imported,
                  "findings": len(findings), "html_bytes": len(html.encode())}))
"""

YDATA = """
import json, logging, sys, time, warnings
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
started = time.perf_counter()
import pandas as pd
from ydata_profiling import ProfileReport
imported = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
report = ProfileReport(frame, title="benchmark", minimal=sys.argv[3] == "minimal")
report.to_file(sys.argv[2])
done = time.perf_counter()
import os
print(json.dumps({"import": imported - started, "compute": done - imported,
                  "html_bytes": os.path.getsize(sys.argv[2])}))
"""

PANDAS = """
import json, sys, time
started = time.perf_counter()
import pandas as pd
imported = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
frame.describe(include="all")
for column in frame.columns:
    frame[column].value_counts()
numbers = frame.select_dtypes("number")
numbers.corr()
numbers.corr(method="spearman")
done = time.perf_counter()
print(json.dumps({"import": imported - started, "compute": done - imported}))
"""


def ensure_ydata() -> Path:
    """The ydata-profiling environment's Python, created and installed with pip if needed."""
    python = YDATA_ENV / "bin" / "python"
    check = [str(python), "-c", "import ydata_profiling, pyarrow"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    YDATA_ENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(YDATA_ENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *YDATA_REQUIREMENTS], check=True
    )
    subprocess.run(check, check=True)
    return python


def version(python: Path | str, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def measure(command: list[str]) -> dict[str, float]:
    """Run one child process: wall seconds, peak RSS in MiB, and what it reports."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(
                f"{command[1]} failed ({child.returncode}):\n{err.read().decode()[-3000:]}"
            )
        report = json.loads(out.read().decode().strip().splitlines()[-1])
    return {"wall": wall, "peak_mib": usage.ru_maxrss / 1024, **report}


def measure_rounds(tools: dict[str, list[str]], repeat: int) -> dict[str, list[dict[str, float]]]:
    """Each tool's command ``repeat`` times, tools taking turns, each run printed."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
    for round_ in range(repeat):
        for name, command in tools.items():
            runs[name].append(measure(command))
            last = runs[name][-1]
            print(
                f"[{round_ + 1}/{repeat}] {name:28s} wall {last['wall']:6.2f} s  "
                f"compute {last['compute']:6.2f} s  peak {last['peak_mib']:6.0f} MiB",
                flush=True,
            )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-ydata", action="store_true", help="only loopml and pandas")
    args = parser.parse_args()

    tools: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "table.parquet"
        frame = mixed_table(args.rows, args.columns, seed=args.seed)
        frame.to_parquet(data, index=False)
        kinds = frame.dtypes.astype(str).value_counts().to_dict()
        del frame

        def script(name: str, code: str) -> str:
            path = Path(tmp) / f"run_{name}.py"  # not "pandas.py": it would shadow pandas
            path.write_text(code)
            return str(path)

        loopml, ydata, floor = (
            script("loopml", LOOPML),
            script("ydata", YDATA),
            script("pandas", PANDAS),
        )
        html = str(Path(tmp) / "out.html")
        tools["loopml"] = [sys.executable, loopml, str(data), html, "profile"]
        tools["loopml + quality checks"] = [sys.executable, loopml, str(data), html, "quality"]
        versions = {"loopml": version(sys.executable, "loopml")}
        versions["pandas (loopml env)"] = version(sys.executable, "pandas")
        if not args.skip_ydata:
            python = ensure_ydata()
            tools["ydata-profiling (default)"] = [str(python), ydata, str(data), html, "default"]
            tools["ydata-profiling (minimal)"] = [str(python), ydata, str(data), html, "minimal"]
            versions["ydata-profiling"] = version(python, "ydata-profiling")
            versions["pandas (ydata env)"] = version(python, "pandas")
        tools["pandas floor"] = [sys.executable, floor, str(data), html, "-"]

        runs = measure_rounds(tools, args.repeat)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    base_wall, base_compute = median("loopml", "wall"), median("loopml", "compute")
    rows = []
    for name in tools:
        rows.append(
            {
                "tool": name,
                "wall_s": round(median(name, "wall"), 2),
                "compute_s": round(median(name, "compute"), 2),
                "import_s": round(median(name, "import"), 2),
                "peak_mib": round(median(name, "peak_mib")),
                "wall_vs_loopml": round(median(name, "wall") / base_wall, 2),
                "compute_vs_loopml": round(median(name, "compute") / base_compute, 2),
                "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs[name]],
            }
        )
    result = {
        "table": {
            "rows": args.rows,
            "columns": args.columns,
            "seed": args.seed,
            "dtypes": kinds,
            "target": TARGET,
        },
        "repeat": args.repeat,
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"Python {platform.python_version()}",
        "versions": versions,
        "results": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "profile.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "profile.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict) -> str:
    table = result["table"]
    by_tool = {r["tool"]: r for r in result["results"]}
    lines = [
        "# Profile benchmark",
        "",
        f"One seeded {table['rows']:,} x {table['columns']} table (Parquet; "
        + ", ".join(f"{n} {k}" for k, n in table["dtypes"].items())
        + f"; target `{table['target']}`), each tool in its own process, "
        f"median of {result['repeat']} runs. {result['machine']}. "
        + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        + ".",
        "",
        "Wall time is the whole process (start, imports, read, profile, write the HTML); "
        "compute is the part after the imports. Ratios are the tool's time over loopml's.",
        "",
        "| tool | wall s | compute s | imports s | peak MiB | wall ratio vs loopml "
        "| compute ratio vs loopml |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["results"]:
        lines.append(
            f"| {r['tool']} | {r['wall_s']:.2f} | {r['compute_s']:.2f} | {r['import_s']:.2f} "
            f"| {r['peak_mib']} | {r['wall_vs_loopml']:.2f} | {r['compute_vs_loopml']:.2f} |"
        )
    loopml = by_tool["loopml"]
    lines += ["", "Goals (issue 3): loopml >= 10x faster than ydata-profiling's default, and"]
    lines += ["within 2x of the pandas floor."]
    if "ydata-profiling (default)" in by_tool:
        y = by_tool["ydata-profiling (default)"]
        lines.append(
            f"- vs ydata-profiling default: {y['wall_s'] / loopml['wall_s']:.1f}x faster by wall "
            f"time, {y['compute_s'] / loopml['compute_s']:.1f}x by compute."
        )
    floor = by_tool["pandas floor"]
    lines.append(
        f"- vs the pandas floor: loopml takes {loopml['wall_s'] / floor['wall_s']:.2f}x its wall "
        f"time and {loopml['compute_s'] / floor['compute_s']:.2f}x its compute time."
    )
    if loopml["import_s"] > 2 * floor["import_s"]:
        lines += [
            "",
            f"loopml's imports take {loopml['import_s']:.1f} s of its {loopml['wall_s']:.1f} s "
            f"(pandas alone: {floor['import_s']:.1f} s): `import loopml.data` runs the package's "
            "`__init__`, which imports every stage (scikit-learn, LightGBM, Optuna "
            "and plotly.graph_objects), and `loopml.data` itself reaches scikit-learn "
            "through `loopml.metrics`. "
            "Profiling needs none of them; lazy imports there would bring the wall time near "
            "the pandas floor.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
