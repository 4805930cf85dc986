"""``loopml retrain``: its own module, registered on the app by ``cli.py`` (one line there),
so commands added to ``cli.py`` side by side do not collide and ``cli.py`` stays small.

Parsing and printing only, like ``cli.py``: :meth:`loopml.project.Project.retrain` decides.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml._cli_print import _number, _text
from loopml._cli_progress import cli_errors, training_progress
from loopml._display import fmt_metric


def register(app: typer.Typer) -> None:
    """Add ``retrain`` to ``app``."""
    app.command("retrain")(retrain)


def retrain(
    config: Path = typer.Option(Path("loopml.yaml"), "-c", "--config", help="The project file."),
    force: bool = typer.Option(False, "--force", help="Retrain whatever the policy says."),
    as_json: bool = typer.Option(
        False, "--json", help="Print machine-readable JSON instead of tables."
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens."),
) -> None:
    """Apply retraining: train a challenger on sources plus labelled traffic; promote it only
    if a paired test on the latest labelled traffic finds it better (exit 0 either way)."""
    import json
    import sys

    from loopml.project import Project

    out, err = Console(), Console(stderr=True)
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    with cli_errors(err, "Interrupted; the champion was not moved."):
        project = Project(config)
        budget = project.config.training.budget_seconds
        with training_progress(err, not as_json, budget) as progress:
            decision = project.retrain(progress, force=force)
        if as_json:
            sys.stdout.write(json.dumps(decision.to_dict(), indent=2, default=str) + "\n")
        else:
            print_retrain(out, decision)


def print_retrain(out: Console, decision: Any) -> None:
    """Why it retrained (or not), the two models on the common holdout, the verdict."""
    if not decision.triggered:  # one line: nothing was trained
        out.print(f"No retraining: {escape(decision.trigger)}.", overflow="fold")
        return
    out.print(f"Trigger: {escape(decision.trigger)}", overflow="fold")
    if decision.challenger_version is None:
        out.print(f"Nothing trained: {escape(decision.reason)}.", overflow="fold")
        return
    out.print(
        f"Trained version {decision.challenger_version} on {decision.rows_sources} source rows "
        f"and {decision.rows_logged} labelled logged rows."
    )
    test = decision.test
    if test is not None:
        table = Table(title=f"On the latest {test.n_rows} labelled rows (never trained on)")
        _text(table, "model")
        _number(table, test.metric)
        table.add_row(f"champion (version {decision.champion_version})", fmt_metric(test.champion))
        table.add_row(
            f"challenger (version {decision.challenger_version})", fmt_metric(test.challenger)
        )
        out.print(table)
        out.print(
            f"Difference {test.difference:+.4f}, {1 - test.alpha:.0%} CI {test.low:+.4f} to "
            f"{test.high:+.4f}, p = {test.p_value:.4g} ({test.test})."
        )
    style = "green" if decision.promoted else "yellow"
    verdict = "Promoted to champion" if decision.promoted else "Not promoted (stays challenger)"
    out.print(f"[{style}]{verdict}[/]: {escape(decision.reason)}.", overflow="fold")
    if decision.report:
        out.print(f"Decision: {decision.report}", overflow="fold")
