"""How long the ``loopml`` command takes to start: ``--help``, ``models list``, ``score``.

Each command runs in a fresh process, as a user types it, with ``PYTHONDONTWRITEBYTECODE=1``
(as in this environment: Python reads bytecode but never writes it, so only bytecode compiled
at install helps). The project is a small trained demo (``loopml demo --rows 2000``), its
version 1 promoted to champion; ``score`` reads a 200-row CSV. Every command runs ``--runs``
times, interleaved with the other commands and variants; the table shows the median wall time
(what the user waits) and the median CPU time of the process (user + system, less sensitive to
other work on the machine).

A variant is an interpreter, optionally with a source tree put first on ``PYTHONPATH`` (to
compare another checkout with the same environment)::

    python benchmarks/cli_startup.py \\
        --variant "main, as installed" /work/main/.venv/bin/python /work/main/src \\
        --variant "this branch, make install" .venv/bin/python

The last variant creates the demo project, and the goals (issue 8, item 10) are checked on
it. ``python -X importtime`` of ``models list`` and ``score`` under the last variant
gives the libraries that still cost the most. Writes ``benchmarks/results/cli-startup.json``
and ``benchmarks/results/cli-startup.md``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: command label -> (arguments after ``loopml``, goal in seconds or None)
COMMANDS: dict[str, tuple[list[str], float | None]] = {
    "loopml --help": (["--help"], 0.5),
    "loopml models list": (["models", "list", "-c", "{config}"], 2.0),
    "loopml score (200 rows)": (["score", "{small}", "{out}", "-c", "{config}"], 3.0),
    "loopml validate (2,000 rows)": (["validate", "-c", "{config}"], None),
}

#: The same work done directly with the libraries, no loopml: what MLflow and scikit-learn
#: cost by themselves in a fresh process (the floor under the commands above), with the
#: garbage-collector settings of the ``loopml`` console script (``GC`` wraps each snippet).
GC = "import gc\ngc.set_threshold(10_000, 10, 10)\n{}gc.freeze()\n"
FLOORS: dict[str, str] = {
    "MLflow client lists the versions": (
        "from mlflow import MlflowClient\n"
        "c = MlflowClient(tracking_uri={uri!r}, registry_uri={uri!r})\n"
        "for v in c.search_model_versions(\"name = '{model}'\"):\n"
        "    c.get_run(v.run_id)\n"
    ),
    "MLflow client resolves the champion, joblib loads the pipeline, pandas reads 200 rows": (
        "from mlflow import MlflowClient\n"
        "import joblib, pandas\n"
        "c = MlflowClient(tracking_uri={uri!r}, registry_uri={uri!r})\n"
        "c.get_model_version_by_alias('{model}', 'champion')\n"
        "joblib.load({pipeline!r}).predict_proba(pandas.read_csv({small!r}))\n"
    ),
    # what `score` cannot avoid: unpickling the pipeline loads scikit-learn (and SciPy)
    "joblib loads the pipeline, pandas reads 200 rows (no MLflow)": (
        "import joblib, pandas\n"
        "joblib.load({pipeline!r}).predict_proba(pandas.read_csv({small!r}))\n"
    ),
}


def _env(src: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="0")
    env.pop("PYTHONPATH", None)
    if src:
        env["PYTHONPATH"] = src
    return env


def _loopml(python: str) -> list[str]:
    """The console script beside the interpreter, as a user runs it; else ``-m loopml.cli``."""
    script = Path(python).parent / "loopml"
    return [str(script)] if script.is_file() else [python, "-m", "loopml.cli"]


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit code of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def make_project(python: str, src: str | None, where: Path) -> dict[str, str]:
    """A trained demo project with a champion, and a 200-row file to score."""
    project = where / "demo"
    env = _env(src)
    demo = ["demo", str(project), "--rows", "2000", "--budget", "10", "--folds", "3", "--json"]
    subprocess.run(
        [*_loopml(python), *demo],
        env=env,
        check=True,
        capture_output=True,
    )
    config = project / "loopml.yaml"
    subprocess.run(
        [*_loopml(python), "models", "promote", "1", "-c", str(config)],
        env=env,
        check=True,
        capture_output=True,
    )
    lines = (project / "data" / "new_customers.csv").read_text(encoding="utf-8").splitlines()
    small = where / "small.csv"
    small.write_text("\n".join(lines[:201]) + "\n", encoding="utf-8")
    return {
        "config": str(config),
        "small": str(small),
        "out": str(where / "scored.csv"),
        "uri": f"sqlite:///{project / '.loopml' / 'mlflow.db'}",
        "model": "churn-demo",
        "pipeline": str(next((project / ".loopml" / "artifacts").rglob("pipeline.joblib"))),
    }


def import_offenders(python: str, src: str | None, args: list[str], cwd: Path) -> list[list]:
    """Self import time per top-level package under ``-X importtime``, largest first."""
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "loopml.cli", *args],
        env=_env(src),
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    per_package: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)", line)
        if m:
            per_package[m.group(2).split(".")[0]] += int(m.group(1))
    return [[name, us / 1e6] for name, us in per_package.most_common(10)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--variant",
        nargs="+",
        action="append",
        metavar="LABEL PYTHON [SRC]",
        help="LABEL PYTHON [SRC]: an interpreter, and a source tree to put first on PYTHONPATH",
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--note", default="", help="A line for the results (machine state).")
    opts = parser.parse_args()
    variants = [
        {"label": v[0], "python": v[1], "src": v[2] if len(v) > 2 else None}
        for v in (opts.variant or [["this checkout", sys.executable]])
    ]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="loopml-startup-") as tmp:
        where = Path(tmp)
        last = variants[-1]
        paths = make_project(last["python"], last["src"], where)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = collections.defaultdict(list)
        for _ in range(opts.runs):
            for v in variants:
                for label, (args, _) in COMMANDS.items():
                    cmd = [*_loopml(v["python"]), *(a.format(**paths) for a in args)]
                    wall, cpu, code = _timed(cmd, _env(v["src"]), where)
                    if code != 0:
                        raise SystemExit(f"{v['label']}: {' '.join(cmd)} exited with {code}")
                    samples[(v["label"], label)].append((wall, cpu))
            for label, snippet in FLOORS.items():
                cmd = [last["python"], "-c", GC.format(snippet.format(**paths))]
                wall, cpu, code = _timed(cmd, _env(last["src"]), where)
                if code != 0:
                    raise SystemExit(f"floor {label!r} exited with {code}")
                samples[("floor", label)].append((wall, cpu))
        offenders = {
            label: import_offenders(
                last["python"], last["src"], [a.format(**paths) for a in args], where
            )
            for label, (args, _) in COMMANDS.items()
            if label.startswith(("loopml models", "loopml score"))
        }
    results = {
        "runs": opts.runs,
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "load_average": [list(load_before), list(os.getloadavg())],
        "note": opts.note,
        "variants": variants,
        "median": {
            f"{v} | {c}": {
                "wall": statistics.median(w for w, _ in s),
                "cpu": statistics.median(c for _, c in s),
            }
            for (v, c), s in samples.items()
        },
        "import_offenders": offenders,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cli-startup.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "cli-startup.md").write_text(render(results, variants))
    print((RESULTS / "cli-startup.md").read_text())


def render(results: dict, variants: list[dict]) -> str:
    last = variants[-1]["label"]
    load = results["load_average"]
    lines = [
        "# CLI start-up benchmark",
        "",
        f"Each command in a fresh process with `PYTHONDONTWRITEBYTECODE=1`, median of "
        f"{results['runs']} interleaved runs: wall seconds (CPU seconds of the process). "
        f"{results['machine']}; load average {load[0][0]:.1f} before, {load[1][0]:.1f} after"
        + (f". {results['note']}" if results["note"] else "."),
        "",
        "Variants:",
        *(
            f"- **{v['label']}**: `{v['python']}`"
            + (f" with `PYTHONPATH={v['src']}`" if v["src"] else "")
            for v in variants
        ),
        "",
        "| command | " + " | ".join(v["label"] for v in variants) + " | goal | met |",
        "| --- | " + " | ".join("---:" for _ in variants) + " | ---: | --- |",
    ]
    for label, (_, goal) in COMMANDS.items():
        cells = []
        for v in variants:
            m = results["median"][f"{v['label']} | {label}"]
            cells.append(f"{m['wall']:.2f} ({m['cpu']:.2f})")
        wall = results["median"][f"{last} | {label}"]["wall"]
        met = "" if goal is None else ("yes" if wall < goal else "no")
        goal_text = "" if goal is None else f"< {goal:g} s"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal_text} | {met} |")
    lines += [
        "",
        f"Goals are checked on the wall time of **{last}**.",
        "",
        f"Floors: the same work done directly with the libraries, no loopml, with the console "
        f"script's garbage-collector settings ({last}):",
        "",
        "| work | wall s (CPU s) |",
        "| --- | ---: |",
    ]
    for label in FLOORS:
        m = results["median"][f"floor | {label}"]
        lines.append(f"| {label} | {m['wall']:.2f} ({m['cpu']:.2f}) |")
    lines.append("")
    for label, rows in results["import_offenders"].items():
        lines.append(f"Largest self import time by package, `{label}` ({last}):")
        lines.append("")
        lines.append(", ".join(f"{name} {s:.2f} s" for name, s in rows) + ".")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
