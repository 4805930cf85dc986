"""A demo project with a whole story for the dashboard's tests, built once per test session:
two versions, a promotion, drift and a retraining (``loopml demo``, scaled down as in
tests/e2e/test_demo_loop.py) and the data's profile, then the dashboard served by uvicorn on
a free local port.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _served import free_port

LOOPML = [sys.executable, "-c", "from loopml.cli import main; main()"]
#: The variable the demo's serving.api_key_env names once the demo has run.
KEY_ENV = "LOOPML_UI_TEST_KEY"
KEY = "s3cret-ui-key"

_built: dict[str, Path] = {}


def demo_project() -> Path:
    """The demo's loopml.yaml (built on first call, then reused by every test module)."""
    if "config" not in _built:
        root = Path(tempfile.mkdtemp(prefix="loopml-ui-")) / "demo"
        done = subprocess.run(
            [
                *LOOPML, "demo", str(root), "--json", "--rows", "3000", "--folds", "3",
                "--budget", "60", "--max-trials", "4", "--days", "8", "--day-seconds", "3",
                "--rows-per-day", "400",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        body = json.loads(done.stdout)
        assert body["loop"]["retraining"]["promoted"] is True, body["loop"]["retraining"]
        config = root / "loopml.yaml"
        profiled = subprocess.run(
            [*LOOPML, "profile", "-c", str(config)], capture_output=True, text=True, timeout=300
        )
        assert profiled.returncode == 0, profiled.stderr[-3000:]
        # the service the demo ran had no key; the dashboard's writes need one
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("serving:\n", f"serving:\n  api_key_env: {KEY_ENV}\n", 1))
        _built["config"] = config
    return _built["config"]


@contextmanager
def running_ui(config: Path, *, key: str | None = KEY) -> Iterator[str]:
    """The dashboard of ``config`` served on 127.0.0.1 as ``loopml ui`` serves it (only this
    machine's host names answered; ``key`` in the environment the project reads, or none);
    yields its base URL."""
    import uvicorn

    from loopml import Project
    from loopml.ui import create_ui_app, dashboard_key

    project = Project(config, env={KEY_ENV: key} if key else {})
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    app = create_ui_app(project, api_key=dashboard_key(project), hosts=hosts)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
