"""The CLI's progress bars (the search under its budget, rows scored) and its one way of
ending on a loopml error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from loopml.errors import LoopmlError, exit_code


@contextmanager
def cli_errors(err: Console, interrupted: str) -> Iterator[None]:
    """A loopml error ends the command with a one-paragraph message and its exit code (no
    traceback for a user's mistake); Ctrl-C prints ``interrupted`` and exits 130."""
    try:
        yield
    except LoopmlError as exc:
        err.print(
            f"[bold red]Error:[/] {type(exc).__name__}: {escape(str(exc))}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(exit_code(exc)) from None
    except KeyboardInterrupt:
        err.print(interrupted)
        raise typer.Exit(130) from None


@contextmanager
def training_progress(
    console: Console, enabled: bool, budget: float
) -> Iterator[Callable[[float, str], None] | None]:
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]searching[/]"),
        BarColumn(),
        TextColumn("{task.completed:>5.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    )
    task = progress.add_task("starting", total=budget)
    started = False

    def update(elapsed: float, message: str) -> None:
        nonlocal started
        if not started:  # shown from the first model on, not while data is being checked
            progress.start()
            started = True
        progress.update(task, completed=elapsed, description=message)

    try:
        yield update
    finally:
        if started:
            progress.stop()


def rows_in(path: Path) -> int | None:
    """Rows of a file to score, for the progress bar: Parquet's row count, or a CSV file's
    lines after the header (more than its rows if a quoted value spans lines)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        lines, last = 0, b"\n"
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                lines, last = lines + block.count(b"\n"), block[-1:]
        return max(lines - (last == b"\n"), 0)  # the header, or a last line with no newline
    except Exception:  # no total: the bar counts rows without one; scoring reports the error
        return None


@contextmanager
def scoring_progress(
    console: Console, enabled: bool, path: Path
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar of rows scored, on stderr, from the first chunk scored on."""
    if not enabled:
        yield None
        return
    total = rows_in(path)
    of_total = "" if total is None else f"/{total:,}"
    progress = Progress(
        TextColumn("[bold]scoring[/]"),
        BarColumn(),
        TextColumn(f"{{task.completed:>12,.0f}}{of_total} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("rows", total=total)

    def update(rows: int) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=rows)

    try:
        yield update
    finally:
        progress.stop()
