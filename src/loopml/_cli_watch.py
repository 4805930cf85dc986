"""``loopml watch``: its own module, registered on the app by ``cli.py`` (one line there).

Parsing and printing only: :func:`loopml.loop.watch_project` builds the loop on the
project; here it gets the watch lock, SIGTERM and SIGINT are bound to :meth:`Watch.stop`,
and each cycle to a printed line. With ``--once`` the exit code is
``loopml monitor``'s (10 when the cycle found drift or decay, else 0), or 1 when a step
failed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from loopml._cli_progress import cli_errors
from loopml.errors import EXIT_DRIFT

if TYPE_CHECKING:
    from loopml.loop import Cycle, Watch


def register(app: typer.Typer) -> None:
    """Add ``watch`` to ``app``."""
    app.command("watch")(watch)


def watch(
    config: Path = typer.Option(Path("loopml.yaml"), "-c", "--config", help="The project file."),
    every: str = typer.Option(
        None,
        "--every",
        help="Time between cycles: 30m, 6h, 1d (retraining.watch_every, else monitoring.window).",
    ),
    once: bool = typer.Option(
        False, "--once", help="Run one cycle and exit (for cron): exit 10 on drift, like monitor."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print each cycle as a JSON line instead of text."
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Log what happens."),
) -> None:
    """Monitor the champion and apply the retraining policy on a schedule, next to a running
    service, until SIGTERM or Ctrl-C (a second one abandons a retraining under way). A failed
    step is logged and alerted, and the loop goes on; the champion only moves when a
    retraining completes. Each cycle is a line of .loopml/watch/cycles.jsonl."""
    from loopml.loop import hold_lock, watch_project
    from loopml.project import Project

    out, err = Console(), Console(stderr=True)
    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    with cli_errors(
        err, "Interrupted; the retraining under way was abandoned before it moved the champion."
    ):
        project = Project(config)
        loop = watch_project(project, every=every)
        with hold_lock(loop.state_dir / "watch.lock", "loopml watch"):
            if not as_json and not once:
                err.print(
                    f"Watching {escape(loop.project)}: a cycle every {_duration(loop.every)} "
                    f"(monitoring window {_duration(loop.window)}); stop with Ctrl-C or SIGTERM."
                )
            restore = _stop_on_signals(loop)
            try:
                last = loop.run(once=once, on_cycle=_printer(out, as_json, once))
            finally:
                restore()
        if not once and not as_json:
            err.print(f"Stopped after {loop.cycles} cycle(s); log: {loop.cycle_log}")
    if once and last is not None:
        if last.failed:
            raise typer.Exit(1)
        if last.drifted:
            raise typer.Exit(EXIT_DRIFT)


def _stop_on_signals(loop: Watch) -> Callable[[], None]:
    """SIGTERM and SIGINT stop ``loop`` between steps; a second one interrupts the step.
    Returns what puts the previous handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        if loop.stopping:
            raise KeyboardInterrupt
        loop.stop()

    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, handler) for s in signals}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def _printer(out: Console, as_json: bool, once: bool) -> Callable[[Cycle], None]:
    def show(cycle: Cycle) -> None:
        if as_json:
            body = json.dumps(cycle.to_dict(), indent=2 if once else None, default=str)
            sys.stdout.write(body + "\n")
            sys.stdout.flush()
            return
        style = "red" if cycle.failed else ("yellow" if cycle.drifted else "green")
        when = dt.datetime.fromtimestamp(cycle.started, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        out.print(f"[{style}]{when}[/] {escape(cycle.line())}", overflow="fold", soft_wrap=True)

    return show


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
