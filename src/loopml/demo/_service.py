"""The real prediction service for the demo: ``loopml serve`` in a child process on a free
port, talked to over HTTP, stopped when the demo ends, also when it fails."""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loopml.errors import LoopmlError

#: ``loopml serve`` through the console script's entry point, with this interpreter.
_LOOPML = "import sys; from loopml.cli import main; sys.argv[0] = 'loopml'; main()"


class ServiceError(LoopmlError, RuntimeError):
    """The demo's service did not start or stopped answering."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A running ``loopml serve``: its URL, its client, and what went wrong talking to it."""

    url: str
    client: httpx.Client
    log: Path
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def post(self, path: str, body: Any) -> dict[str, Any] | None:
        """POST ``body`` as JSON; the reply's JSON, or None (and a failure) when it failed."""
        self.requests += 1
        try:
            reply = self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            self.failures.append(f"POST {path}: {type(exc).__name__}: {exc}")
            return None
        if reply.status_code != 200:
            self.failures.append(f"POST {path}: HTTP {reply.status_code}: {reply.text[:300]}")
            return None
        found: dict[str, Any] = reply.json()
        return found

    def get(self, path: str) -> dict[str, Any]:
        """GET ``path``'s JSON.

        Raises
        ------
        ServiceError
            The service did not answer, or not with 200 (its log is named).
        """
        try:
            reply = self.client.get(path)
            reply.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceError(
                f"GET {path} failed: {exc}. The service's log is {self.log}."
            ) from exc
        found: dict[str, Any] = reply.json()
        return found


@contextmanager
def running_service(
    config: Path, *, port: int | None = None, ready_seconds: float = 180.0
) -> Iterator[Service]:
    """``loopml serve -c CONFIG`` on ``port`` (a free one by default) until the block ends.

    Its output goes to ``.loopml/demo-serve.log`` next to the project.

    Raises
    ------
    ServiceError
        It exited or was not ready within ``ready_seconds`` (the message quotes its log).
    """
    port = free_port() if port is None else port
    log = config.parent / ".loopml" / "demo-serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-c", _LOOPML, "serve", "-c", str(config), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=config.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60.0) as client:
            _wait_ready(client, process, log, ready_seconds)
            yield Service(url, client, log)
    finally:
        _stop(process)


def _wait_ready(
    client: httpx.Client, process: subprocess.Popen[bytes], log: Path, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if client.get("/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    said = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    state = (
        f"exited with code {process.returncode}"
        if process.poll() is not None
        else (f"was not ready after {seconds:g} s")
    )
    raise ServiceError(f"`loopml serve` {state}; its log ({log}) ends with:\n{said}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C (uvicorn shuts down gracefully, the prediction log flushes), then kill."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def sleep_until(when: float) -> None:
    """Wait until the clock reads ``when`` (seconds since the epoch); at once if it has."""
    left = when - time.time()
    if left > 0 and math.isfinite(left):
        time.sleep(left)
