"""``loopml demo``: its own module, registered on the app by ``cli.py`` (one line there).

Parsing and printing only: :func:`loopml.demo.write_demo_project` and ``Project.run`` do
the first half (train, gate, register, batch-score); :class:`loopml.demo.DemoLoop` the
second (days of traffic through the real service, drift, monitoring, retraining).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml._cli_print import print_scoring, print_train
from loopml._cli_progress import cli_errors, training_progress

#: How to see the demo's story in a browser, printed at its end.
DASHBOARD = "loopml ui -c {config}   (then open http://127.0.0.1:8050 in a browser)"


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)


def demo(
    directory: Path = typer.Argument(
        Path("demo-project"), help="Where to write the demo.", resolve_path=True
    ),
    rows: int = typer.Option(20_000, "--rows", min=200, help="Customers to generate."),
    budget: float = typer.Option(60.0, "--budget", min=1, help="Training budget in seconds."),
    folds: int = typer.Option(5, "--folds", min=2, max=20, help="Cross-validation folds."),
    max_trials: int | None = typer.Option(
        None, "--max-trials", min=1, help="Stop after this many trials (reproducible runs)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing demo there."),
    loop: bool = typer.Option(
        True, "--loop/--no-loop", help="Go on after the first deployment: serve, drift, retrain."
    ),
    days: int = typer.Option(12, "--days", min=4, max=60, help="Days of traffic in the loop."),
    day_seconds: float = typer.Option(
        5.0, "--day-seconds", min=1, help="Real seconds in one demo day."
    ),
    rows_per_day: int = typer.Option(
        600, "--rows-per-day", min=50, help="Predictions asked for each demo day."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print machine-readable JSON instead of tables."
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens."),
) -> None:
    """Write the churn demo project into DIRECTORY and run the whole loop on it: train and
    deploy; then days of traffic through the real service with drift turned on midway and
    labels arriving late, monitoring, retraining and the promotion."""
    from loopml.demo import write_demo_project
    from loopml.project import Project

    out, err = Console(), Console(stderr=True)
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    with cli_errors(err, "Interrupted; the demo stopped (the service too)."):
        timeline = _timeline(days, day_seconds, rows_per_day)
        if not as_json:
            out.print(f"Writing the churn demo ({rows} customers) to {directory} …")
        config = write_demo_project(
            directory, rows=rows, budget_seconds=budget, cv_folds=folds,
            max_trials=max_trials, overwrite=overwrite, timeline=timeline,
        )  # fmt: skip
        project = Project(config)
        with training_progress(err, not as_json, budget) as progress:
            result = project.run(progress=progress)
        body = {"project": str(config), **result.to_dict()}
        if not as_json:
            _print_first_half(out, result, config)
        if loop and result.scoring is not None:  # a champion was deployed
            body["loop"] = _loop(out, err, project, timeline, as_json=as_json)
        elif loop and not as_json:
            out.print("No champion was deployed, so the loop does not run.")
        elif not as_json:
            out.print(f"  serve:  loopml serve -c {config}   (then POST /v1/predict, see /docs)")
            out.print(f"  dashboard:  {DASHBOARD.format(config=config)}", soft_wrap=True)
        if as_json:
            sys.stdout.write(json.dumps(body, indent=2, default=str) + "\n")


def _timeline(days: int, day_seconds: float, rows_per_day: int) -> Any:
    from loopml.demo import DemoTimeline
    from loopml.errors import ConfigError

    try:
        return DemoTimeline(days=days, day_seconds=day_seconds, rows_per_day=rows_per_day)
    except ValueError as exc:
        raise ConfigError(f"the demo's loop: {exc}") from None


def _print_first_half(out: Console, result: Any, config: Path) -> None:
    print_train(out, result.train)
    if result.scoring is not None:
        print_scoring(out, result.scoring)
    out.print(f"\n[bold]Deployed.[/] Project: {config}")
    out.print(f"  report: {result.train.report}")
    if result.scoring is not None:
        out.print(f"  scores: {result.scoring.output}")


def _loop(
    out: Console, err: Console, project: Any, timeline: Any, *, as_json: bool
) -> dict[str, Any]:
    """The loop, its news on stderr as it goes; its summary on stdout unless ``as_json``."""
    from loopml.demo import DemoLoop

    def say(line: str) -> None:
        if not as_json:
            err.print(escape(line), highlight=False, soft_wrap=True)

    budget = project.config.training.budget_seconds
    if not logging.getLogger().isEnabledFor(logging.INFO):  # the alarms are in the summary
        logging.getLogger("loopml.monitoring").setLevel(logging.ERROR)
    with training_progress(err, not as_json, budget) as progress:
        done = DemoLoop(project, timeline, say=say, progress=progress).run()
    if not as_json:
        print_loop(out, done, project.config_path)
    return dict(done.to_dict())


def print_loop(out: Console, done: Any, config: Path) -> None:
    """The loop day by day, the retraining decision, what the service serves now."""
    from loopml._cli_retrain import print_retrain
    from loopml.demo import summary_rows

    table = Table(title=f"The loop, day by day (one demo day = {done.timeline.day_seconds:g} s)")
    rows = summary_rows(done)
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "drifted" else "right")
    for row in rows:
        table.add_row(*(escape(v) for v in row.values()))
    out.print(table)
    print_retrain(out, done.decision)
    served = ", ".join(f"version {v}: {n}" for v, n in sorted(done.after.versions.items()))
    out.print(
        f"The service now serves version {done.live_version} ({served} predictions the day "
        f"after); failed requests: {len(done.failures)} of {done.requests}."
    )
    out.print(f"  timeline:   {done.report}", soft_wrap=True)
    out.print(f"  monitoring: {done.monitoring.html}", soft_wrap=True)
    out.print(f"  serve:      loopml serve -c {config}   (then POST /v1/predict, see /docs)")
    out.print(f"  dashboard:  {DASHBOARD.format(config=config)}", soft_wrap=True)
