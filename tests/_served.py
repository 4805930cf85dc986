"""Servers a test starts in a subprocess: a free port, and waiting until one is ready."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    *,
    path: str = "/readyz",
    timeout: float = 180,
) -> None:
    """Return once ``url + path`` answers 200; fail with the server's log if it exits or
    stays unready for ``timeout`` seconds (the process is then killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    pytest.fail(f"{process.args!r} did not become ready:\n{log.read_text()[-3000:]}")
