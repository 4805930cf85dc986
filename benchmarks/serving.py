"""The prediction service against its floor and its peers, on the demo model, in one run.

    python benchmarks/serving.py [--project DIR] [--seconds 10] [--out benchmarks/results]

Measured on one registered model (the demo champion: `loopml demo` trains it, or pass a
trained project with ``--project``):

- in process, one row: ``ModelBundle.predict_frame``, and every runtime loopml has
  (the compiled numpy path, the DataFrame fallback, ONNX Runtime);
- over HTTP, one row, closed loop (one connection, the next request when the answer is in):
  p50 and p99; and throughput with 8 concurrent connections: an empty FastAPI endpoint (the
  floor of HTTP), a plain FastAPI + scikit-learn service (what a team writes by hand),
  `mlflow models serve --env-manager local` of the same registered version, and
  `loopml serve` with each runtime.

Each server runs one worker pinned to core 0; the client runs pinned to core 1 (on this
2-core machine the client never takes the server's core). Results:
``serving.json`` and ``serving.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_CORE, CLIENT_CORE = 0, 1
CONCURRENCY = 8
MODEL = "champion"  # or a version number (--model)


def _mlflow_ref(name: str) -> str:
    return f"models:/{name}/{MODEL}" if MODEL.isdigit() else f"models:/{name}@{MODEL}"


EMPTY_APP = """
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> Response:
    await request.body()
    return Response(b'{"predictions": []}', media_type="application/json")


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
"""

# What a team writes by hand: load the pipeline, build a DataFrame, call predict_proba.
PLAIN_APP = """
import os

import joblib
import pandas as pd
from fastapi import FastAPI

pipeline = joblib.load(os.environ["PIPELINE"])
app = FastAPI()


@app.post("/predict")
def predict(payload: dict) -> dict:
    frame = pd.DataFrame(payload["instances"])
    proba = pipeline.predict_proba(frame)
    return {"predictions": pipeline.classes_[proba.argmax(axis=1)].tolist(),
            "probabilities": proba.tolist()}


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
"""


@dataclass
class Measure:
    """One system's numbers; ``error`` says why a system could not be measured."""

    system: str
    kind: str  # "in-process" or "http"
    p50_ms: float | None = None
    p99_ms: float | None = None
    requests_per_s: float | None = None
    errors: int = 0
    error: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ the model


def _demo_project(directory: Path) -> Path:
    """Write and train the demo project as `make run` does; return its loopml.yaml."""
    loopml = Path(sys.executable).parent / "loopml"
    subprocess.run([str(loopml), "demo", str(directory), "--overwrite"], check=True)
    return directory / "loopml.yaml"


def _instances(config: Path, n: int = 200) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(config.parent / "data" / "new_customers.csv").head(n)
    return json.loads(frame.to_json(orient="records", date_format="iso"))


# ------------------------------------------------------------------ in process


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) / 1e6, p99 / 1e6


def _time_calls(call: Callable[[int], object], seconds: float, warm: int = 50) -> list[int]:
    for i in range(warm):
        call(i)
    samples: list[int] = []
    deadline = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter_ns()
        call(i)
        samples.append(time.perf_counter_ns() - started)
        i += 1
    return samples


def in_process(config: Path, records: list[dict[str, Any]], seconds: float) -> list[Measure]:
    """One row at a time through predict_frame and each loopml runtime, on this core."""
    import pandas as pd

    from loopml import Project

    bundle, _ = Project(config).registry.load(MODEL)
    frames = [pd.DataFrame([r]) for r in records]
    results = []
    samples = _time_calls(lambda i: bundle.predict_frame(frames[i % len(frames)]), seconds)
    p50, p99 = _percentiles(samples)
    results.append(Measure("predict_frame", "in-process", p50, p99))
    for runtime in ("python", "frame", "onnx"):
        results.append(_runtime_in_process(bundle, runtime, records, seconds))
    return results


def _runtime_in_process(
    bundle: Any, runtime: str, records: list[dict[str, Any]], seconds: float
) -> Measure:
    name = f"loopml runtime {runtime}"
    try:
        predictor, reader = _load_runtime(bundle, runtime)
    except Exception as exc:  # a runtime this checkout lacks is reported, not fatal
        return Measure(name, "in-process", error=f"{type(exc).__name__}: {exc}")

    def one(i: int) -> object:
        batch = reader.read([records[i % len(records)]])
        return predictor.predict(batch.rows, batch.n)

    p50, p99 = _percentiles(_time_calls(one, seconds))
    return Measure(name, "in-process", p50, p99, notes={"runtime": predictor.runtime})


def _load_runtime(bundle: Any, runtime: str) -> tuple[Any, Any]:
    from loopml.serving._reader import RecordReader

    reader = RecordReader(bundle)
    if runtime == "onnx":
        from loopml.serving._onnx import OnnxPredictor

        return OnnxPredictor(bundle), reader
    from loopml.serving._compile import compile_predictor

    return compile_predictor(bundle, runtime=runtime), reader


# ------------------------------------------------------------------ servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A server process pinned to the server core, and how to ask it for a prediction."""

    name: str
    command: list[str]
    path: str
    body: Callable[[dict[str, Any]], bytes]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    health: str = "/healthz"
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self, port: int, timeout: float = 180.0) -> None:
        self.log = Path(tempfile.mkstemp(prefix=f"serving-{self.name}-", suffix=".log")[1])
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: _pin(SERVER_CORE),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", self.health)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not become healthy in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _instances_body(row: dict[str, Any]) -> bytes:
    return json.dumps({"instances": [row]}).encode()


def _mlflow_body(row: dict[str, Any]) -> bytes:
    return json.dumps({"dataframe_records": [row]}).encode()


def servers(config: Path, port: int, work: Path) -> list[Server]:
    """Every server of the comparison, each started on ``port`` in turn."""
    from loopml import Project

    project = Project(config)
    bundle_dir = _bundle_directory(project)
    bin_dir = Path(sys.executable).parent
    uvicorn = [str(bin_dir / "uvicorn"), "--host", "127.0.0.1", "--port", str(port)]
    (work / "empty_app.py").write_text(textwrap.dedent(EMPTY_APP))
    (work / "plain_app.py").write_text(textwrap.dedent(PLAIN_APP))
    path_env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    registry = {"MLFLOW_TRACKING_URI": project.registry.uri, **path_env}
    loopml = [str(bin_dir / "loopml"), "serve", "-c", str(config), "--port", str(port)]
    loopml += ["--model", MODEL]
    return [
        Server("empty FastAPI endpoint", [*uvicorn, "empty_app:app"], "/predict",
               _instances_body, cwd=work),
        Server("plain FastAPI + scikit-learn", [*uvicorn, "plain_app:app"], "/predict",
               _instances_body, env={"PIPELINE": str(bundle_dir / "pipeline.joblib")}, cwd=work),
        Server("mlflow models serve", [str(bin_dir / "mlflow"), "models", "serve", "-m",
               _mlflow_ref(project.registry.model_name), "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "-w", "1"], "/invocations", _mlflow_body,
               env={**registry, "MLFLOW_REGISTRY_URI": project.registry.uri}, cwd=config.parent,
               health="/ping"),
        *[
            Server(f"loopml serve --runtime {runtime}", [*loopml, "--runtime", runtime],
                   "/v1/predict", _instances_body, cwd=config.parent)
            for runtime in ("python", "onnx")
        ],
    ]  # fmt: skip


def _bundle_directory(project: Any) -> Path:
    """Where the champion's files are (a local artifact store), for the hand-written service."""
    bundle, _ = project.registry.load(MODEL)
    target = Path(tempfile.mkdtemp(prefix="serving-bundle-"))
    bundle.save(target)
    return target


# ------------------------------------------------------------------ the client


def _post(connection: http.client.HTTPConnection, path: str, body: bytes) -> int:
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read()
    return response.status


def closed_loop(server: Server, port: int, rows: list[dict[str, Any]], seconds: float) -> Measure:
    """One connection, one row per request, the next request when the answer is in."""
    bodies = [server.body(r) for r in rows]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    errors = 0

    def one(i: int) -> object:
        nonlocal errors
        status = _post(connection, server.path, bodies[i % len(bodies)])
        errors += status != 200
        return status

    samples = _time_calls(one, seconds, warm=200)
    connection.close()
    p50, p99 = _percentiles(samples)
    return Measure(server.name, "http", p50, p99, errors=errors, notes={"requests": len(samples)})


def throughput(
    server: Server, port: int, rows: list[dict[str, Any]], seconds: float
) -> tuple[float, int]:
    """Requests per second with ``CONCURRENCY`` connections sending one row each, and errors."""
    bodies = [server.body(r) for r in rows]
    counts = [0] * CONCURRENCY
    failures = [0] * CONCURRENCY
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        while time.perf_counter() < stop:
            try:
                ok = _post(connection, server.path, bodies[i % len(bodies)]) == 200
            except OSError:
                ok = False
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            counts[k] += 1
            failures[k] += not ok
            i += CONCURRENCY
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CONCURRENCY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started), sum(failures)


def over_http(
    config: Path, rows: list[dict[str, Any]], seconds: float, work: Path
) -> list[Measure]:
    results = []
    port = _free_port()
    for server in servers(config, port, work):
        try:
            server.start(port)
            measure = closed_loop(server, port, rows, seconds)
            measure.requests_per_s, failed = throughput(server, port, rows, seconds)
            measure.errors += failed
        except Exception as exc:  # a server that cannot start is a row with its reason
            measure = Measure(server.name, "http", error=f"{type(exc).__name__}: {exc}")
        finally:
            server.stop()
        print(f"  {measure.system}: {_fmt(measure)}", flush=True)
        results.append(measure)
    return results


# ------------------------------------------------------------------ report


def _fmt(m: Measure) -> str:
    if m.error:
        return f"not measured ({m.error[:160]})"
    rps = ""
    if m.requests_per_s:
        rps = f", {m.requests_per_s:,.0f} req/s at {CONCURRENCY} connections"
    return f"p50 {m.p50_ms:.3f} ms, p99 {m.p99_ms:.3f} ms{rps}, errors {m.errors}"


def goals(measures: list[Measure]) -> list[str]:
    """The issue's two goals, each PASS or FAIL with its numbers, or why it cannot be judged."""
    by = {m.system: m for m in measures if not m.error}
    empty = by.get("empty FastAPI endpoint")
    mlflow = by.get("mlflow models serve")
    lines = []
    for runtime in ("python", "onnx"):
        served = by.get(f"loopml serve --runtime {runtime}")
        inproc = by.get(f"loopml runtime {runtime}")
        if not (served and empty and inproc):
            lines.append(f"- single-row p50 with runtime {runtime}: not measured")
            continue
        floor = empty.p50_ms + inproc.p50_ms  # type: ignore[operator]
        ratio = served.p50_ms / floor  # type: ignore[operator]
        verdict = "PASS" if ratio <= 2 else "FAIL"
        lines.append(
            f"- **{verdict}** single-row p50 with runtime {runtime}: {served.p50_ms:.3f} ms = "
            f"{ratio:.2f} × the floor (empty endpoint {empty.p50_ms:.3f} ms + in-process "
            f"{inproc.p50_ms:.3f} ms); goal at most 2 ×"
        )
        if mlflow and mlflow.requests_per_s and served.requests_per_s:
            times = served.requests_per_s / mlflow.requests_per_s
            verdict = "PASS" if times >= 10 else "FAIL"
            lines.append(
                f"- **{verdict}** throughput with runtime {runtime}: {served.requests_per_s:,.0f}"
                f" req/s = {times:.1f} × mlflow models serve ({mlflow.requests_per_s:,.0f}); "
                "goal at least 10 × (one worker each)"
            )
    return lines


def write_report(measures: list[Measure], out: Path, meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(
        json.dumps({"meta": meta, "results": [asdict(m) for m in measures]}, indent=2) + "\n"
    )
    lines = [
        "# Serving benchmark: loopml against its floor and its peers",
        "",
        f"`python benchmarks/serving.py` on {meta['machine']}, {meta['date']}; model: "
        f"{meta['model']}. One worker per server pinned to core {SERVER_CORE}, the client on "
        f"core {CLIENT_CORE}; {meta['seconds']:.0f} s per measurement.",
        "",
        "| system | where | p50 ms | p99 ms | req/s (8 connections) | errors |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for m in measures:
        if m.error:
            lines.append(f"| {m.system} | {m.kind} | not measured: {m.error[:120]} | | | |")
            continue
        rps = f"{m.requests_per_s:,.0f}" if m.requests_per_s else ""
        lines.append(
            f"| {m.system} | {m.kind} | {m.p50_ms:.3f} | {m.p99_ms:.3f} | {rps} | {m.errors} |"
        )
    lines += ["", "## Goals (issue 10)", "", *goals(measures), ""]
    (out / "serving.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a trained project's loopml.yaml")
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--model", default="champion", help="champion or a version number")
    args = parser.parse_args(argv)
    global MODEL
    MODEL = args.model
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        work = Path(tmp)
        config = args.project or _demo_project(work / "demo")
        config = config.resolve()
        rows = _instances(config)
        print("in process (client core):", flush=True)
        _pin(CLIENT_CORE)
        measures = in_process(config, rows, args.seconds)
        for m in measures:
            print(f"  {m.system}: {_fmt(m)}", flush=True)
        print("over HTTP:", flush=True)
        measures += over_http(config, rows, args.seconds, work)
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "model": _model_name(config),
            "seconds": args.seconds,
            "python": platform.python_version(),
        }
        write_report(measures, args.out, meta)
    print(f"wrote {args.out / 'serving.md'}")
    return 0


def _model_name(config: Path) -> str:
    from loopml import Project

    _, info = Project(config).registry.load(MODEL)
    return f"{info.name} version {info.version} ({info.family or 'unknown family'})"


if __name__ == "__main__":
    raise SystemExit(main())
