"""The AutoML benchmark: loopml against FLAML, AutoGluon-Tabular, HistGradientBoosting.

    python benchmarks/automl.py [--datasets a,b] [--systems loopml,flaml,autogluon,...]
                                [--budget 60] [--out benchmarks/results/automl.jsonl] [--resume]

Applies the protocol of ``shared/bench/README.md`` to the datasets in ``shared/bench/data``
(read from there, never copied): fixed splits, one fit budget, one pinned core. Every
(system, dataset) pair runs in its own subprocess (``benchmarks/_automl_worker.py``) with the
system's own interpreter, is killed hard at three times the budget plus three minutes, and
appends one JSON line to ``--out`` as soon as it ends, so a long run can be resumed with
``--resume``. The table goes to the Markdown file beside it (``automl.jsonl`` -> ``automl.md``).

Interpreters: loopml and the hgb baseline run in the project's ``.venv``; FLAML
(``flaml[automl]``) and AutoGluon (``autogluon.tabular[all]``; system ``autogluon`` is
``presets="medium_quality"``, ``autogluon-best`` is ``presets="best_quality"`` in the same venv)
each get their own virtual environment under ``benchmarks/.venvs/<name>``, made with pip the first
time they are needed, so their pins never meet the project's. ``--setup`` only makes those.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# benchmarks/ holds a ``profile.py`` that would shadow the standard library's module: take the
# directory off sys.path and load the scorer by its path.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
_spec = importlib.util.spec_from_file_location("_bench_scoring", HERE / "_scoring.py")
sc = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules[_spec.name] = sc  # type: ignore[union-attr]
_spec.loader.exec_module(sc)  # type: ignore[union-attr]
ROOT = HERE.parent
WORKER = HERE / "_automl_worker.py"
VENVS = HERE / ".venvs"  # gitignored
LOGS = VENVS / "_logs"  # per-pair worker output, gitignored with the venvs
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "data"
DEFAULT_OUT = HERE / "results" / "automl-60s.jsonl"  # the committed full run

SYSTEMS = ("loopml", "flaml", "autogluon", "autogluon-best", "hgb")
#: Run only when named in ``--systems``: ``loopml-bag`` is loopml with ``bagging="auto"`` (the
#: 300 s question of issue 15: do bags pay at long budgets?).
VARIANTS = ("loopml-bag",)
BASELINE = "hgb"
#: Systems that get a virtual environment of their own, and what pip installs into it.
#: ``[all]`` is what ``pip install autogluon`` brings for tabular data: LightGBM, CatBoost,
#: XGBoost, FastAI and torch, i.e. the models ``medium_quality`` uses.
PEER_REQUIREMENTS = {
    "flaml": ["flaml[automl]"],
    "autogluon": ["autogluon.tabular[all]"],
}
#: Installed first: torch's CPU build from the wheel on this disk (``pip install torch==2.13.0``);
#: left to AutoGluon's own requirement, pip would fetch a CUDA build of several GB.
PEER_FIRST = {"autogluon": ["torch==2.13.0"]}
PEER_IMPORT = {"flaml": "flaml", "autogluon": "autogluon.tabular"}
#: Systems that run in another system's virtual environment (a preset of the same library).
SHARED_VENV = {"autogluon-best": "autogluon"}
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Interpreters
# --------------------------------------------------------------------------------------------


def project_python() -> Path:
    """The project's venv interpreter (loopml and the baseline run there)."""
    candidate = ROOT / ".venv" / "bin" / "python"
    if candidate.exists():
        return candidate
    raise SystemExit(f"{candidate} not found: run `make install` first")


def base_python() -> str:
    """The interpreter the peer venvs are made from: the one behind the running venv."""
    return getattr(sys, "_base_executable", None) or sys.executable


def ensure_peer_venv(name: str, *, python: str | None = None) -> Path:
    """``benchmarks/.venvs/<name>`` with the peer installed by pip; made only once.

    A marker file records what was installed; a venv whose marker does not match the current
    requirements is made anew.
    """
    requirements = PEER_FIRST.get(name, []) + PEER_REQUIREMENTS[name]
    venv = VENVS / name
    marker = venv / ".bench-installed.json"
    exe = venv / "bin" / "python"
    if marker.exists() and exe.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("requirements") == requirements:
            return exe
    VENVS.mkdir(parents=True, exist_ok=True)
    install_log = VENVS / f"{name}-install.log"
    log(f"setting up {venv} with {' '.join(requirements)} (log: {install_log}) ...")
    t0 = time.perf_counter()
    with install_log.open("w") as out:

        def step(*cmd: str | Path) -> None:
            out.write(f"$ {' '.join(map(str, cmd))}\n")
            out.flush()
            subprocess.run(list(map(str, cmd)), stdout=out, stderr=subprocess.STDOUT, check=True)

        try:
            step(python or base_python(), "-m", "venv", "--clear", venv)
            step(exe, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
            if name in PEER_FIRST:
                step(exe, "-m", "pip", "install", *PEER_FIRST[name])
            step(exe, "-m", "pip", "install", *requirements)
            step(exe, "-c", f"import {PEER_IMPORT[name]}")
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"installing {name} failed ({exc}); see {install_log}") from exc
    seconds = time.perf_counter() - t0
    freeze = subprocess.run(
        [str(exe), "-m", "pip", "freeze"], capture_output=True, text=True, check=True
    ).stdout
    marker.write_text(
        json.dumps(
            {
                "requirements": requirements,
                "install_seconds": round(seconds, 1),
                "installed_at": now(),
                "freeze": freeze.splitlines(),
            },
            indent=1,
        )
    )
    log(f"  {name}: installed in {seconds:.0f} s")
    return exe


def runs_loopml(system: str) -> bool:
    """Whether ``system`` is loopml (or a variant of it) rather than a peer or the baseline."""
    return system != BASELINE and SHARED_VENV.get(system, system) not in PEER_REQUIREMENTS


def interpreter(system: str) -> Path:
    system = SHARED_VENV.get(system, system)
    if system in PEER_REQUIREMENTS:
        return ensure_peer_venv(system)
    return project_python()


# --------------------------------------------------------------------------------------------
# One pair
# --------------------------------------------------------------------------------------------


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def worker_env(python: Path) -> dict[str, str]:
    """The worker's environment: one thread everywhere, the venv's bin first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")
    }
    env.update(dict.fromkeys(THREAD_VARS, "1"))
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return env


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def run_worker(
    cmd: Sequence[str], env: dict[str, str], timeout: float, log_path: Path, cwd: Path
) -> tuple[int, bool, Any, float]:
    """Run the worker in its own process group; kill the group at ``timeout``.

    ``cwd`` is a scratch directory, so files a library writes where it runs (CatBoost's
    ``catboost_info/``, FLAML's logs) stay out of the repository.

    Returns (exit code, timed out, the ``wait4`` resource usage of the worker and its
    waited-for children, wall seconds).
    """
    t0 = time.perf_counter()
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def on_timeout() -> None:
            timed_out.set()
            kill_group(proc.pid)

        timer = threading.Timer(timeout, on_timeout)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            kill_group(proc.pid)  # whatever the system left behind (e.g. pool workers)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, timed_out.is_set(), usage, time.perf_counter() - t0


def dataset_info(data_dir: Path) -> dict[str, Any]:
    """meta.json plus the class universe (classification) taken from the data itself."""
    import pandas as pd

    meta = json.loads((data_dir / "meta.json").read_text())
    info = {
        "task": meta["task"],
        "target": meta["target"],
        "metric": meta.get("metric", sc.PRIMARY_METRIC[meta["task"]]),
        "positive_class": meta.get("positive_class"),
        "all_classes": None,
    }
    if meta["task"] != "regression":
        target = meta["target"]
        labels = {
            sc.label_key(v)
            for part in ("train", "test")
            for v in pd.read_csv(data_dir / f"{part}.csv.gz", usecols=[target])[target].unique()
        }
        labels |= {sc.label_key(c) for c in (meta.get("classes") or {})}
        info["all_classes"] = sorted(labels, key=_natural)
    return info


def _natural(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def score_pair(data_dir: Path, info: dict[str, Any], result: dict[str, Any], pred: Any) -> dict:
    import pandas as pd

    y = pd.read_csv(data_dir / "test.csv.gz", usecols=[info["target"]])[info["target"]]
    return sc.score(
        info["task"],
        y.tolist(),
        pred,
        model_classes=result.get("classes"),
        all_classes=info["all_classes"],
        positive_class=info["positive_class"],
    )


def _copy_result(record: dict[str, Any], result: dict[str, Any], own_peak_kib: int) -> None:
    """The worker's peak memory, times, versions and model into the pair's record."""
    peak_kib = max(
        own_peak_kib,
        result.get("peak_rss_self_kib", 0),
        result.get("peak_rss_children_kib", 0),
    )
    record["peak_rss_mib"] = round(peak_kib / 1024, 1)
    for key in ("fit_seconds", "predict_seconds"):
        if key in result:
            record[key] = round(result[key], 3)
    for key in ("version", "model", "import_seconds", "python", "numpy", "pandas", "core"):
        if key in result:
            record[key] = result[key]


def _score_into(
    record: dict[str, Any], data_dir: Path, info: dict[str, Any], result: dict[str, Any], pred: Any
) -> None:
    """The pair's test score (or why it has none) into its record."""
    import numpy as np

    try:
        metrics = score_pair(data_dir, info, result, pred)
    except Exception as exc:  # a prediction the scorer cannot use is the system's failure
        record["status"] = "error"
        record["error"] = f"scoring failed: {type(exc).__name__}: {exc}"
        return
    value = metrics[info["metric"]]
    record["status"] = "ok" if np.isfinite(value) else "invalid"
    record["score"] = value
    record["metrics"] = metrics
    if record["status"] == "invalid":
        record["error"] = f"{info['metric']} is not finite (non-finite predictions?)"


def run_pair(
    system: str,
    data_dir: Path,
    *,
    budget: float,
    seed: int,
    core: int | None,
    log_dir: Path,
    kill_after: float | None = None,
) -> dict[str, Any]:
    """Run one (system, dataset) pair to completion and return its JSON record."""
    import numpy as np

    info = dataset_info(data_dir)
    python = interpreter(system)
    timeout = kill_after if kill_after is not None else 3 * budget + 180
    record: dict[str, Any] = {
        "dataset": data_dir.name,
        "system": system,
        "task": info["task"],
        "metric": info["metric"],
        "budget": budget,
        "seed": seed,
        "started_at": now(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "timeout_seconds": timeout,
        "cpu": cpu_model(),  # runs pooled from several sessions may come from different machines
    }
    if runs_loopml(system):  # the checkout its worker imports (LOOPML_SRC, else this one)
        record["revision"] = git_revision(Path(os.environ.get("LOOPML_SRC") or ROOT / "src"))
    scratch = Path(tempfile.mkdtemp(prefix=f"automl-{system}-{data_dir.name}-"))
    try:
        out = scratch / "result.json"
        cmd = [str(python), str(WORKER), "--system", system, "--data", str(data_dir)]
        cmd += ["--budget", str(budget), "--out", str(out), "--seed", str(seed)]
        if core is not None:
            cmd += ["--core", str(core)]
        log_path = log_dir / f"{data_dir.name}--{system}.log"
        code, timed_out, usage, wall = run_worker(
            cmd, worker_env(python), timeout, log_path, scratch
        )
        record["wall_seconds"] = round(wall, 2)
        # CPU seconds well below the wall seconds mean the pinned core was shared.
        record["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
        result = json.loads(out.read_text()) if out.exists() else {}
        _copy_result(record, result, usage.ru_maxrss)
        if timed_out:
            record["status"] = "timeout"
            record["error"] = f"killed after {timeout:g} s"
        elif result.get("status") != "ok":
            record["status"] = "error"
            record["error"] = result.get("error") or f"worker exited with {code}, no result"
            record["traceback_tail"] = (result.get("traceback") or _tail(log_path))[-3000:]
        else:
            _score_into(record, data_dir, info, result, np.load(out.with_suffix(".npy")))
        record["log"] = str(log_path.relative_to(ROOT)) if log_path.is_relative_to(ROOT) else ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return record


def _finite(value: Any) -> Any:
    """NaN and infinities as null, so every line is strict JSON."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# Records and the report
# --------------------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed run
                continue
    return records


def latest(records: Iterable[dict[str, Any]], budget: float) -> dict[tuple[str, str], dict]:
    """The last record per (dataset, system) at this budget."""
    out: dict[tuple[str, str], dict] = {}
    for r in records:
        if float(r.get("budget", -1)) == float(budget):
            out[(r["dataset"], r["system"])] = r
    return out


def _outcome(record: dict[str, Any]) -> str:
    """One log line's worth of a finished pair."""
    what = (
        f"{record['metric']}={record['score']:.4f}"
        if record["status"] == "ok"
        else f"{record['status']}: {record.get('error', '')[:200]}"
    )
    return (
        f"{what}; fit {_fmt(record.get('fit_seconds'), 1)} s, "
        f"predict {_fmt(record.get('predict_seconds'), 2)} s, "
        f"peak {_fmt(record.get('peak_rss_mib'), 0)} MiB, wall {record['wall_seconds']:.0f} s"
        + (f", core {record['core']}" if record.get("core") is not None else "")
    )


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)


def _share(r: dict[str, Any]) -> str:
    """The worker's CPU seconds over its wall seconds: well below 100% = a shared core."""
    cpu, wall = r.get("cpu_seconds"), r.get("wall_seconds")
    return f"{100 * cpu / wall:.0f}%" if cpu is not None and wall else "–"


def _model(r: dict[str, Any]) -> str:
    m = r.get("model") or {}
    text = str(m.get("best", ""))
    if isinstance(m.get("trials"), dict):
        text += " (trials: " + ", ".join(f"{n} {k}" for k, n in m["trials"].items()) + ")"
    return text.replace("|", "\\|")


def _mark(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[ok]


def summarise(
    records: list[dict[str, Any]], datasets: Sequence[str], systems: Sequence[str], budget: float
) -> dict[str, Any]:
    """Scores, normalised scores, ranks and goal checks from the records (no I/O)."""
    recs = latest(records, budget)
    # a system with no pair at this budget yet is left out (not counted as failing everywhere)
    ran = [s for s in systems if any((d, s) in recs for d in datasets)]
    per_dataset: dict[str, dict[str, Any]] = {}
    for d in datasets:
        rows = {s: recs.get((d, s)) for s in ran}
        metric = next((r["metric"] for r in rows.values() if r), None)
        if metric is None:
            continue
        higher = sc.HIGHER_IS_BETTER[metric]
        scores = {
            s: (r.get("score") if r and r.get("status") == "ok" else None) for s, r in rows.items()
        }
        norm = (
            sc.normalised_scores(scores, BASELINE, higher)
            if BASELINE in ran
            else dict.fromkeys(ran)
        )
        per_dataset[d] = {
            "metric": metric,
            "rows": rows,
            "scores": scores,
            "normalised": norm,
            "ranks": sc.ranks(scores, higher),
        }
    summary: dict[str, dict[str, Any]] = {}
    for s in systems:
        if s not in ran:
            summary[s] = {"mean_normalised": None, "mean_rank": None, "ok": 0, "ran": 0}
            summary[s]["max_fit_over_budget"] = None
            continue
        fits = [v["rows"][s].get("fit_seconds") for v in per_dataset.values() if v["rows"][s]]
        summary[s] = {
            "mean_normalised": sc.mean([v["normalised"][s] for v in per_dataset.values()]),
            "mean_rank": sc.mean([v["ranks"][s] for v in per_dataset.values()]),
            "ok": sum(1 for v in per_dataset.values() if v["scores"][s] is not None),
            "ran": sum(1 for v in per_dataset.values() if v["rows"][s]),
            "max_fit_over_budget": max((f / budget for f in fits if f is not None), default=None),
        }
    return {
        "per_dataset": per_dataset,
        "summary": summary,
        "goals": goals(per_dataset, summary),
        "ran": ran,
    }


def goals(per_dataset: dict[str, Any], summary: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """The goal checks of issues 4 (item 8) and 15, for loopml."""
    out: list[tuple[str, bool | None]] = []
    me = summary.get("loopml")
    if me is None:
        return [("loopml was not run", None)]
    peers = (
        ("flaml", "FLAML"),
        ("autogluon", "AutoGluon medium_quality"),
        ("autogluon-best", "AutoGluon best_quality"),
    )
    for peer, label in peers:
        other = summary.get(peer)
        if other is None or me["mean_normalised"] is None or other["mean_normalised"] is None:
            out.append((f"mean normalised score above {label}'s", None))
            out.append((f"mean rank better than {label}'s", None))
            continue
        short = [
            f"{name} ran {row['ran']} of {len(per_dataset)} datasets"
            for name, row in (("loopml", me), (label, other))
            if row["ran"] < len(per_dataset)
        ]
        if short:  # a pair not run yet is no failure: no verdict until every dataset has run
            why = "; ".join(short)
            out.append((f"mean normalised score above {label}'s: incomplete ({why})", None))
            out.append((f"mean rank better than {label}'s: incomplete ({why})", None))
            continue
        out.append(
            (
                f"mean normalised score above {label}'s "
                f"({me['mean_normalised']:.3f} vs {other['mean_normalised']:.3f})",
                me["mean_normalised"] > other["mean_normalised"],
            )
        )
        out.append(
            (
                f"mean rank better than {label}'s "
                f"({me['mean_rank']:.2f} vs {other['mean_rank']:.2f})",
                me["mean_rank"] < other["mean_rank"],
            )
        )
    misses, checked = [], 0
    for d, v in per_dataset.items():
        if BASELINE not in v["scores"] or "loopml" not in v["scores"]:
            continue
        ok = sc.baseline_gap_ok(v["metric"], v["scores"]["loopml"], v["scores"][BASELINE])
        if ok is None:
            continue
        checked += 1
        if not ok:
            misses.append(d)
    out.append(
        (
            "on no dataset worse than the HGB baseline by more than 0.005 ROC AUC or 0.5% "
            f"relative RMSE / log loss ({checked} datasets checked"
            + (f"; worse on: {', '.join(misses)})" if misses else ")"),
            (not misses) if checked else None,
        )
    )
    slow = []
    budget_checked = 0
    for d, v in per_dataset.items():
        r = v["rows"].get("loopml")
        if not r:
            continue
        budget_checked += 1
        if not sc.fit_time_ok(r.get("fit_seconds"), float(r["budget"])):
            slow.append(f"{d} ({_fmt(r.get('fit_seconds'), 1)} s)")
    over = f" (over on: {', '.join(slow)})" if slow else ""
    out.append(("fit time within the budget + 10%" + over, (not slow) if budget_checked else None))
    return out


def git_revision(src: Path = ROOT / "src") -> str:
    """The commit of the checkout holding ``src``, flagged when ``src`` has local changes."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (src/ has uncommitted changes)" if dirty else "")


def row_revision(record: dict[str, Any]) -> str | None:
    """The loopml revision a record ran, also for records written before runs recorded it
    (``automl_revisions.py`` imports a revision from a ``loopml-<rev>-`` temporary checkout)."""
    if record.get("revision"):
        return str(record["revision"])
    found = re.search(
        r"/loopml-([0-9a-f]{7,40})-", str((record.get("model") or {}).get("loopml_file"))
    )
    return found.group(1) if found else None


def _revisions(records: Iterable[dict[str, Any]]) -> str:
    """Which revisions the report's loopml rows ran, with how many rows each."""
    counts = Counter(row_revision(r) or "not recorded" for r in records if runs_loopml(r["system"]))
    return ", ".join(f"{rev} ({n} rows)" for rev, n in counts.most_common()) or "none"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _machines(records: Sequence[dict[str, Any]]) -> str:
    """The CPUs the records ran on (records from before runs noted it: this machine's)."""
    here = f"{cpu_model()}, {os.cpu_count()} cores"
    named = Counter(str(r["cpu"]) for r in records if r.get("cpu"))
    if not named:
        return here
    unnamed = sum(1 for r in records if not r.get("cpu"))
    parts = [f"{cpu} ({n} rows)" for cpu, n in named.most_common()]
    if unnamed:
        parts.append(f"not recorded ({unnamed} rows)")
    return ", ".join(parts) if len(parts) > 1 else f"{next(iter(named))}, {os.cpu_count()} cores"


def _per_dataset_lines(s: dict[str, Any], systems: Sequence[str]) -> list[str]:
    """The report's per-dataset tables: each system's status, score, times and model."""
    lines: list[str] = []
    lines += [
        "",
        "## Per dataset",
        "",
        "Fit and predict seconds are wall-clock inside the worker; peak MiB is the largest "
        "`ru_maxrss` of the worker or any of its children; CPU / wall is the worker's CPU "
        "seconds over its wall seconds (reading the data included): far below 100% means the "
        "pinned core was shared with other work.",
        "",
    ]
    for d, v in s["per_dataset"].items():
        lines += [
            f"### {d} ({v['rows'][next(n for n in systems if v['rows'][n])]['task']}, "
            f"{v['metric']})",
            "",
            "| system | status | score | normalised | rank | fit s | predict s | peak MiB | "
            "CPU / wall | final model | secondary |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for name in systems:
            r = v["rows"][name]
            if not r:
                lines.append(f"| {name} | not run | – | – | – | – | – | – | – | | |")
                continue
            secondary = ", ".join(
                f"{k} {_fmt(x)}" for k, x in (r.get("metrics") or {}).items() if k != v["metric"]
            )
            status = r["status"]
            if r.get("error"):
                status += f": {r['error'][:120]}".replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {name} | {status} | {_fmt(v['scores'][name])} | "
                f"{_fmt(v['normalised'][name], 3)} | {_fmt(v['ranks'][name], 1)} | "
                f"{_fmt(r.get('fit_seconds'), 1)} | {_fmt(r.get('predict_seconds'), 2)} | "
                f"{_fmt(r.get('peak_rss_mib'), 0)} | {_share(r)} | {_model(r)} | {secondary} |"
            )
        lines.append("")
    return lines


def render_markdown(
    records: list[dict[str, Any]],
    datasets: Sequence[str],
    systems: Sequence[str],
    budget: float,
    *,
    label: str | None,
    all_datasets: Sequence[str],
) -> str:
    s = summarise(records, datasets, systems, budget)
    recs = [r for r in latest(records, budget).values() if r["dataset"] in datasets]
    lines = [f"# AutoML benchmark{': ' + label if label else ''}", ""]
    partial = float(budget) not in (60.0, 300.0) or set(datasets) != set(all_datasets)
    if partial:
        lines += [
            f"> **Not the benchmark.** This run used a {budget:g} s budget on "
            f"{len(datasets)} of the {len(all_datasets)} datasets; the protocol's figures are "
            "60 s and 300 s on all of them (`python benchmarks/automl.py`).",
            "",
        ]
    versions: dict[str, set[str]] = {}
    for r in recs:
        if r.get("version"):
            versions.setdefault(r["system"], set()).add(str(r["version"]))
    started = sorted(r["started_at"] for r in recs if r.get("started_at"))
    loads = [r["load_avg_1m"] for r in recs if r.get("load_avg_1m") is not None]
    lines += [
        "Protocol: `shared/bench/README.md` — fixed splits, "
        f"**{budget:g} s** fit budget passed to each system's own time limit, one core "
        "(`sched_setaffinity` + `*_NUM_THREADS=1`, `n_jobs=1` / `num_cpus=1`), one subprocess "
        "per pair killed at 3 × budget + 180 s. Every system is told the target, the task and "
        "the metric it is scored on; the baseline (`hgb`) is scikit-learn "
        "HistGradientBoosting with default settings after ordinal-encoding the text columns.",
        "",
        f"- machine: {_machines(recs)}; other work may have run alongside "
        f"(1-min load average at pair start: {min(loads):.2f}–{max(loads):.2f})"
        if loads
        else f"- machine: {_machines(recs)}",
        f"- runs: {started[0]} to {started[-1]} (UTC)" if started else "- runs: none",
        f"- loopml revision: {_revisions(recs)}",
        "- versions: "
        + ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in sorted(versions.items())),
        "",
        "## Summary",
        "",
        "Normalised score per dataset: 0 = `hgb` baseline, 1 = best system on that dataset "
        "(baseline-to-worst, in [-1, 0], when the baseline is best); a failed pair counts -1 "
        "and ranks last. Rank 1 is best; ties share ranks.",
        "",
        "| system | mean normalised score | mean rank | pairs ok / run | max fit / budget |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in s["summary"].items():
        lines.append(
            f"| {name} | {_fmt(v['mean_normalised'], 3)} | {_fmt(v['mean_rank'], 2)} | "
            f"{v['ok']} / {v['ran']} | {_fmt(v['max_fit_over_budget'], 2)} |"
        )
    lines += ["", "## Goals (issue 4 item 8, issue 15)", ""]
    lines += [f"- **{_mark(ok)}** {text}" for text, ok in s["goals"]]
    lines += ["", "## Scores", "", "Primary metric per dataset (↑ higher is better, ↓ lower).", ""]
    systems = s["ran"]  # the tables below show the systems with a pair at this budget
    missing = [name for name in s["summary"] if name not in systems]
    if missing:
        lines += [f"Not run at this budget yet: {', '.join(missing)}.", ""]
    lines.append("| dataset | metric | " + " | ".join(systems) + " |")
    lines.append("|---|---|" + "---:|" * len(systems))
    for d, v in s["per_dataset"].items():
        arrow = "↑" if sc.HIGHER_IS_BETTER[v["metric"]] else "↓"
        best = v["ranks"]
        cells = []
        for name in systems:
            r = v["rows"][name]
            if v["scores"][name] is not None:
                text = _fmt(v["scores"][name])
                cells.append(f"**{text}**" if best[name] == min(best.values()) else text)
            else:
                cells.append(r["status"] if r else "–")
        lines.append(f"| {d} | {v['metric']} {arrow} | " + " | ".join(cells) + " |")
    lines += ["", "Normalised score:", ""]
    lines.append("| dataset | " + " | ".join(systems) + " |")
    lines.append("|---|" + "---:|" * len(systems))
    for d, v in s["per_dataset"].items():
        cells = " | ".join(_fmt(v["normalised"][n], 3) for n in systems)
        lines.append(f"| {d} | {cells} |")
    lines += _per_dataset_lines(s, systems)
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def available_datasets(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if (p / "meta.json").exists())


def parse_list(text: str | None, allowed: Sequence[str], what: str) -> list[str]:
    if not text:
        return list(allowed)
    items = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [x for x in items if x not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(allowed)}")
    return items


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument(
        "--systems",
        help=f"comma-separated, from {','.join(SYSTEMS + VARIANTS)} (default {','.join(SYSTEMS)})",
    )
    parser.add_argument("--budget", type=float, default=60.0, help="fit seconds (60)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON-lines file")
    parser.add_argument("--md", type=Path, help="the Markdown table (default: --out as .md)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resume", action="store_true", help="skip pairs already in --out")
    parser.add_argument(
        "--retry-failed", action="store_true", help="with --resume: run failed pairs again"
    )
    parser.add_argument("--fresh", action="store_true", help="overwrite an existing --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--core", type=int, help="the core to pin workers to (default: last)")
    parser.add_argument(
        "--cores",
        help="comma-separated cores: one pair at a time on each, pinned to it (e.g. 0,1); "
        "the reports say so through each pair's load average",
    )
    parser.add_argument("--label", help="a title suffix for the Markdown report")
    parser.add_argument(
        "--kill-after",
        type=float,
        help="seconds before a pair is killed (default: the protocol's 3 x budget + 180)",
    )
    parser.add_argument("--setup", action="store_true", help="only make the peer venvs")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the table")
    return parser


def run_pairs(
    pairs: Sequence[tuple[str, str]],
    args: argparse.Namespace,
    data_dir: Path,
    out: Path,
    log_dir: Path,
    write_report: Any,
) -> None:
    """Run ``pairs`` (dataset, system), one at a time on each of ``--cores`` (or ``--core``),
    appending each record to ``out`` and rewriting the report as it ends."""
    cores = [int(c) for c in args.cores.split(",")] if args.cores else [args.core]
    free: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    for core in cores:
        free.put(core)
    lock = threading.Lock()
    finished = 0

    def one(pair: tuple[str, str]) -> None:
        nonlocal finished
        d, s = pair
        core = free.get()  # a core no other pair is running on
        try:
            record = run_pair(
                s,
                data_dir / d,
                budget=args.budget,
                seed=args.seed,
                core=core,
                log_dir=log_dir,
                kill_after=args.kill_after,
            )
        finally:
            free.put(core)
        with lock:
            with out.open("a") as f:
                f.write(json.dumps(_finite(record), allow_nan=False) + "\n")
            write_report()
            finished += 1
            log(f"[{finished}/{len(pairs)}] {d} / {s}: {_outcome(record)}")

    with ThreadPoolExecutor(max_workers=len(cores)) as pool:
        list(pool.map(one, pairs))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    systems = parse_list(args.systems or ",".join(SYSTEMS), SYSTEMS + VARIANTS, "systems")
    if args.setup:
        for name in systems:
            if name in PEER_REQUIREMENTS:
                ensure_peer_venv(name)
        return 0
    data_dir = args.data_dir.resolve()
    if not data_dir.is_dir():
        raise SystemExit(f"no datasets at {data_dir} (use --data-dir)")
    all_datasets = available_datasets(data_dir)
    datasets = parse_list(args.datasets, all_datasets, "datasets")
    out = args.out.resolve()
    md = (args.md or out.with_suffix(".md")).resolve()

    def write_report() -> None:
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(
            render_markdown(
                read_records(out),
                datasets,
                systems,
                args.budget,
                label=args.label,
                all_datasets=all_datasets,
            )
        )

    if args.report_only:
        write_report()
        log(f"wrote {md}")
        return 0
    if out.exists() and out.stat().st_size and not (args.resume or args.fresh):
        raise SystemExit(f"{out} exists: pass --resume to continue it or --fresh to start over")
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.fresh:
        out.write_text("")
    done = {
        (r["dataset"], r["system"]): r.get("status")
        for r in read_records(out)
        if float(r.get("budget", -1)) == args.budget
    }
    pairs = [
        (d, s)
        for d in datasets
        for s in systems
        if (d, s) not in done or (args.retry_failed and done[(d, s)] != "ok")
    ]
    for name in dict.fromkeys(s for _, s in pairs):  # install the peers before timing anything
        interpreter(name)
    log_dir = LOGS / out.stem
    log_dir.mkdir(parents=True, exist_ok=True)
    log(f"{len(pairs)} pairs to run ({len(datasets) * len(systems) - len(pairs)} already done)")
    t_run = time.perf_counter()
    run_pairs(pairs, args, data_dir, out, log_dir, write_report)
    write_report()
    log(f"done in {time.perf_counter() - t_run:.0f} s; wrote {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
