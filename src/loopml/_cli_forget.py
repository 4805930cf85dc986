"""``loopml forget``: its own module, registered on the app by ``cli.py`` (one line there).

Parsing and printing only: :meth:`loopml.project.Project.forget` erases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from loopml._cli_print import print_forget
from loopml._cli_progress import cli_errors


def register(app: typer.Typer) -> None:
    """Add ``forget`` to ``app``."""
    app.command("forget")(forget)


def forget(
    column: str = typer.Option(
        ..., "--column", metavar="COL", help="The column that identifies the entity."
    ),
    value: list[str] = typer.Option(
        ...,
        "--value",
        metavar="V",
        help="Its value as you know it (hashed here where the privacy policy hashes COL); "
        "repeat for more.",
    ),
    config: Path = typer.Option(Path("loopml.yaml"), "-c", "--config", help="The project file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    as_json: bool = typer.Option(
        False, "--json", help="Print machine-readable JSON instead of tables."
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens."),
) -> None:
    """Delete an entity's predictions and labels from the prediction log (right to erasure)."""
    import logging

    from loopml.project import Project

    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    with cli_errors(Console(stderr=True), "Interrupted; nothing was deleted."):
        result = Project(config).forget(column, value, dry_run=dry_run)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    else:
        print_forget(Console(), result)
