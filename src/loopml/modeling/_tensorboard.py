"""A search's trials as TensorBoard scalars, for teams who look there first.

:class:`TensorBoardLog` writes one event file into a directory with PyTorch's
``SummaryWriter`` (the ``[neural]`` extra):

* ``trials/<family>``: the cross-validated score (the search's metric) of each completed
  trial of that family, at the trial's number (one series per family, so the families compare
  on one chart; a chosen ensemble is the family ``ensemble``);
* ``trials/best``: the best score so far, after each trial;
* ``curves/<family>/trial_<n>/fold_<k>``: a network's validation loss after each epoch, on
  the fifth of the fold's training rows pytabkit holds out to pick the best epoch.

Point ``tensorboard --logdir DIR`` at the directory; a second run writes a second file next to
the first, which TensorBoard shows as a second run when each run has its own subdirectory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.errors import ConfigError
from loopml.modeling._leaderboard import Leaderboard

#: How the TensorBoard writer is installed.
TENSORBOARD_EXTRA = "pip install 'loopml[neural]'"


def _summary_writer() -> Any:
    """PyTorch's ``SummaryWriter`` class, or a :class:`~loopml.errors.ConfigError` saying how
    to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # ImportError: torch or tensorboard is missing, or broken
        raise ConfigError(
            "--tensorboard needs torch and tensorboard, which could not be imported "
            f"({type(exc).__name__}: {exc}). Install them with `{TENSORBOARD_EXTRA}`, "
            "or train without --tensorboard."
        ) from exc
    return SummaryWriter


class TensorBoardLog:
    """Writes searches into ``directory`` as TensorBoard event files.

    The writer is imported and the directory created when the log is made, so a missing
    package or an unwritable directory fails before any training starts.

    Raises
    ------
    ConfigError
        When torch or tensorboard is not installed, or ``directory`` cannot be created.
    """

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        writer = _summary_writer()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"--tensorboard {self.directory}: the directory cannot be created ({exc}). "
                "Give a directory you can write to."
            ) from exc
        self._writer_class = writer

    def write(self, leaderboard: Leaderboard) -> Path:
        """Write the trials of ``leaderboard`` as one event file; returns the directory."""
        writer = self._writer_class(log_dir=str(self.directory))
        try:
            self._write(writer, leaderboard)
        finally:
            writer.close()
        return self.directory

    @staticmethod
    def _write(writer: Any, leaderboard: Leaderboard) -> None:
        best: float | None = None
        bigger = leaderboard.greater_is_better
        for trial in sorted(leaderboard.trials, key=lambda t: t.number):
            for fold, curve in enumerate(trial.curves):
                tag = f"curves/{trial.family}/trial_{trial.number}/fold_{fold}"
                for epoch, loss in enumerate(curve, start=1):
                    writer.add_scalar(tag, loss, epoch)
            if trial.status != "ok" or not trial.fold_scores:
                continue
            writer.add_scalar(f"trials/{trial.family}", trial.mean, trial.number)
            if best is None or (trial.mean > best if bigger else trial.mean < best):
                best = trial.mean
            writer.add_scalar("trials/best", best, trial.number)
