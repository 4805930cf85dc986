"""A real Prometheus server (Debian's `prometheus` package) scrapes a real `loopml serve`.

Checks what an operator relies on: the target is up, every metric of the service's contract
reaches Prometheus under its name, and the request counter counts the predictions sent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import _needs as needs
from _served import free_port
from loopml import Project
from loopml.demo import generate_customers, write_demo_project
from loopml.serving._contract import METRICS

SCRAPE_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: loopml
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def _start(command: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A trained tiny project served by `loopml serve` on a free port; yields its base URL."""
    root = tmp_path_factory.mktemp("scrape")
    config = write_demo_project(root / "p", rows=600, budget_seconds=3, cv_folds=2, max_trials=2)
    Project(config).train()
    port = free_port()
    loopml = str(Path(sys.executable).parent / "loopml")
    log = root / "serve.log"
    server = _start(
        [loopml, "serve", "-c", str(config), "--model", "1", "--port", str(port)], log, root
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", server, log, 120)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(server)


@pytest.mark.services
def test_prometheus_scrapes_every_contract_metric(served: str, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        needs.unavailable("Prometheus is not installed (apt-get install prometheus)")
    rows = generate_customers(5, seed=3, with_target=False)
    body = json.dumps({"instances": json.loads(rows.to_json(orient="records"))}).encode()
    for _ in range(3):
        request = urllib.request.Request(
            f"{served}/v1/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    bad = json.dumps({"instances": [{"age": "not a number"}]}).encode()
    refused = urllib.request.Request(
        f"{served}/v1/predict", data=bad, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(refused, timeout=30)
    assert caught.value.code == 422  # counted under loopml_request_errors_total

    target_port = urllib.parse.urlparse(served).port
    (tmp_path / "prometheus.yml").write_text(SCRAPE_CONFIG.format(port=target_port))
    port = free_port()
    log = tmp_path / "prometheus.log"
    prometheus = _start(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log,
        tmp_path,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        _wait_for(f"http://127.0.0.1:{port}/-/ready", prometheus, log, 60)
        names = _scraped_names(api, log, prometheus)
        exported = {n for n in METRICS if n in names or f"{n}_bucket" in names}
        assert exported == set(METRICS), f"not scraped: {sorted(set(METRICS) - exported)}"
        query = urllib.parse.quote("sum(loopml_predictions_total)")
        result = _get(f"{api}/query?query={query}")["data"]["result"]
        assert float(result[0]["value"][1]) >= 15  # 3 requests of 5 instances
        query = urllib.parse.quote('sum(loopml_request_errors_total{status="422"})')
        result = _get(f"{api}/query?query={query}")["data"]["result"]
        assert float(result[0]["value"][1]) == 1
    finally:
        _stop(prometheus)


def _scraped_names(api: str, log: Path, process: subprocess.Popen[bytes]) -> set[str]:
    """Metric names Prometheus holds once the loopml target is up (waits for a scrape)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        up = _get(f"{api}/query?query=up%7Bjob%3D%22loopml%22%7D")["data"]["result"]
        if up and up[0]["value"][1] == "1":
            names = set(_get(f"{api}/label/__name__/values")["data"])
            if "loopml_predictions_total" in names:
                return names
        if process.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"Prometheus never scraped the loopml target:\n{log.read_text()[-3000:]}")
