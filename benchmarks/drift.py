"""Drift statistics: calibration, power and speed against Evidently and NannyML (issue 11).

(a) Statistics, in this process: a synthetic reference (50k rows; 15 numeric columns, 5
categorical) and windows of 10k rows as the prediction log holds them (object dtype): windows
with no drift (the share with any alarm, feature or data quality, must be at most alpha),
windows with a 0.1-standard-deviation mean shift in one numeric column, and windows with a
5-percentage-point change of one category's share (detection rate at least 0.9, and the
drifting column the only one named). Every window's p-values and effects are kept, so the
table shows the rates at other ``min_effect`` values too: that is how the default was chosen.

(b) Speed: drift of 1M × 20 rows (15 numeric, 5 categorical) against a reference of as many
rows, each system in its own process: loopml (the reference built from the training rows,
then the window tested), Evidently's ``DataDriftPreset`` and NannyML's
``UnivariateDriftCalculator`` (KS and chi-square), each in a venv of its own under
``benchmarks/.venvs`` (``pandas<3``), and a numpy/scipy floor (each column sorted once).
Wall time of the drift work (data generation excluded) and peak RSS during it (the kernel's
high-water mark is reset once the data are made); "memory" is that peak above the RSS before
the data were made (so it holds the data and what the drift work adds), next to the size of
the data (both frames).

    .venv/bin/python benchmarks/drift.py            # the committed run
    .venv/bin/python benchmarks/drift.py --quick    # 40 windows, 100k rows
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# benchmarks/ holds a profile.py that would shadow the standard library's module
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
ROOT = HERE.parent
VENVS = HERE / ".venvs"  # gitignored
RESULTS = HERE / "results"
PEERS = {
    "evidently": ["evidently", "pandas<3", "psutil"],
    "nannyml": ["nannyml", "pandas<3", "psutil", "statsmodels"],  # nannyml imports it undeclared,
}
SYSTEMS = ("loopml", "loopml-logged", "floor", "nannyml", "evidently")
N_NUMERIC, N_CATEGORICAL = 15, 5
CATEGORY_SHARES = (0.3, 0.25, 0.2, 0.15, 0.1)
MIN_EFFECTS = (0.0, 0.0025, 0.005, 0.01)


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# data (numpy and pandas only: the workers run in the peers' venvs too)


def make_frame(rows: int, seed: int, *, shift: float = 0.0, share_change: float = 0.0) -> Any:
    """15 standard normal columns x0..x14 (x0 shifted by ``shift``) and 5 categorical c0..c4
    with labels a..e (c0's "b" share raised by ``share_change``, taken from "a")."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(N_NUMERIC):
        data[f"x{i}"] = rng.standard_normal(rows) + (shift if i == 0 else 0.0)
    labels = np.array(list("abcde"), dtype=object)
    for j in range(N_CATEGORICAL):
        p = np.array(CATEGORY_SHARES)
        if j == 0:
            p[1] += share_change
            p[0] -= share_change
        data[f"c{j}"] = labels[rng.choice(len(p), size=rows, p=p)]
    return pd.DataFrame(data)


def schema_of(frame: Any) -> Any:
    from pandas.api.types import is_numeric_dtype

    from loopml.data import ColumnSchema, Schema

    cols = tuple(
        ColumnSchema(
            name=str(c),
            role="numeric" if is_numeric_dtype(frame[c]) else "categorical",
            dtype=str(frame[c].dtype),
            missing_fraction=0.0,
            n_unique=0,
        )
        for c in frame.columns
    )
    return Schema(columns=cols, target="y")


# --------------------------------------------------------------------------------------------
# (a) statistics


def window_record(ref: Any, window: Any, alpha: float) -> dict[str, Any]:
    from loopml.monitoring import data_quality, feature_drift

    features = feature_drift(ref, window, alpha=alpha, min_effect=0.0)
    quality = data_quality(ref, window, alpha=alpha)
    return {
        "names": [f.name for f in features],
        "p": [f.p_value for f in features],
        "adjusted": [f.adjusted_p_value for f in features],
        "effect": [f.effect for f in features],
        "quality_alarm": any(q.drifted for q in quality),
    }


def named(record: dict[str, Any], alpha: float, min_effect: float) -> list[str]:
    return [
        n
        for n, a, e in zip(record["names"], record["adjusted"], record["effect"], strict=True)
        if a < alpha and e >= min_effect
    ]


def run_statistics(n_null: int, n_shift: int, alpha: float) -> dict[str, Any]:
    from loopml.config import MonitoringConfig
    from loopml.data import Problem
    from loopml.monitoring import Reference, build_reference

    reference_rows, window_rows = 50_000, 10_000
    X = make_frame(reference_rows, seed=1)
    problem = Problem(task="regression", target="y", metric="rmse", gate=None)
    ref = Reference.from_dict(build_reference(X, schema_of(X), problem))
    kinds = {
        "none": ({}, n_null, None),
        "numeric 0.1 sd": ({"shift": 0.1}, n_shift, "x0"),
        "category +5 pp": ({"share_change": 0.05}, n_shift, "c0"),
    }
    t0 = time.perf_counter()
    records: dict[str, list[dict[str, Any]]] = {}
    for k, (kind, (change, count, _)) in enumerate(kinds.items()):
        records[kind] = []
        for i in range(count):
            window = make_frame(window_rows, seed=10_000 * (k + 1) + i, **change).astype(object)
            records[kind].append(window_record(ref, window, alpha))
        log(f"  {kind}: {count} windows")
    default = MonitoringConfig().min_effect
    table = []
    for min_effect in sorted({*MIN_EFFECTS, default}):
        row: dict[str, Any] = {"min_effect": min_effect}
        for kind, (_, _, target) in kinds.items():
            found = [named(r, alpha, min_effect) for r in records[kind]]
            if target is None:
                alarms = [
                    bool(f) or r["quality_alarm"] for f, r in zip(found, records[kind], strict=True)
                ]
                row["false_alarm_rate"] = sum(alarms) / len(alarms)
            else:
                row[f"detected {kind}"] = sum(target in f for f in found) / len(found)
                row[f"only named {kind}"] = sum(f == [target] for f in found) / len(found)
        table.append(row)
    null = records["none"]
    numeric = [
        p for r in null for n, p in zip(r["names"], r["p"], strict=True) if n.startswith("x")
    ]
    categorical = [
        p for r in null for n, p in zip(r["names"], r["p"], strict=True) if n.startswith("c")
    ]
    effects = {
        kind: [
            e
            for r in records[kind]
            for n, e in zip(r["names"], r["effect"], strict=True)
            if n == target
        ]
        for kind, (_, _, target) in kinds.items()
        if target
    }
    null_max = [max(r["effect"]) for r in null]
    return {
        "alpha": alpha,
        "default_min_effect": default,
        "reference_rows": reference_rows,
        "window_rows": window_rows,
        "windows": {k: len(v) for k, v in records.items()},
        "seconds": round(time.perf_counter() - t0, 1),
        "table": table,
        "null_test_rejection": {
            "ks_tests": len(numeric),
            "ks_rate_raw_p_below_alpha": sum(p < alpha for p in numeric) / len(numeric),
            "chi2_tests": len(categorical),
            "chi2_rate_raw_p_below_alpha": sum(p < alpha for p in categorical) / len(categorical),
        },
        "effects": {
            "null max over features": _summary(null_max),
            **{f"shifted column, {k}": _summary(v) for k, v in effects.items()},
        },
    }


def _summary(values: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(values)
    return {
        "min": float(a.min()),
        "p05": float(np.quantile(a, 0.05)),
        "median": float(np.median(a)),
        "p95": float(np.quantile(a, 0.95)),
        "max": float(a.max()),
    }


# --------------------------------------------------------------------------------------------
# (b) speed: one worker process per system


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def status_bytes(field: str) -> int:
    """A ``/proc/self/status`` field (VmRSS, VmHWM) in bytes, 0 when absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> bool:
    """Reset the kernel's RSS high-water mark (VmHWM) to the current RSS (Linux 4.0+)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def worker(system: str, rows: int) -> dict[str, Any]:
    """Run one system's drift over ``rows`` × 20 (reference and current); print JSON."""
    import numpy as np  # noqa: F401  (imported before the baseline RSS, like every system)
    import pandas as pd  # noqa: F401

    prepare = {"loopml": _loopml, "loopml-logged": _loopml, "floor": _floor}
    prepare |= {"evidently": _evidently, "nannyml": _nannyml}
    run = prepare[system]()  # imports the system before the baseline
    base = rss_bytes()
    ref = make_frame(rows, seed=1)
    cur = make_frame(rows, seed=2, shift=0.02, share_change=0.01)
    if system == "loopml-logged":
        cur = cur.astype(object)  # as the prediction log gives it: JSON values
    data = int(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum())
    gc.collect()
    with_data = rss_bytes()
    reset = reset_peak()  # the peak of the drift work itself, not of making the data
    t0 = time.perf_counter()
    detail = run(ref, cur)
    seconds = time.perf_counter() - t0
    peak = status_bytes("VmHWM") if reset else 0
    if not peak:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "system": system,
        "rows": rows,
        "seconds": seconds,
        "peak_rss": peak,
        "base_rss": base,
        "rss_with_data": with_data,
        "peak_reset": reset,
        "memory": peak - base,
        "data_bytes": data,
        **detail,
    }


def _loopml() -> Any:
    from loopml.data import Problem
    from loopml.monitoring import Reference, build_reference, feature_drift

    problem = Problem(task="regression", target="y", metric="rmse", gate=None)

    def run(ref: Any, cur: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        reference = Reference.from_dict(build_reference(ref, schema_of(ref), problem))
        t1 = time.perf_counter()
        found = feature_drift(reference, cur, alpha=0.01, min_effect=0.005)
        t2 = time.perf_counter()
        return {
            "reference_seconds": t1 - t0,
            "window_seconds": t2 - t1,
            "drifted": [f.name for f in found if f.drifted],
        }

    return run


def _floor() -> Any:
    import numpy as np
    import pandas as pd
    from scipy import stats

    def run(ref: Any, cur: Any) -> dict[str, Any]:
        p_values = {}
        for name in ref.columns:
            if not pd.api.types.is_numeric_dtype(ref[name]):
                a = ref[name].value_counts()
                b = cur[name].value_counts().reindex(a.index, fill_value=0)
                p_values[name] = stats.chi2_contingency(np.vstack([a, b]))[1]
                continue
            x, y = np.sort(ref[name].to_numpy()), np.sort(cur[name].to_numpy())
            n, m = len(x), len(y)
            d = max(
                np.abs(np.arange(1, n + 1) / n - np.searchsorted(y, x, "right") / m).max(),
                np.abs(np.searchsorted(x, y, "right") / n - np.arange(1, m + 1) / m).max(),
            )
            p_values[name] = stats.kstwo.sf(d, round(n * m / (n + m)))
        return {"drifted": [k for k, p in p_values.items() if p * len(p_values) < 0.01]}

    return run


def _evidently() -> Any:
    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError:  # before 0.7
        from evidently.metric_preset import DataDriftPreset  # type: ignore[no-redef]
        from evidently.report import Report  # type: ignore[no-redef]

    def run(ref: Any, cur: Any) -> dict[str, Any]:
        report = Report([DataDriftPreset()])
        result = report.run(current_data=cur, reference_data=ref)
        if result is None:  # before 0.7: the report holds its result
            result = report
        text = json.dumps(result.dict(), default=str)
        return {"result_chars": len(text)}

    return run


def _nannyml() -> Any:
    import nannyml as nml
    import pandas as pd

    def run(ref: Any, cur: Any) -> dict[str, Any]:
        categorical = [c for c in ref.columns if not pd.api.types.is_numeric_dtype(ref[c])]
        calc = nml.UnivariateDriftCalculator(
            column_names=list(ref.columns),
            treat_as_categorical=categorical,
            continuous_methods=["kolmogorov_smirnov"],
            categorical_methods=["chi2"],
            chunk_number=1,
        )
        calc.fit(ref)
        results = calc.calculate(cur).filter(period="analysis").to_df()
        return {"result_rows": len(results)}

    return run


def ensure_venv(name: str) -> Path:
    """``benchmarks/.venvs/<name>`` with the peer installed by pip (made once)."""
    venv = VENVS / name
    exe = venv / "bin" / "python"
    if exe.exists() and subprocess.run([exe, "-c", f"import {name}"]).returncode == 0:
        return exe
    base = getattr(sys, "_base_executable", None) or sys.executable
    VENVS.mkdir(parents=True, exist_ok=True)
    with (VENVS / f"{name}-install.log").open("w") as out:
        for cmd in (
            [base, "-m", "venv", "--clear", str(venv)],
            [str(exe), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
            [str(exe), "-m", "pip", "install", *PEERS[name]],
        ):
            subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True)
    return exe


def run_speed(rows: int, systems: list[str], timeout: float) -> list[dict[str, Any]]:
    out = []
    for system in systems:
        try:
            exe = ensure_venv(system) if system in PEERS else Path(sys.executable)
        except subprocess.CalledProcessError as exc:
            out.append({"system": system, "error": f"could not be installed: {exc}"})
            continue
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        cmd = [str(exe), __file__, "--worker", system, "--rows", str(rows)]
        log(f"  {system} ...")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            out.append({"system": system, "error": f"timed out after {timeout:.0f} s"})
            continue
        if done.returncode:
            tail = done.stderr.strip().splitlines()[-3:]
            out.append({"system": system, "error": " / ".join(tail)})
            continue
        record = json.loads(done.stdout.strip().splitlines()[-1])
        record["version"] = _version(exe, system)
        out.append(record)
        log(f"    {record['seconds']:.2f} s, peak RSS {record['peak_rss'] / 2**20:.0f} MiB")
    return out


def _version(exe: Path, system: str) -> str:
    module = {"loopml": "loopml", "loopml-logged": "loopml", "floor": "scipy"}.get(system, system)
    code = f"import importlib.metadata as m; print(m.version({module!r}))"
    done = subprocess.run([str(exe), "-c", code], capture_output=True, text=True)
    return done.stdout.strip()


# --------------------------------------------------------------------------------------------
# report


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "revision": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def render(result: dict[str, Any]) -> str:
    lines = ["# Drift statistics and speed (issue 11)", ""]
    lines += [f"Produced by `benchmarks/drift.py{' --quick' if result['quick'] else ''}`.", ""]
    for key in ("machine_before", "machine_after"):
        m = result[key]
        lines.append(
            f"- {key.replace('_', ' ')}: {m['when']}, revision {m['revision']}, {m['cpus']} CPUs, "
            f"load average {m['load_average_1_5_15']} (a shared machine), Python {m['python']}"
        )
    stats = result.get("statistics")
    if stats:
        lines += _render_statistics(stats)
    lines += _render_speed(result["speed"])
    return "\n".join(lines) + "\n"


def _render_statistics(s: dict[str, Any]) -> list[str]:
    w = s["windows"]
    out = [
        "",
        "## (a) Statistics",
        "",
        f"Reference {s['reference_rows']:,} rows (15 numeric, 5 categorical columns); windows of "
        f"{s['window_rows']:,} rows as logged (object dtype): {w['none']} without drift, "
        f"{w['numeric 0.1 sd']} with a 0.1-sd mean shift of x0, {w['category +5 pp']} with c0's "
        f"share of one label raised by 5 points. alpha = {s['alpha']}; a feature drifts when its "
        "BH-adjusted p-value is below alpha and its PSI is at least min_effect. False alarms: "
        "windows without drift with any alarm (a feature or data quality). Detected: the "
        "shifted column drifted; only named: it is the one column that drifted. "
        f"{s['seconds']} s in all.",
        "",
    ]
    keys = list(s["table"][0])
    out.append("| " + " | ".join(k.replace("_", " ") for k in keys) + " |")
    out.append("|" + "---|" * len(keys))
    for row in s["table"]:
        mark = " (default)" if row["min_effect"] == s["default_min_effect"] else ""
        cells = [f"{row['min_effect']}{mark}"] + [f"{row[k]:.3f}" for k in keys[1:]]
        out.append("| " + " | ".join(cells) + " |")
    r = s["null_test_rejection"]
    out += [
        "",
        "How the default min_effect was chosen: a 0.1-sd mean shift moves the decile PSI of "
        "the shifted column to about 0.01 (table below: its 5% quantile is under 0.01, so "
        "min_effect = 0.01 misses some of them), while without drift the largest PSI of the "
        "20 columns of a 10k-row window stays under 0.004. min_effect = 0.005 sits between "
        "the two with a margin on each side; below it the effect floor stops mattering and "
        "the false-alarm rate is BH's alone (at most alpha in expectation for independent "
        "columns; 3 of 200 windows at min_effect 0 is within the binomial spread of 2).",
        "",
        f"Calibration of the tests themselves, without drift: {r['ks_rate_raw_p_below_alpha']:.4f} "
        f"of {r['ks_tests']} KS tests and {r['chi2_rate_raw_p_below_alpha']:.4f} of "
        f"{r['chi2_tests']} chi-square tests have a raw p-value below alpha = {s['alpha']}.",
        "",
        "PSI (the effect) of the columns:",
        "",
        "| | min | 5% | median | 95% | max |",
        "|---|---|---|---|---|---|",
    ]
    for name, q in s["effects"].items():
        out.append(
            f"| {name} | "
            + " | ".join(f"{q[k]:.4f}" for k in ("min", "p05", "median", "p95", "max"))
            + " |"
        )
    return out


def _render_speed(records: list[dict[str, Any]]) -> list[str]:
    ok = [r for r in records if "seconds" in r]
    rows = ok[0]["rows"] if ok else 0
    out = [
        "",
        f"## (b) Speed: {rows:,} rows × 20 columns, reference and window",
        "",
        "Each system in its own process; seconds of drift work (the data are made before the "
        "clock starts); peak RSS: the high-water mark during the drift work (reset after the "
        "data are made); memory = that peak minus the RSS before the data were made, i.e. the "
        "data plus what the drift work adds; data = both frames' deep memory size. "
        "loopml: build_reference on the reference rows plus "
        "feature_drift on the window (split in the notes); loopml-logged: the window as object "
        "dtype, as the prediction log gives it.",
        "",
        "| system | version | seconds | peak RSS | memory | memory / data | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {r["system"]: r for r in ok}
    for r in records:
        if "error" in r:
            out.append(f"| {r['system']} | | | | | | {r['error']} |")
            continue
        note = ""
        if "window_seconds" in r:
            note = (
                f"reference {r['reference_seconds']:.2f} s, window {r['window_seconds']:.2f} s; "
                f"drifted: {', '.join(r['drifted']) or 'none'}"
            )
        out.append(
            f"| {r['system']} | {r.get('version', '')} | {r['seconds']:.2f} | "
            f"{_mib(r['peak_rss'])} | {_mib(r['memory'])} | {r['memory'] / r['data_bytes']:.2f} "
            f"| {note} |"
        )
    if "loopml" in by:
        lo = by["loopml"]["seconds"]
        goals = []
        if "evidently" in by:
            goals.append(f"{by['evidently']['seconds'] / lo:.1f}× faster than Evidently (goal 20×)")
        if "nannyml" in by:
            goals.append(
                f"{by['nannyml']['seconds'] / lo:.2f}× NannyML's speed (goal: at least 1×)"
            )
        if "floor" in by:
            goals.append(f"{lo / by['floor']['seconds']:.2f}× the numpy/scipy floor's time")
        goals.append(
            f"memory {by['loopml']['memory'] / by['loopml']['data_bytes']:.2f}× the data "
            "(goal under 1.5×)"
        )
        out += [
            "",
            "loopml: " + "; ".join(goals) + ".",
            "",
            "loopml and the floor: the floor compares the two samples exactly (both "
            "columns sorted, each searched in the other), loopml compares the window with the "
            "reference's 1,001-point quantile sketch (the reference is summarised once, at "
            "training; the KS statistic on the sketch is within 1/1000 of the exact one). "
            "loopml-logged pays for reading JSON values out of object columns; its data are "
            "larger (Python objects), hence the lower ratio.",
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 windows, 100k rows")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--skip-statistics", action="store_true")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--render", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args(argv)
    if args.render:
        name = "drift-quick" if args.quick else "drift"
        result = json.loads((RESULTS / f"{name}.json").read_text())
        (RESULTS / f"{name}.md").write_text(render(result))
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows)))
        return 0
    rows = 100_000 if args.quick else args.rows
    result: dict[str, Any] = {"quick": args.quick, "machine_before": machine()}
    if not args.skip_statistics:
        log("statistics ...")
        n_null, n_shift = (40, 20) if args.quick else (200, 100)
        result["statistics"] = run_statistics(n_null, n_shift, args.alpha)
    log(f"speed, {rows} rows ...")
    result["speed"] = run_speed(rows, args.systems.split(","), timeout=1800)
    result["machine_after"] = machine()
    name = "drift-quick" if args.quick else "drift"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(render(result))
    log(f"wrote {RESULTS / name}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
