"""`loopml serve` as users run it: a uvicorn server with two worker processes on a real port,
queried by real clients (httpx, tritonclient, schemathesis, prometheus_client's parser), and a
promotion under load that must not fail one request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import _needs as needs
from _served import free_port, wait_ready
from loopml import Project
from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.modeling import make_pipeline
from loopml.registry import ModelBundle
from loopml.serving._contract import METRICS

pytestmark = pytest.mark.services

KEY = "test-key-0123456789"
#: Requests of the bounded load test after its warm-up (about a minute on a busy 2-core machine).
LOAD_REQUESTS = 15_000
CONFIG = """\
name: churn
problem: {target: churned}
data:
  source: {type: csv, path: customers.csv}
  id_columns: [customer_id]
serving:
  api_key_env: LOOPML_TEST_KEY
  reload_poll_seconds: 0.5
"""


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": rng.integers(20, 70, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )


def _bundle(frame: pd.DataFrame, flip: bool) -> ModelBundle:
    frame = frame.copy()
    churn = (frame["age"] < 40) | (frame["plan"] == "basic")
    frame["churned"] = np.where(churn != flip, "yes", "no")
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X = frame.drop(columns=["churned"])
    y = prepare_target(frame["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    return ModelBundle(
        pipeline=pipeline, schema=schema, problem=problem, id_columns=("customer_id",)
    )


@dataclass
class Served:
    url: str
    port: int
    project: Project
    process: subprocess.Popen[bytes]
    headers: dict[str, str]
    predicted: int = 0


@contextmanager
def _serving(project: Project, config: Path) -> Iterator[Served]:
    """`loopml serve -c CONFIG --workers 2` on a free port, until the block ends."""
    port = free_port()
    loopml = Path(sys.executable).parent / "loopml"
    log = config.with_suffix(".log")
    env = {**os.environ, "LOOPML_TEST_KEY": KEY}
    command = [str(loopml), "serve", "-c", str(config), "--workers", "2"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield Served(url, port, project, process, {"Authorization": f"Bearer {KEY}"})
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A project with two registered versions that answer differently; 1 is champion."""
    root = tmp_path_factory.mktemp("serve")
    frame = _customers(80, seed=0)
    frame.assign(churned="no").to_csv(root / "customers.csv", index=False)
    (root / "loopml.yaml").write_text(CONFIG, encoding="utf-8")
    project = Project(root)
    for flip in (False, True):
        project.registry.register(
            _bundle(frame, flip), params={}, metrics={}, artifacts={}, tags={}
        )
    project.registry.set_alias("1", "champion")
    return project


@pytest.fixture(scope="module")
def served(project: Project) -> Iterator[Served]:
    with _serving(project, project.config_path) as server:
        yield server


def _row(**kw: Any) -> dict[str, Any]:
    return {"customer_id": 3, "age": 30.0, "plan": "pro", "signup": "2024-02-01", **kw}


def test_predict_over_http_with_the_key(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers=served.headers) as client:
        r = client.post("/v1/predict", json={"instances": [_row(), _row(age=65.0)]})
        refused = httpx.post(f"{served.url}/v1/predict", json={"instances": [_row()]})

    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] == "1"
    assert len(body["predictions"]) == 2
    assert body["request_ids"][1] == body["request_ids"][0] + "-1"
    assert refused.status_code == 401


def test_feedback_right_after_predicting_finds_the_prediction_on_any_worker(
    served: Served,
) -> None:
    answers = []
    for _ in range(6):  # fresh connections: predicted on one worker, labelled on either
        r = httpx.post(
            f"{served.url}/v1/predict", json={"instances": [_row()]}, headers=served.headers
        )
        rid = r.json()["request_ids"][0]
        label = httpx.post(
            f"{served.url}/v1/feedback",
            json={"request_id": rid, "label": "yes"},
            headers=served.headers,
        )
        answers.append(label.status_code)
    unknown = httpx.post(
        f"{served.url}/v1/feedback",
        json={"request_id": "never-seen", "label": "no"},
        headers=served.headers,
    )

    assert answers == [200] * 6
    assert unknown.status_code == 404
    assert "never-seen" in unknown.json()["error"]


def test_metrics_add_up_both_workers(served: Served) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with httpx.Client(base_url=served.url, headers=served.headers) as client:
        for _ in range(20):  # new connections: the kernel spreads them over the workers
            httpx.post(
                f"{served.url}/v1/predict", json={"instances": [_row()]}, headers=served.headers
            )
        text = client.get("/metrics").text

    families = {f.name: f for f in text_string_to_metric_families(text)}
    names = {s.name for f in families.values() for s in f.samples}
    for name in METRICS:
        assert name in names or f"{name}_count" in names, name
    predicted = sum(
        s.value for s in families["loopml_predictions"].samples if s.name.endswith("_total")
    )
    assert predicted >= 20
    info = [s for s in families["loopml_model_info"].samples if s.value == 1.0]
    assert {s.labels["version"] for s in info} == {"1"}


def test_tritonclient_speaks_v2_to_the_server(served: Served) -> None:
    needs.module("tritonclient.http")
    import tritonclient.http as triton

    client = triton.InferenceServerClient(url=f"127.0.0.1:{served.port}")
    headers = served.headers
    assert client.is_server_ready(headers=headers)
    meta = client.get_model_metadata("churn", headers=headers)
    assert [i["name"] for i in meta["inputs"]] == ["age", "plan", "signup"]

    columns = {
        "age": np.array([25.0, 60.0]),
        "plan": np.array(["basic", "team"], dtype=object),
        "signup": np.array(["2024-01-05", "2024-03-01"], dtype=object),
    }
    json_inputs, binary_inputs = [], []
    for item in meta["inputs"]:
        for binary, batch in ((False, json_inputs), (True, binary_inputs)):
            tensor = triton.InferInput(item["name"], [2], item["datatype"])
            tensor.set_data_from_numpy(columns[item["name"]], binary_data=binary)
            batch.append(tensor)
    outputs = [
        triton.InferRequestedOutput("prediction", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    # tritonclient adds its binary-data header to the dict it is given: give it copies
    result = client.infer("churn", json_inputs, outputs=outputs, headers=dict(headers))
    defaults = client.infer("churn", binary_inputs, headers=dict(headers))  # its defaults
    assert client.get_server_metadata(headers=headers)["name"] == "loopml"

    rows = [_row(age=25.0, plan="basic", signup="2024-01-05"), _row(age=60.0, plan="team")]
    rows[1]["signup"] = "2024-03-01"
    bundle, _ = served.project.registry.load("1")
    expected = bundle.predict_frame(pd.DataFrame(rows))
    assert [p.decode() if isinstance(p, bytes) else p for p in result.as_numpy("prediction")] == (
        expected["prediction"].tolist()
    )
    np.testing.assert_allclose(
        result.as_numpy("probabilities"), expected[["proba_no", "proba_yes"]].to_numpy()
    )
    np.testing.assert_allclose(defaults.as_numpy("probabilities"), result.as_numpy("probabilities"))


def test_schemathesis_finds_no_server_error(served: Served) -> None:
    needs.module("schemathesis")
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    doc = httpx.get(f"{served.url}/openapi.json", headers=served.headers).json()
    schema = schemathesis.openapi.from_dict(doc)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/v1/admin/reload":
            continue  # swapping models is the promotion test's business

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=served.url, headers=served.headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:300]}")

        check()
    assert failures == []


def _load(served: Served, stop: threading.Event, seen: list[tuple[float, int, str]]) -> None:
    """One closed-loop client: predict until ``stop``; record (time, status, version). A new
    connection every 25 requests, so requests reach both workers."""
    body = {"instances": [_row(age=25.0, plan="basic")]}
    while not stop.is_set():
        with httpx.Client(base_url=served.url, headers=served.headers, timeout=30) as client:
            for _ in range(25):
                try:
                    r = client.post("/v1/predict", json=body)
                    ok = r.status_code == 200
                    seen.append(
                        (
                            time.monotonic(),
                            r.status_code,
                            r.json()["model_version"] if ok else r.text,
                        )
                    )
                except httpx.HTTPError as exc:
                    seen.append((time.monotonic(), 0, repr(exc)))


def test_promotion_under_load_fails_no_request(served: Served) -> None:
    stop = threading.Event()
    seen: list[tuple[float, int, str]] = []
    clients = [threading.Thread(target=_load, args=(served, stop, seen)) for _ in range(4)]
    for t in clients:
        t.start()
    try:
        time.sleep(2)
        promoted_at = time.monotonic()
        served.project.promote("2")
        deadline = promoted_at + 90  # loading aside is slow on a busy machine
        while time.monotonic() < deadline:  # until both workers answer with version 2
            recent = [v for at, _, v in seen[-40:] if at > time.monotonic() - 1.5]
            if len(recent) >= 20 and set(recent) == {"2"}:
                break
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=30)

    statuses = Counter(status for _, status, _ in seen)
    assert statuses == {200: len(seen)}, statuses
    before = {v for at, _, v in seen if at < promoted_at}
    last = {v for _, _, v in seen[-20:]}
    assert before == {"1"}
    assert last == {"2"}


def _versions_on_new_connections(served: Served, n: int = 16) -> set[str]:
    body = {"instances": [_row()]}
    answers = set()
    served.predicted += n
    for _ in range(n):  # a new connection each: the kernel spreads them over both workers
        r = httpx.post(f"{served.url}/v1/predict", json=body, headers=served.headers)
        answers.add(r.json()["model_version"])
    return answers


def test_admin_reload_on_one_worker_swaps_every_worker(project: Project) -> None:
    config = project.root / "no-polling.yaml"
    config.write_text(CONFIG.replace("reload_poll_seconds: 0.5", "reload_poll_seconds: 0"))
    project.registry.set_alias("2", "champion")
    logged_before = _settled_log_count(project)
    with _serving(project, config) as served:
        project.registry.set_alias("1", "champion")  # nobody polls: still version 2
        before = _versions_on_new_connections(served)
        r = httpx.post(f"{served.url}/v1/admin/reload", headers=served.headers)
        deadline = time.monotonic() + 20
        after = _versions_on_new_connections(served)
        while after != {"1"} and time.monotonic() < deadline:
            time.sleep(0.25)
            after = _versions_on_new_connections(served)

    assert before == {"2"}
    assert (r.status_code, r.json()["outcome"], r.json()["model_version"]) == (200, "swapped", "1")
    assert after == {"1"}
    # stopped (SIGINT) within a flush interval of the last request: shutdown wrote the rest
    assert _log_count(project) - logged_before == served.predicted


def _worker_rss_mb(server: int) -> float:
    """Resident memory of the server's child processes (the workers), in MB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == server:  # the parent pid
                status = (stat.parent / "status").read_text()
                total += int(status.split("VmRSS:")[1].split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1024


def _log_count(project: Project) -> int:
    from loopml.serving._predlog import PredictionLog

    with PredictionLog(base_dir=project.root) as log:
        return log.count()


def _settled_log_count(project: Project) -> int:
    """The log's row count once no writer adds to it (the other server's last batches)."""
    count, previous = _log_count(project), -1
    while count != previous:
        time.sleep(1.5)  # longer than flush_seconds: a queued batch is written meanwhile
        count, previous = _log_count(project), count
    return count


def _logged_soon(project: Project, at_least: int) -> int:
    """Rows in the prediction log once both workers' writers caught up (async batches)."""
    from loopml.serving._predlog import PredictionLog

    with PredictionLog(base_dir=project.root) as log:
        count, deadline = log.count(), time.monotonic() + 30
        while count < at_least and time.monotonic() < deadline:
            time.sleep(0.5)
            count = log.count()
    return count


def test_bounded_load_fails_nothing_and_memory_stays_flat(served: Served) -> None:
    if not Path("/proc/self/status").is_file():
        needs.unavailable("memory is read from /proc (Linux)")
    stop = threading.Event()
    seen: list[tuple[float, int, str]] = []
    clients = [threading.Thread(target=_load, args=(served, stop, seen)) for _ in range(4)]
    for t in clients:
        t.start()
    try:
        while len(seen) < 2000:  # warm: caches, allocator pools, the prediction log's batches
            time.sleep(0.2)
        baseline = _worker_rss_mb(served.process.pid)
        while len(seen) < 2000 + LOAD_REQUESTS:
            time.sleep(0.2)
        final = _worker_rss_mb(served.process.pid)
    finally:
        stop.set()
        for t in clients:
            t.join(timeout=30)

    statuses = Counter(status for _, status, _ in seen)
    assert statuses == {200: len(seen)}, statuses
    assert _logged_soon(served.project, at_least=len(seen)) >= len(seen)
    assert baseline > 0
    assert final - baseline < 0.1 * baseline, (baseline, final)
