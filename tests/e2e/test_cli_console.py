"""What a user meets at the console: -v in either place, and tables that fit the terminal."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _tiny import write_tiny_project
from typer.testing import CliRunner

from loopml.cli import app

LOOPML = [sys.executable, "-m", "loopml.cli"]


def _commands() -> dict[str, inspect.Signature]:
    apps = [app, *(group.typer_instance for group in app.registered_groups)]
    return {
        command.name or command.callback.__name__: inspect.signature(command.callback)
        for sub in apps
        for command in sub.registered_commands
    }


def test_every_command_takes_verbose_after_its_name() -> None:
    missing = [
        name
        for name, signature in _commands().items()
        if "-v" not in getattr(signature.parameters.get("verbose"), "default", object()).param_decls
    ]
    assert missing == []


@pytest.mark.parametrize(
    "args",
    [["-v", "validate", "-c", "p/loopml.yaml"], ["validate", "-c", "p/loopml.yaml", "-v"]],
    ids=["before", "after"],
)
def test_verbose_before_or_after_the_command_logs(tmp_path: Path, args: list[str]) -> None:
    write_tiny_project(tmp_path / "p")
    done = subprocess.run(
        [*LOOPML, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
    assert "INFO loopml.data._sources: loaded 300 rows x 6 columns" in done.stderr


def test_without_verbose_nothing_is_logged(tmp_path: Path) -> None:
    write_tiny_project(tmp_path / "p")
    done = subprocess.run(
        [*LOOPML, "validate", "-c", "p/loopml.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "INFO" not in done.stderr


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's messy customers: findings of every severity, without training anything."""
    from loopml.demo import write_demo_project

    return write_demo_project(tmp_path_factory.mktemp("messy") / "demo", rows=400)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_findings_fit_the_terminal(messy: Path, width: int) -> None:
    done = CliRunner().invoke(app, ["validate", "-c", str(messy)], env={"COLUMNS": str(width)})

    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in done.stdout
    assert "inconsistent-spellings" in done.stdout  # a check name is never cut
