"""``loopml ui``: its own module, registered on the app by ``cli.py`` (one line there)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from loopml._cli_progress import cli_errors


def register(app: typer.Typer) -> None:
    """Add ``ui`` to ``app``."""
    app.command("ui")(ui)


def ui(
    config: Path = typer.Option(Path("loopml.yaml"), "-c", "--config", help="The project file."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (beyond this machine: needs the key)."
    ),
    port: int = typer.Option(8050, "--port", min=0, max=65535, help="Port."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens."),
) -> None:
    """The dashboard: runs, model versions, data, monitoring and retraining in a browser.
    Read-only; promoting needs the API key (serving.api_key_env), as for the service."""
    from loopml.project import Project
    from loopml.ui import dashboard_key, serve_ui

    out, err = Console(), Console(stderr=True)
    with cli_errors(err, "Stopped."):
        project = Project(config)
        key = "with the API key for promotions" if dashboard_key(project) else "read-only"
        shown = f"[{host}]" if ":" in host else host
        out.print(
            f"The dashboard of {project.config.name} ({key}): http://{shown}:{port}  "
            "(open it in a browser; Ctrl-C stops)",
            soft_wrap=True,
        )
        serve_ui(project, host=host, port=port)
