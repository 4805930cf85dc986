"""Sources into a :class:`DataSet`: files (CSV, Parquet, JSON, JSON lines, globs of many), SQL,
DuckDB and HTTP APIs, joined on keys and filtered to the rows newer than the last run.

:func:`collect` is the one entry point the stages use; :func:`load_source` loads a single source.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.config import DataConfig, DuckDbSource, FileSource, HttpSource, SqlSource
from loopml.data._dialect import NUMBER_OPTIONS, CsvDialect, check_columns, sniff_dialect
from loopml.data._incremental import native, newer_mask, watermark
from loopml.errors import DataError
from loopml.types import DataSet

log = logging.getLogger(__name__)

FILE_TYPES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".gz": "csv"}
AnySource = FileSource | SqlSource | DuckDbSource | HttpSource

#: Options of a JSON file source that loopml handles itself (the rest go to pandas.read_json).
_JSON_OPTIONS = ("encoding", "records_path")


def fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over column names, dtypes and every value (row order included)."""
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
    if len(frame):
        try:
            hashed = pd.util.hash_pandas_object(frame, index=False, categorize=True)
        except TypeError:  # nested values (lists, dicts from JSON) are not hashable
            hashed = pd.util.hash_pandas_object(hashable(frame), index=False, categorize=True)
        digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


_NESTED = (list, dict, set, tuple, np.ndarray)


def hashable(
    frame: pd.DataFrame, probe: int | None = None, to_text: Callable[[Any], str] | None = None
) -> pd.DataFrame:
    """``frame`` with nested cells (lists, dicts from JSON, sets, arrays) as text, so they can
    be hashed, counted and compared: canonical JSON by default, or ``to_text`` (e.g. ``str``
    to show them as Python writes them). ``probe`` looks only at that many values of each
    column to find the nested ones (fast on large frames); None looks at all."""
    convert = to_text or _as_json
    nested = [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c])
        and frame[c].dropna().iloc[:probe].map(lambda v: isinstance(v, _NESTED)).any()
    ]
    if not nested:
        return frame
    out = frame.copy(deep=False)
    for c in nested:
        out[c] = out[c].map(lambda v: convert(v) if isinstance(v, _NESTED) else v)
    return out


def _as_json(value: object) -> str:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, set):
        value = sorted(value, key=str)
    return json.dumps(value, sort_keys=True, default=str)


def resolve_paths(pattern: str, base_dir: Path, key: str = "data.source") -> list[Path]:
    """Files matching ``pattern`` (relative to ``base_dir``), sorted; an error if none."""
    full = Path(pattern) if Path(pattern).is_absolute() else base_dir / pattern
    if any(ch in pattern for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(str(full), recursive=True))
        paths = [p for p in paths if p.is_file()]
        if not paths:
            raise DataError(
                f"{key}.path {pattern!r} matches no file (looked in {full.parent}). "
                "Check the pattern, or point it at existing files."
            )
        return paths
    if not full.is_file():
        hint = "it is a directory; use a glob like 'dir/*.csv'" if full.is_dir() else "no such file"
        raise DataError(
            f"data file {full} not found ({hint}). Fix {key}.path in loopml.yaml "
            "or put the file there."
        )
    return [full]


def read_file(
    path: Path,
    kind: str,
    options: dict[str, Any] | None = None,
    key: str = "data.source",
    *,
    dialect: CsvDialect | None = None,
    fallback: CsvDialect | None = None,
    where: str | None = None,
) -> pd.DataFrame:
    """Read one CSV, Parquet, JSON or JSON-lines file, library errors as :class:`DataError`.

    A CSV file is read in ``dialect`` when given, else in the one :func:`sniff_dialect` finds
    from ``options`` and the file (``fallback`` where the file does not decide), so
    ``4,0288`` in a ``;``-separated file is 4.0288 and ``$20,000`` is 20000. ``where`` says
    where the separator and decimal mark are declared, for messages (default:
    ``{key}.options``; ``init`` for its flags).
    """
    options = dict(options or {})
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty (0 bytes). It needs a header row and data.")
    if kind in ("json", "jsonl"):
        return _read_json(path, kind, options, key)
    declare = where or f"{key}.options"
    where = f"{key}.options"
    try:
        if kind == "csv":
            if dialect is None:
                dialect = sniff_dialect(path, options, fallback=fallback, where=declare)
            frame = dialect.read(path)
            check_columns([str(c) for c in frame.columns], dialect, path, declare)
        elif kind == "parquet":
            frame = pd.read_parquet(path, **_without_number_options(options))
        else:
            raise DataError(
                f"unsupported file type {kind!r} for {path}; use csv, parquet, json or jsonl"
            )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file {path} has no columns: it is empty or blank.") from exc
    except pd.errors.ParserError as exc:
        raise DataError(
            f"data file {path} is not valid CSV: {exc}. Fix that row (every row needs as many "
            f"fields as the header), or set {where} (e.g. sep, quotechar, or "
            "on_bad_lines: skip to drop malformed rows)."
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path} is not UTF-8 ({_decode_problem(path, exc)}). Re-save it as "
            f"UTF-8, or set {where}.encoding (e.g. latin-1)."
        ) from exc
    except TypeError as exc:
        raise DataError(
            f"{where} {sorted(options)} are not valid for reading {kind} files: "
            f"{exc}. Remove or fix the option."
        ) from exc
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read {kind} file {path}: {exc}. Re-export the file, or check that "
            f"{key}.path and {key}.type match it."
        ) from exc
    return frame


def _without_number_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in NUMBER_OPTIONS}


def _decode_problem(path: Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 sits in the file (pandas reports its buffer)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as real:
        data = real.object
        line = data.count(b"\n", 0, real.start) + 1
        return f"byte 0x{data[real.start]:02x} at offset {real.start}, line {line}"
    return exc.reason


# --------------------------------------------------------------------------------------------
# JSON and JSON lines


def _read_json(path: Path, kind: str, options: dict[str, Any], key: str) -> pd.DataFrame:
    """A JSON file holding a list of records (or any layout pandas reads), or JSON lines.

    Records are flattened: ``{"a": {"b": 1}}`` becomes a column ``a.b``. Options other than
    ``encoding`` and ``records_path`` (JSON only, a dotted path to the list) go to
    :func:`pandas.read_json`, e.g. ``orient``.
    """
    encoding = options.pop("encoding", "utf-8")
    records_path = options.pop("records_path", "")
    text = _decoded(path, encoding, key)
    if not text.strip():
        return pd.DataFrame()  # no records; a source of only such files is an error
    if kind == "jsonl":
        if options:
            return _pandas_json(path, text, {"lines": True, **options}, key)
        return _records_frame(_parse_lines(path, text), path)
    if options:
        return _pandas_json(path, text, options, key)
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"data file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}. Fix the file; for one record per line use type jsonl."
        ) from exc
    if records_path:
        found = dig(body, records_path)
        if found is MISSING:
            raise DataError(
                f"data file {path} has no {records_path!r} ({key}.options.records_path); "
                f"its top-level keys are {_keys(body)}."
            )
        body = found
    if isinstance(body, list):
        return _records_frame(body, path)
    if isinstance(body, dict):
        nested = [
            k for k, v in body.items() if isinstance(v, list) and v and isinstance(v[0], dict)
        ]
        if nested:
            raise DataError(
                f"data file {path} holds a JSON object, not a list of records; its key "
                f"{nested[0]!r} holds a list of objects. Set {key}.options.records_path: "
                f"{nested[0]} to read them."
            )
        # a layout pandas knows: {"column": {"row": value}}, ...
        return _pandas_json(path, text if not records_path else json.dumps(body), {}, key)
    raise DataError(
        f"data file {path} holds a single JSON {type(body).__name__}, not records. It needs a "
        'list of objects, e.g. [{"x": 1}, {"x": 2}].'
    )


def _decoded(path: Path, encoding: str, key: str) -> str:
    """The text of ``path`` in ``encoding``; a DataError saying how to fix a wrong encoding."""
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path} is not {encoding} ({_decode_problem(path, exc)}). Re-save it as "
            f"UTF-8, or set {key}.options.encoding (e.g. latin-1)."
        ) from exc
    except LookupError as exc:
        raise DataError(
            f"{key}.options.encoding {encoding!r} is not a known encoding: {exc}."
        ) from exc


def _parse_lines(path: Path, text: str) -> list[Any]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"data file {path} is not valid JSON lines: line {number}, column {exc.colno}: "
                f"{exc.msg}. Each line must hold one JSON object; fix or remove that line."
            ) from exc
    return records


def _pandas_json(path: Path, text: str, options: dict[str, Any], key: str) -> pd.DataFrame:
    try:
        return pd.read_json(io.StringIO(text), **options)
    except TypeError as exc:
        raise DataError(
            f"{key}.options {sorted(options)} are not valid for pandas.read_json: "
            f"{exc}. Remove or fix the option."
        ) from exc
    except ValueError as exc:
        raise DataError(
            f"data file {path} cannot be read as a table: {exc}. Give a list of records, "
            f"or set {key}.options.orient to the file's layout."
        ) from exc


def records_frame(records: list[Any], where: str) -> pd.DataFrame:
    """A frame from JSON records (objects), nested objects flattened to ``a.b`` columns."""
    bad = next(((i, r) for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        i, record = bad
        raise DataError(
            f"{where}: record {i + 1} is a JSON {type(record).__name__} ({_short(record)}), "
            'not an object. Every record must be an object like {"x": 1}.'
        )
    if not records:
        return pd.DataFrame()
    return pd.json_normalize(records)


def _records_frame(records: list[Any], path: Path) -> pd.DataFrame:
    return records_frame(records, f"data file {path}")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def dig(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` ("data.items", "links.next", "results.0") or MISSING."""
    value = body
    for part in (p for p in path.split(".") if p) if path else ():
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _keys(body: Any) -> list[str]:
    return sorted(map(str, body)) if isinstance(body, dict) else []


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# files


def load_files(source: FileSource, base_dir: Path, key: str = "data.source") -> DataSet:
    """Load every file the source names and stack them in path order.

    CSV files are read in the dialect of the first one where their own values do not decide.
    """
    paths = resolve_paths(source.path, base_dir, key)
    first_dialect = source_dialect(source, base_dir, key, paths=paths)
    frames = [
        read_file(
            p,
            source.type,
            source.options,
            key,
            dialect=first_dialect if i == 0 else None,
            fallback=first_dialect,
        )
        for i, p in enumerate(paths)
    ]
    if source.type in ("json", "jsonl") and len(frames) > 1:
        # a file holding no records ("[]") adds nothing and has no columns to compare
        kept = [(p, f) for p, f in zip(paths, frames, strict=True) if f.shape != (0, 0)]
        if kept:
            paths, frames = [p for p, _ in kept], [f for _, f in kept]
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
    where = paths[0] if len(paths) == 1 else source.path
    if frame.shape == (0, 0) and source.type in ("json", "jsonl"):
        raise DataError(f"data file {where} holds no records. Add records.")
    if frame.shape[1] == 0:
        raise DataError(f"{source.path}: no columns were read.")
    if len(frame) == 0:
        raise DataError(f"data file {where} has a header but no rows. Add data rows.")
    origin = f"{source.type}:{source.path}"
    log.info("loaded %d rows x %d columns from %s", len(frame), frame.shape[1], origin)
    return DataSet(frame=frame, fingerprint=fingerprint(frame), origin=origin)


def source_dialect(
    source: FileSource, base_dir: Path, key: str = "data.source", paths: list[Path] | None = None
) -> CsvDialect | None:
    """The dialect of a CSV source's (first) file, declared or sniffed; None for other types.

    Training records it with the model, so files scored later are read the same way.
    """
    if source.type != "csv":
        return None
    paths = paths if paths is not None else resolve_paths(source.path, base_dir, key)
    if paths[0].stat().st_size == 0:
        return None  # read_file says the file is empty
    return sniff_dialect(paths[0], source.options, where=f"{key}.options")


def read_header(
    path: Path, dialect: CsvDialect | None = None, where: str = "scoring.options"
) -> list[str]:
    """Column names of a CSV (read in ``dialect``) or Parquet file without reading its rows."""
    kind = file_kind(path)
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes). It needs a header row and data.")
    try:
        if kind == "parquet":
            return list(pq.read_schema(path).names)
        dialect = dialect or CsvDialect()
        columns = dialect.header(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path} has no header row.") from exc
    except (pa.ArrowException, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    check_columns(columns, dialect, path, where)
    return columns


def file_kind(path: Path) -> str:
    """'csv' or 'parquet' from the file name."""
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in (".csv", ".parquet", ".pq"):
            return FILE_TYPES[suffix]
    raise DataError(f"{path}: cannot tell the format from the name; use a .csv or .parquet file.")


# --------------------------------------------------------------------------------------------
# the dispatcher


def load_source(
    source: AnySource,
    base_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    key: str = "data.source",
    sleep: Callable[[float], None] = time.sleep,
) -> DataSet:
    """Load one source (paths relative to ``base_dir``) into a :class:`DataSet`.

    Parameters
    ----------
    source
        A file, SQL, DuckDB or HTTP source from the project file.
    base_dir
        The project directory; relative file paths and SQLite databases resolve against it.
    env
        Environment variables the source names (credentials, headers). Only this mapping is
        read, never ``os.environ``.
    key
        Where the source sits in ``loopml.yaml``, for error messages.
    sleep
        Waits between HTTP retries (tests pass a no-op).

    Raises
    ------
    DataError
        When the source cannot be read or holds no rows; the message names the source and
        the fix.
    """
    return _load(source, base_dir, env=env or {}, key=key, sleep=sleep, newer_than=None)


def _load(
    source: AnySource,
    base_dir: Path,
    *,
    env: Mapping[str, str],
    key: str,
    sleep: Callable[[float], None],
    newer_than: tuple[str, Any] | None,
) -> DataSet:
    # the SQL, DuckDB and HTTP modules import fingerprint and the JSON helpers from here, so
    # they are imported when first used (this also keeps `import loopml` light)
    if isinstance(source, FileSource):
        data = load_files(source, base_dir, key)
    elif isinstance(source, SqlSource):
        from loopml.data._sql import load_sql

        data = load_sql(source, base_dir, env=env, key=key, newer_than=newer_than)
    elif isinstance(source, DuckDbSource):
        from loopml.data._duckdb import load_duckdb

        data = load_duckdb(source, base_dir, key=key, newer_than=newer_than)
    elif isinstance(source, HttpSource):
        from loopml.data._http import load_http

        data = load_http(source, env=env, key=key, sleep=sleep)
    else:  # pragma: no cover - guarded by config validation
        raise DataError(f"{key}: unsupported source type {type(source).__name__}")
    if len(data.frame) == 0 and newer_than is None:
        raise DataError(
            f"{data.origin} returned no rows ({key}). Check the table, query or filters it reads."
        )
    return data


def collect(
    cfg: DataConfig,
    base_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    since: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DataSet:
    """Load ``cfg.source``, apply ``cfg.joins`` in order, keep the rows newer than ``since``.

    Parameters
    ----------
    cfg
        The ``data`` section of the project file.
    base_dir
        The project directory; relative paths resolve against it.
    env
        Environment variables named in the config (credentials, headers); the caller passes
        ``os.environ``. Nothing else is read.
    since
        With ``cfg.incremental``: the watermark of the last successful run. Only rows whose
        ``cfg.incremental.column`` is greater are kept; SQL and DuckDB sources filter in the
        query with a bound parameter. ``None`` loads everything.
    sleep
        Waits between HTTP retries.

    Returns
    -------
    DataSet
        With ``watermark`` the largest value of the incremental column among the rows
        returned (``since`` again when no row is newer; ``None`` without incremental config).

    Raises
    ------
    DataError
        With the source, the config key and what to do.
    """
    env = env or {}
    column = cfg.incremental.column if cfg.incremental else None
    since = native(since)
    pushed = (
        column is not None
        and since is not None
        and isinstance(cfg.source, SqlSource | DuckDbSource)
    )
    data = _load(
        cfg.source,
        base_dir,
        env=env,
        key="data.source",
        sleep=sleep,
        newer_than=(column, since) if pushed and column is not None else None,
    )
    if cfg.joins:
        from loopml.data._join import join_sources

        for i, join in enumerate(cfg.joins):
            key = f"data.joins[{i}]"
            right = _load(
                join.source, base_dir, env=env, key=f"{key}.source", sleep=sleep, newer_than=None
            )
            data = join_sources(data, right, join, key=key)
    if column is None:
        return data
    frame = data.frame
    if column not in frame.columns:
        raise DataError(
            f"data.incremental.column {column!r} is not a column of {data.origin} "
            f"(columns: {', '.join(map(str, frame.columns))}). Fix data.incremental.column."
        )
    if since is not None and not pushed:
        before = len(frame)
        frame = frame.loc[newer_mask(frame[column], since, origin=data.origin)].reset_index(
            drop=True
        )
        log.info("incremental: %d of %d rows are newer than %r", len(frame), before, since)
    mark = watermark(frame[column])
    if mark is None:
        mark = since
    return DataSet(
        frame=frame,
        fingerprint=fingerprint(frame) if frame is not data.frame else data.fingerprint,
        origin=data.origin if since is None else f"{data.origin} where {column} > {since}",
        watermark=mark,
    )
