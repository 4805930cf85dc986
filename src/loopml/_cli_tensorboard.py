"""``loopml train --tensorboard DIR``: the option and the log, kept out of ``cli.py`` (which
takes two lines of it).

Parsing and printing only: :class:`loopml.modeling.TensorBoardLog` writes the event file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

TensorBoardOpt = typer.Option(
    None,
    "--tensorboard",
    metavar="DIR",
    resolve_path=True,  # relative to the current directory, as every path on the command line
    help="Write the search to DIR for TensorBoard (`tensorboard --logdir DIR`): each trial's "
    "score by family, the best so far, and the networks' validation loss per epoch. Needs "
    "loopml[neural].",
)


def tensorboard_log(directory: Path | None, console: Console | None) -> Callable[[Any], None]:
    """``log(result)``, which writes a training result's search into ``directory`` (nothing
    without the option) and says where on ``console`` (``None``: quiet, e.g. with ``--json``).
    The writer is made here, before training, so a missing package fails first."""
    if directory is None:
        return lambda result: None
    from loopml.modeling import TensorBoardLog

    board = TensorBoardLog(directory)

    def log(result: Any) -> None:
        board.write(result.leaderboard)
        if console is not None:
            where = escape(str(directory))
            console.print(f"TensorBoard log: {where} (open it with `tensorboard --logdir {where}`)")

    return log
