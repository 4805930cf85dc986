"""``loopml monitor``: its own module, registered on the app by ``cli.py`` (one line there).

Parsing and printing only: :meth:`loopml.project.Project.monitor` does the work. The exit
code says what was found: 0 no alarm, :data:`loopml.monitoring.EXIT_DRIFT` (10) drift or
decay in some window, and the usual error codes for a user's mistake.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loopml._cli_print import _number, _text
from loopml._cli_progress import cli_errors
from loopml._display import fmt_metric
from loopml.errors import EXIT_DRIFT


def register(app: typer.Typer) -> None:
    """Add ``monitor`` to ``app``."""
    app.command("monitor")(monitor)


def monitor(
    config: Path = typer.Option(Path("loopml.yaml"), "-c", "--config", help="The project file."),
    model: str = typer.Option("champion", "--model", help="An alias or a version number."),
    since: str = typer.Option(
        None,
        "--since",
        help="Start: an ISO date or time (UTC unless it says), or a duration ago such as 7d. "
        "Default: the model's first logged prediction.",
    ),
    until: str = typer.Option(
        None, "--until", help="End, in the same forms as --since. Default: now."
    ),
    window: str = typer.Option(
        None, "--window", help="Length of each window: 30m, 6h, 1d, 2w (monitoring.window)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the DriftReport as JSON instead of tables."
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens."),
) -> None:
    """Test each window of the model's logged traffic against its training reference:
    feature, prediction and data-quality drift, performance on late labels and estimated
    before them. Writes the HTML report and the service's gauges, sends alerts. Exit 10
    when a window drifted or decayed, 0 when none did."""
    import json
    import sys

    from loopml.project import Project

    out, err = Console(), Console(stderr=True)
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    with cli_errors(err, "Interrupted; no report was written."):
        result = Project(config).monitor(model=model, since=since, until=until, window=window)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
    else:
        print_monitoring(out, result)
    if result.report.drifted:
        raise typer.Exit(EXIT_DRIFT)


def _when(seconds: float, span: float) -> str:
    shown = "%Y-%m-%d" if span >= 86400 and seconds % 86400 == 0 else "%Y-%m-%d %H:%M"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime(shown)


def _performance(found: Any) -> str:
    if found is None or found.value is None:
        return "—"
    return f"{fmt_metric(found.value)} ({fmt_metric(found.low)}–{fmt_metric(found.high)})"


def print_monitoring(out: Console, result: Any) -> None:
    """One line per window (rows, labels, drifted features, performance), then the alarms,
    the verdict and where the report went."""
    report = result.report
    title = f"{report.model_name} version {report.model_version}: monitoring (UTC)"
    if not report.windows:
        out.print(f"{escape(title)}: no traffic in the period.")
    else:
        table = Table(title=title)
        _text(table, "window")
        _number(table, "rows")
        _number(table, "labelled")
        _text(table, "drifted")
        _text(table, "realised")
        _text(table, "estimated")
        for w in report.windows:
            drifted = [f.name for f in w.features if f.drifted]
            if w.prediction_drift is not None and w.prediction_drift.drifted:
                drifted.append("(prediction)")
            table.add_row(
                _when(w.start, report.window_seconds),
                str(w.rows),
                str(w.labelled),
                escape(", ".join(drifted)) or "—",
                _performance(w.performance),
                _performance(w.estimated_performance),
            )
        out.print(table)
    _print_comparison(out, report.comparison)
    alarms = [(w, a) for w in report.windows for a in w.alarms]
    for w, alarm in alarms:
        out.print(
            f"[yellow]{_when(w.start, report.window_seconds)}[/]: {escape(alarm)}", overflow="fold"
        )
    if alarms:
        sent = result.alerts
        where = (
            f"; sent to {sent.webhook}"
            if sent.delivered
            else (f"; the webhook failed: {escape(sent.error)}" if sent.error else "")
        )
        out.print(f"[bold yellow]Drift or decay found[/] in {len(alarms)} alarm(s){where}.")
    else:
        out.print("[green]No alarm[/]: no window drifted or decayed.")
    out.print(f"Report: {result.html}", overflow="fold", soft_wrap=True)


def _print_comparison(out: Console, found: Any) -> None:
    """Champion against challenger on the online comparison's labelled traffic."""
    if found is None:
        return
    mode = "shadow, paired" if found.mode == "shadow" else "A/B, two samples"
    colour = ("green" if found.favours_challenger else "red") if found.significant else "default"
    out.print(
        f"Champion vs challenger ({mode}): champion {escape(found.champion_version)} "
        f"{_performance(found.champion)}, challenger {escape(found.challenger_version)} "
        f"{_performance(found.challenger)}",
        overflow="fold",
    )
    out.print(f"  [{colour}]{escape(found.describe())}[/]", overflow="fold")
