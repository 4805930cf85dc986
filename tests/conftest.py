"""Shared test set-up: quiet third-party loggers, and where test artifacts go."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
for _name in ("mlflow", "alembic", "optuna"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """A directory kept after the run (screenshots, reports) for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
