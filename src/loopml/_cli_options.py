"""The options and plumbing every ``loopml`` command shares: ``-c``, ``--json``, ``-v``, path
arguments relative to the current directory, opening the project, printing JSON.

Here rather than in ``cli.py`` so that command modules (``_cli_export.py``) use the same
options without importing the app they are registered on.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer

# The project file is opened as given, so a relative -c is relative to the current directory,
# and errors name it as the user typed it ("loopml.yaml, line 6").
ConfigOpt = typer.Option(Path("loopml.yaml"), "-c", "--config", help="The project file.")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
ModelOpt = typer.Option("champion", "--model", "-m", help="champion, challenger or a version.")
OverwriteOpt = typer.Option(False, "--overwrite", help="Replace a non-empty DIRECTORY.")


def set_verbose(value: bool) -> bool:
    """``-v`` given after the command's name: log from the moment Click parses it."""
    if value:
        setup_logging(True)
    return value


#: Every command takes -v/--verbose too, so `loopml train -v` works like `loopml -v train`.
VerboseOpt = typer.Option(False, "-v", "--verbose", help="Log what happens.", callback=set_verbose)


def path_argument(default: Any, *, help: str) -> Any:
    """A file argument: relative paths are relative to the current directory.

    Every path given on the command line goes through here or :func:`path_option`: Click
    makes it absolute before the command runs, so :class:`~loopml.project.Project`, which
    reads relative paths as relative to the project file, never re-bases it. Paths inside
    loopml.yaml stay relative to that file.
    """
    return typer.Argument(default, help=help, resolve_path=True)


def path_option(default: Any, *names: str, help: str) -> Any:
    """A file option: relative paths are relative to the current directory (see
    :func:`path_argument`)."""
    return typer.Option(default, *names, help=help, resolve_path=True)


DaskOpt = typer.Option(
    None,
    "--dask",
    metavar="ADDRESS",
    help="Run on a Dask cluster (the search; scoring or profiling a Parquet dataset): its "
    "scheduler (tcp://host:8786), or 'local' to start one here. Overrides execution:. "
    "Needs loopml[dask].",
)


def open_project(config: Path, dask: str | None = None) -> Any:
    """The project of ``config``, on the Dask cluster ``dask`` names (if any)."""
    from loopml.project import Project

    project = Project(config)
    if dask:
        from loopml.scale import with_dask

        project.config = with_dask(project.config, dask)
    return project


def emit_json(data: Any) -> None:
    """``data`` as indented JSON on stdout: what ``--json`` prints."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def setup_logging(verbose: bool) -> None:
    """INFO logs with ``-v``, warnings otherwise; chatty libraries one level quieter."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.INFO if verbose else logging.WARNING)
    for noisy in ("mlflow", "alembic", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)
