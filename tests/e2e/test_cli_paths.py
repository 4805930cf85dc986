"""Paths mean one thing: on the command line relative to the current directory, inside
loopml.yaml relative to that file. Every test runs the CLI from a directory that is not the
project's, with a relative ``-c``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _tiny import frame, write_tiny_project
from typer.testing import CliRunner

from loopml.cli import app

runner = CliRunner()

#: Where the tests stand (the current directory) and where the project lives, relative to it.
CONFIG = "other/dir/loopml.yaml"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/work`` is the current directory; the trained project is ``work/other/dir``."""
    root = tmp_path_factory.mktemp("paths")
    work = root / "work"
    write_tiny_project(work / "other" / "dir")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        done = runner.invoke(app, ["train", "-c", CONFIG, "--json"])
    assert done.exit_code == 0, done.output
    return work


@pytest.fixture
def work(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(workspace)
    return workspace


def _project(work: Path) -> Path:
    return work / "other" / "dir"


def test_profile_out_is_relative_to_the_current_directory(work: Path) -> None:
    done = runner.invoke(app, ["profile", "-c", CONFIG, "--out", "reports/profile.html"])
    assert done.exit_code == 0, done.output
    assert (work / "reports" / "profile.html").is_file()
    assert not (_project(work) / "reports").exists()


def test_profile_output_in_the_project_file_is_relative_to_it(work: Path) -> None:
    done = runner.invoke(app, ["profile", "-c", CONFIG, "--json"])
    assert done.exit_code == 0, done.output
    written = Path(json.loads(done.stdout)["profile"])
    assert written == _project(work).resolve() / ".loopml" / "profile.html"
    assert written.is_file()


def test_evaluate_data_is_relative_to_the_current_directory(work: Path) -> None:
    frame(80, 5).to_csv(work / "labelled.csv", index=False)  # only here, not in the project
    done = runner.invoke(
        app, ["evaluate", "-c", CONFIG, "--model", "1", "--data", "labelled.csv", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["n_rows"] == 80


def test_evaluate_data_missing_names_the_path_from_the_current_directory(work: Path) -> None:
    done = runner.invoke(app, ["evaluate", "-c", CONFIG, "--data", "nowhere.csv"])
    assert done.exit_code == 3
    assert f"evaluation data {work.resolve() / 'nowhere.csv'} not found" in done.stderr


def test_score_input_and_output_are_relative_to_the_current_directory(work: Path) -> None:
    frame(25, 6, with_target=False).to_csv(work / "batch.csv", index=False)
    done = runner.invoke(
        app, ["score", "batch.csv", "scored/batch.csv", "-c", CONFIG, "--model", "1", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert len(pd.read_csv(work / "scored" / "batch.csv")) == 25
    assert not (_project(work) / "scored").exists()


def test_scoring_section_paths_are_relative_to_the_project_file(work: Path) -> None:
    done = runner.invoke(app, ["run", "-c", CONFIG, "--json"])
    assert done.exit_code == 0, done.output
    output = Path(json.loads(done.stdout)["scoring"]["output"])
    assert output == _project(work).resolve() / "out" / "scored.csv"
    assert len(pd.read_csv(output)) == 60
    assert not (work / "out").exists()


def _path_parameters() -> dict[str, Any]:
    """Every parameter annotated as a path, of every command: name -> its typer info."""
    found = {}
    apps = [app, *(group.typer_instance for group in app.registered_groups)]
    for sub in apps:
        for command in sub.registered_commands:
            name = command.name or command.callback.__name__
            for param in inspect.signature(command.callback).parameters.values():
                if "Path" in str(param.annotation):
                    found[f"{name} {param.name}"] = param.default
    return found


def test_every_path_on_the_command_line_is_made_absolute_before_use() -> None:
    """Commands added later (export ...) go through cli.path_argument / path_option too."""
    params = _path_parameters()
    assert set(params) >= {"profile output", "evaluate data", "score input", "score output"}
    # -c is opened as given, which is already relative to the current directory
    loose = [n for n, info in params.items() if n.split()[1] != "config" and not info.resolve_path]
    assert loose == []
