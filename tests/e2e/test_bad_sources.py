"""Every broken source through `loopml train`: a clear message naming the source and the fix,
a non-zero exit, no traceback, and nothing registered."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loopml.cli import app

runner = CliRunner()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(2)
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": "database on fire"}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)


def _ragged(tmp_path: Path) -> dict:
    _write(tmp_path, "d.csv", b"a,b,y\n1,2,yes\n3,4,no,extra,fields\n5,6,yes\n")
    return {"type": "csv", "path": "d.csv"}


def _latin1(tmp_path: Path) -> dict:
    _write(tmp_path, "d.csv", "name,y\nJosé,yes\nZoë,no\n".encode("latin-1"))
    return {"type": "csv", "path": "d.csv"}


def _empty(tmp_path: Path) -> dict:
    _write(tmp_path, "d.csv", b"")
    return {"type": "csv", "path": "d.csv"}


def _header_only(tmp_path: Path) -> dict:
    _write(tmp_path, "d.csv", b"a,b,y\n")
    return {"type": "csv", "path": "d.csv"}


def _bad_parquet(tmp_path: Path) -> dict:
    _write(tmp_path, "d.parquet", b"PAR1 this is not really parquet")
    return {"type": "parquet", "path": "d.parquet"}


def _bad_sql(tmp_path: Path) -> dict:
    with sqlite3.connect(tmp_path / "shop.db") as con:
        con.execute("create table customers (a int, y text)")
    return {"type": "sql", "url": "sqlite:///shop.db", "query": "selec * fro customers"}


def _refused(tmp_path: Path) -> dict:
    port = _closed_port()
    return {
        "type": "sql",
        "url": f"postgresql+psycopg://analyst@127.0.0.1:{port}/shop",
        "table": "customers",
        "timeout_seconds": 2,
    }


CASES = {
    "ragged CSV": (_ragged, ["d.csv", "Expected 3 fields"]),
    "latin-1 CSV": (_latin1, ["d.csv", "not UTF-8", "encoding"]),
    "empty file": (_empty, ["d.csv", "empty"]),
    "header-only file": (_header_only, ["d.csv", "no rows"]),
    "unreadable Parquet": (_bad_parquet, ["d.parquet"]),
    "bad SQL query": (_bad_sql, ["selec * fro customers"]),
    "refused connection": (_refused, ["127.0.0.1", "customers"]),
}


def _run(tmp_path: Path, source: dict) -> object:
    config = {
        "name": "bad",
        "problem": {"target": "y"},
        "data": {"source": source},
        "training": {"budget_seconds": 2, "cv_folds": 2},
    }
    (tmp_path / "loopml.yaml").write_text(yaml.safe_dump(config))
    return runner.invoke(app, ["train", "-c", str(tmp_path / "loopml.yaml")])


def _assert_clean_failure(result, tmp_path: Path, fragments: list[str]) -> None:
    assert result.exit_code == 3, (result.exit_code, result.output)
    message = result.stderr
    assert message.startswith("Error: DataError:"), message
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in result.output
    assert not (tmp_path / ".loopml").exists()  # nothing registered, no store created


@pytest.mark.parametrize("case", list(CASES))
def test_broken_source_fails_cleanly(tmp_path: Path, case: str) -> None:
    make, fragments = CASES[case]
    _assert_clean_failure(_run(tmp_path, make(tmp_path)), tmp_path, fragments)


def test_api_answering_500_fails_after_retries(tmp_path: Path, api: str) -> None:
    source = {"type": "http", "url": f"{api}/customers", "retries": 2, "backoff_seconds": 0}
    result = _run(tmp_path, source)
    _assert_clean_failure(result, tmp_path, [f"{api}/customers", "3 attempts", "500"])


def test_api_timing_out_fails(tmp_path: Path, api: str) -> None:
    source = {"type": "http", "url": f"{api}/slow", "retries": 0, "timeout_seconds": 0.3}
    result = _run(tmp_path, source)
    _assert_clean_failure(result, tmp_path, [f"{api}/slow", "timed out"])
