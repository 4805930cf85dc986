"""Batch scoring of CSV and Parquet files in chunks, so memory stays flat for any file size."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:  # Parquet support loads when a Parquet file is read or written
    import pyarrow.parquet as pq

from loopml.data import CsvDialect, file_kind, read_header
from loopml.errors import DataError
from loopml.registry import ModelBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoringSummary:
    """What a batch scoring run did, including the input problems it scored through."""

    input: str
    output: str
    rows: int
    chunks: int
    seconds: float
    model_version: str
    issues: dict[str, dict[str, int]] = field(default_factory=dict)
    prediction_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "rows": self.rows,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "model_version": self.model_version,
            "issues": self.issues,
            "prediction_counts": self.prediction_counts,
        }


def _chunks(path: Path, kind: str, chunk_rows: int, dialect: CsvDialect) -> Iterator[pd.DataFrame]:
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            reader = pq.ParquetFile(path)
            for batch in reader.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        else:
            yield from dialect.chunks(path, chunk_rows)
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path}: {exc}. Fix the file and retry.") from exc


def score_file(
    bundle: ModelBundle,
    input_path: Path,
    output_path: Path,
    *,
    model_version: str = "",
    chunk_rows: int = 50_000,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    dialect: CsvDialect | None = None,
) -> ScoringSummary:
    """Score ``input_path`` into ``output_path`` (CSV or Parquet, by extension).

    Id columns the model was trained with are copied to the output when present. The output
    appears only when every chunk was scored (written to a temporary file, then renamed).
    ``transform`` is applied to each chunk first (the privacy policy the model was trained
    under, so personal data is dropped or hashed before scoring and in the output).
    ``dialect`` is how a CSV input is written (separator, decimal mark, thousands separator;
    default: comma, dot, comma).

    Raises
    ------
    DataError
        The input is missing, unreadable, or lacks a column the model needs (checked before
        any output is written).
    """
    started = time.monotonic()
    if not input_path.is_file():
        raise DataError(f"input file {input_path} not found.")
    in_kind = file_kind(input_path)
    out_kind = file_kind(output_path)
    dialect = dialect or CsvDialect()
    columns = read_header(input_path, dialect)
    bundle.schema.check(columns, where=f"input file {input_path}")
    keep = [c for c in bundle.id_columns if c in columns]

    tmp = _temporary_path(output_path)
    writer = _ChunkWriter(tmp, out_kind)
    rows = 0
    issues: dict[str, dict[str, int]] = {}
    counts: dict[str, int] = {}
    try:
        for chunk in _chunks(input_path, in_kind, chunk_rows, dialect):
            if chunk.empty:
                continue
            if transform is not None:
                chunk = transform(chunk)
            scored = bundle.predict_frame(chunk)
            _tally(bundle, chunk, scored, issues, counts)
            writer.write(
                pd.concat(
                    [chunk[keep].reset_index(drop=True), scored.reset_index(drop=True)], axis=1
                )
            )
            rows += len(chunk)
            if progress is not None:
                progress(rows)
        writer.close()
        if writer.chunks == 0:
            raise DataError(f"input file {input_path} has a header but no rows to score.")
        os.replace(tmp, output_path)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    chunks = writer.chunks
    return ScoringSummary(
        input=str(input_path),
        output=str(output_path),
        rows=rows,
        chunks=chunks,
        seconds=time.monotonic() - started,
        model_version=model_version,
        issues=issues,
        prediction_counts=counts,
    )


def _temporary_path(output_path: Path) -> Path:
    """An empty temporary file next to ``output_path``, renamed onto it when scoring succeeds."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=output_path.parent, prefix=f".{output_path.name}.", suffix=".part"
    )
    os.close(fd)
    return Path(tmp_name)


def _tally(
    bundle: ModelBundle,
    chunk: pd.DataFrame,
    scored: pd.DataFrame,
    issues: dict[str, dict[str, int]],
    counts: dict[str, int],
) -> None:
    """Add one chunk's input problems and (for classification) predicted labels to the totals."""
    for col, found in bundle.schema.inspect(chunk).items():
        slot = issues.setdefault(col, {})
        for key, n in found.items():
            slot[key] = slot.get(key, 0) + n
    if bundle.problem.is_classification:
        for label, n in scored["prediction"].astype(str).value_counts().items():
            counts[str(label)] = counts.get(str(label), 0) + int(n)


class _ChunkWriter:
    """Appends scored chunks to one CSV or Parquet file; ``chunks`` counts those written."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.chunks = 0
        self._parquet: pq.ParquetWriter | None = None

    def write(self, out: pd.DataFrame) -> None:
        if self.kind == "parquet":
            table = pa.Table.from_pandas(out, preserve_index=False)
            if self._parquet is None:
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        else:
            out.to_csv(self.path, mode="a", header=self.chunks == 0, index=False)
        self.chunks += 1

    def close(self) -> None:
        """Finish the Parquet file; safe to call twice."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
