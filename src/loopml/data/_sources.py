"""File sources: CSV and Parquet, one file or a glob of many, into a :class:`DataSet`."""

from __future__ import annotations

import glob
import hashlib
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.config import DataConfig, FileSource
from loopml.errors import DataError
from loopml.types import DataSet

log = logging.getLogger(__name__)

FILE_TYPES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".gz": "csv"}


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and every value (row order included)."""
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
    if len(frame):
        hashed = pd.util.hash_pandas_object(frame, index=False, categorize=True)
        digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def resolve_paths(pattern: str, base_dir: Path) -> list[Path]:
    """Files matching ``pattern`` (relative to ``base_dir``), sorted; an error if none."""
    full = Path(pattern) if Path(pattern).is_absolute() else base_dir / pattern
    if any(ch in pattern for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(str(full), recursive=True))
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise DataError(
                f"data.source.path {pattern!r} matches no file (looked in {full.parent}). "
                "Check the pattern, or point it at existing files."
            )
        return paths
    if not full.is_file():
        hint = "it is a directory; use a glob like 'dir/*.csv'" if full.is_dir() else "no such file"
        raise DataError(
            f"data file {full} not found ({hint}). Fix data.source.path in loopml.yaml "
            "or put the file there."
        )
    return [full]


def read_file(path: Path, kind: str, options: dict | None = None) -> pd.DataFrame:
    """Read one CSV or Parquet file, turning library errors into :class:`DataError`."""
    options = dict(options or {})
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes). It needs a header row and data.")
    try:
        if kind == "csv":
            frame = pd.read_csv(path, **options)
        elif kind == "parquet":
            frame = pd.read_parquet(path, **options)
        else:  # pragma: no cover - guarded by config validation
            raise DataError(f"unsupported file type {kind!r} for {path}")
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file {path} has no columns: it is empty or blank.") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"data file {path} is not valid CSV: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path} is not UTF-8 ({_decode_problem(path, exc)}). Re-save it as "
            "UTF-8, or set data.source.options.encoding (e.g. latin-1)."
        ) from exc
    except TypeError as exc:
        raise DataError(
            f"data.source.options {sorted(options)} are not valid for reading {kind} files: "
            f"{exc}. Remove or fix the option."
        ) from exc
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read {kind} file {path}: {exc}") from exc
    return frame


def _decode_problem(path: Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 sits in the file (pandas reports its buffer)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as real:
        data = real.object
        line = data.count(b"\n", 0, real.start) + 1
        return f"byte 0x{data[real.start]:02x} at offset {real.start}, line {line}"
    return exc.reason


def load_files(source: FileSource, base_dir: Path) -> DataSet:
    """Load every file the source names and stack them in path order."""
    paths = resolve_paths(source.path, base_dir)
    frames = [read_file(p, source.type, source.options) for p in paths]
    if len(frames) > 1:
        first = list(frames[0].columns)
        for i, (p, f) in enumerate(zip(paths[1:], frames[1:], strict=True), start=1):
            if set(f.columns) == set(first):
                frames[i] = f[first]  # same columns in another order: align by name
                continue
            if list(f.columns) != first:
                missing = sorted(set(first) - set(f.columns))
                extra = sorted(set(f.columns) - set(first))
                raise DataError(
                    f"{p} has different columns than {paths[0]} "
                    f"(missing {missing}, extra {extra}). "
                    "All files of one source must share a header."
                )
        frame = pd.concat(frames, ignore_index=True)
    else:
        frame = frames[0]
    if frame.shape[1] == 0:
        raise DataError(f"{source.path}: no columns were read.")
    if len(frame) == 0:
        raise DataError(
            f"data file {paths[0] if len(paths) == 1 else source.path} has a header but no rows. "
            "Add data rows."
        )
    origin = f"{source.type}:{source.path}"
    log.info("loaded %d rows x %d columns from %s", len(frame), frame.shape[1], origin)
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


def read_header(path: Path) -> list[str]:
    """Column names of a CSV or Parquet file without reading its rows."""
    kind = file_kind(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes). It needs a header row and data.")
    try:
        if kind == "parquet":
            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} has no header row.") from exc
    except (pa.ArrowException, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def file_kind(path: Path) -> str:
    """'csv' or 'parquet' from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in (".csv", ".parquet", ".pq"):
            return FILE_TYPES[suffix]
    raise DataError(f"{path}: cannot tell the format from the name; use a .csv or .parquet file.")


def collect(cfg: DataConfig, base_dir: Path) -> DataSet:
    """Load the configured source (paths relative to ``base_dir``) into a :class:`DataSet`."""
    return load_files(cfg.source, base_dir)
