"""What a test needs from the machine: skipped with the reason on a user's machine, a failure
in CI (CI=true), where .ci/run installs everything (Chromium, PostgreSQL, the [boost,dev] extras).
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

#: Flags for headless Chromium on a machine whose network is closed (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail in CI, which must run every test."""
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"{reason}; CI must run this test (.ci/run installs what it needs)", pytrace=False
        )
    pytest.skip(reason)


def module(name: str) -> ModuleType:
    """Import ``name``, or skip (fail in CI) when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"{name} is not installed ({exc})")
        raise  # unreachable: unavailable() always raises


@contextmanager
def dask_client(workers: int = 2) -> Iterator[Any]:
    """A client of a real ``LocalCluster`` of ``workers`` processes (one thread each) on
    127.0.0.1, closed after; skip (fail in CI) without ``distributed``."""
    module("distributed")
    from loopml.config import ExecutionConfig
    from loopml.scale import dask_client as engine_client

    with engine_client(ExecutionConfig(engine="dask", workers=workers)) as client:
        yield client


class Webhook:
    """A webhook receiver: a real HTTP server on a free local port answering ``status``;
    ``bodies`` are the JSON bodies POSTed to it. Stop it with :meth:`close`."""

    def __init__(self, status: int = 200) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Page:
    """A headless Chromium page, with what it logged and requested."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def chromium() -> str:
    """The Chromium executable, with Playwright importable; skip (fail in CI) otherwise."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("Chromium is not installed (apt-get install chromium)")
    module("playwright.sync_api")
    return str(path)


@contextmanager
def chromium_page(url: str) -> Iterator[Page]:
    """Open ``url`` in Debian's Chromium through Playwright (which never downloads a browser)."""
    executable = chromium()
    sync_api = module("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            seen = Page(page)
            page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(url)
            yield seen
        finally:
            browser.close()
