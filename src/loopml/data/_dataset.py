"""Datasets given as many Parquet files: a directory (read recursively) or a glob."""

from __future__ import annotations

import glob
from pathlib import Path

from loopml.errors import DataError

_GLOB_CHARS = "*?["


def is_dataset(path: str | Path) -> bool:
    """Whether ``path`` names a dataset (a directory, or a glob) rather than one file."""
    return Path(path).is_dir() or any(c in str(path) for c in _GLOB_CHARS)


def dataset_files(path: str | Path) -> list[Path]:
    """The Parquet files of a dataset, sorted by path: every ``*.parquet`` under a directory
    (recursively), or the files a glob matches.

    Raises
    ------
    DataError
        Nothing matches, or a match is not a Parquet file.
    """
    text = str(path)
    if Path(text).is_dir():
        files = sorted(p for p in Path(text).rglob("*.parquet") if p.is_file())
        where = f"directory {text}"
    else:
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        where = f"pattern {text}"
    if not files:
        raise DataError(
            f"no Parquet file in {where}; give a directory of .parquet files or a glob."
        )
    other = [p for p in files if p.suffix.lower() != ".parquet"]
    if other:
        raise DataError(
            f"{other[0]} (matched by {where}) is not a .parquet file: a dataset is scored from "
            "Parquet files only; narrow the glob, or score CSV files one by one."
        )
    return files
