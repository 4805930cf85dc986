"""Real services for the service tests: a PostgreSQL server started for the test session.

The server runs from a temporary directory on a free port, listening on 127.0.0.1 and on a
unix socket in that directory. PostgreSQL refuses to run as root, so as root (CI, containers)
it runs as the ``postgres`` OS user that Debian's packages create. Without the server binaries
the tests skip, except in CI (``CI=true``), where they must run and so fail.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import _needs as needs
from _served import free_port

NOT_INSTALLED = "PostgreSQL server not installed (apt-get install postgresql)"


@dataclass(frozen=True)
class PostgresServer:
    """Where the test server listens, and a database with a password-protected owner."""

    host: str
    port: int
    database: str
    user: str
    password: str
    socket_dir: str
    admin_user: str

    @property
    def url(self) -> str:
        """The URL without credentials, as a project file would hold it."""
        return f"postgresql://{self.host}:{self.port}/{self.database}"

    def admin_connect(self, database: str | None = None) -> Any:
        """A superuser psycopg connection over the unix socket (autocommit)."""
        import psycopg

        return psycopg.connect(
            host=self.socket_dir,
            port=self.port,
            user=self.admin_user,
            dbname=database or self.database,
            autocommit=True,
        )


_unavailable = needs.unavailable


def _find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in debian]
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    return None


class _Runner:
    """Runs server commands as the current user, or as ``postgres`` when we are root."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.user: str | None = None
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            import pwd

            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable(
                    "running as root and there is no 'postgres' OS user to run the PostgreSQL "
                    "server as (PostgreSQL refuses root); install postgresql or run as a user"
                )
                raise  # pragma: no cover - _unavailable raises
            self.user = "postgres"
            os.chown(workdir, entry.pw_uid, entry.pw_gid)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self.user is not None:
            extra = {"user": self.user, "group": "postgres", "extra_groups": []}
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(
            list(args),
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
            **extra,
        )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL server with database ``loopml_test`` owned by a password user."""
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        _unavailable(NOT_INSTALLED)
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'loopml[postgres]')")
        return
    workdir = Path(tempfile.mkdtemp(prefix="loopml-pg-"))
    data_dir = workdir / "data"
    log_file = workdir / "server.log"
    admin = "loopml_admin"
    started = False
    try:
        runner = _Runner(workdir)
        runner.run(
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            admin,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        port = 0
        for _ in range(3):  # another process may take the free port before the server does
            port = free_port()
            options = (
                f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            result = runner.run(
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if result.returncode == 0:
                started = True
                break
        if not started:
            log = log_file.read_text(errors="replace")[-3000:] if log_file.exists() else ""
            pytest.fail(f"PostgreSQL did not start:\n{result.stdout}{result.stderr}\n{log}")
        server = PostgresServer(
            host="127.0.0.1",
            port=port,
            database="loopml_test",
            user="loopml_user",
            # characters that need quoting in a URL, so the tests prove it is never pasted in one
            password="pw:" + secrets.token_hex(8) + "@/x%",
            socket_dir=str(workdir),
            admin_user=admin,
        )
        with server.admin_connect("postgres") as conn:
            conn.execute(f"CREATE ROLE {server.user} LOGIN PASSWORD '{server.password}'")
            conn.execute(f"CREATE DATABASE {server.database} OWNER {server.user}")
        yield server
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"PostgreSQL set-up failed: {exc.cmd[0]}: {exc.stdout}{exc.stderr}")
    finally:
        if started:
            runner.run(
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-m",
                "fast",
                "-w",
                "stop",
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)
