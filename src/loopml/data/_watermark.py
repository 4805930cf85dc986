"""The incremental watermark: the largest value of ``data.incremental.column`` a run loaded,
kept in the workspace so the next incremental collect starts after it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd

from loopml.files import write_text_atomic


def read_watermark(path: Path, column: str) -> Any:
    """The watermark stored at ``path`` for ``column``; None before the first run or when the
    column changed since (then loading starts over)."""
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("column") != column:
        return None
    value = state.get("value")
    return pd.Timestamp(value) if state.get("kind") == "timestamp" else value


def write_watermark(path: Path, column: str, value: Any) -> None:
    """Store ``value`` as the watermark of ``column`` at ``path`` (atomically)."""
    kind = "timestamp" if isinstance(value, (pd.Timestamp, dt.datetime)) else "value"
    state = {
        "column": column,
        "kind": kind,
        "value": pd.Timestamp(value).isoformat() if kind == "timestamp" else value,
    }
    write_text_atomic(path, json.dumps(state, default=str))
