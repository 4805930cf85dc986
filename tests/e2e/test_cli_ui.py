"""``loopml ui`` before anything is trained, and its refusal to listen beyond this machine
without a key (fast: nothing is trained)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from _tiny import write_tiny_project

import _ui_demo as demo

LOOPML = [sys.executable, "-c", "from loopml.cli import main; main()"]


def test_an_untrained_project_shows_empty_pages_and_creates_no_store(tmp_path: Path) -> None:
    config = write_tiny_project(tmp_path)
    with demo.running_ui(config, key=None) as url, httpx.Client(base_url=url) as client:
        for path in ("/", "/runs", "/versions", "/data", "/monitoring"):
            assert client.get(path).status_code == 200, path
        overview = client.get("/api/overview").json()
        assert (overview["champion"], overview["runs"], overview["versions"]) == (None, 0, 0)
        assert client.get("/api/runs").json()["runs"] == []
        missing = client.get("/api/models/1")
        assert missing.status_code == 404
        assert "no model is registered yet" in missing.json()["error"]
        assert client.get("/versions/1/report").status_code == 404
        no_profile = client.get("/profile")
        assert no_profile.status_code == 404 and "loopml profile" in no_profile.text
    assert not (tmp_path / ".loopml" / "mlflow.db").exists()  # the dashboard only reads


def test_listening_beyond_this_machine_needs_a_key(tmp_path: Path) -> None:
    config = write_tiny_project(tmp_path)
    done = subprocess.run(
        [*LOOPML, "ui", "-c", str(config), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "refusing to serve the dashboard on 0.0.0.0 without an API key" in done.stderr


def test_a_page_asked_under_another_host_name_is_refused(tmp_path: Path) -> None:
    """A site whose DNS name is rebound to 127.0.0.1 cannot read the dashboard."""
    config = write_tiny_project(tmp_path)
    with demo.running_ui(config, key=None) as url:
        assert httpx.get(f"{url}/api/overview").status_code == 200
        refused = httpx.get(f"{url}/api/overview", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "Invalid host header" in refused.text
